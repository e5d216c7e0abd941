"""Run one shell command in its own process group, spooling its output to files.

Output goes straight from the command's file descriptors to spool files under
the temp dir, never through a pipe or into memory. That keeps the handler's
memory flat whatever the output size, and it means the handler returns as soon
as the shell exits, even when a background child still holds stdout open.
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .full_screen import FullScreenWatch
from .request import InvalidRequest, env_entry_bytes
from .shell_state import WRAPPER, ShellState, StateChannel

# A command longer than this is run from a file in the spool, well under the kernel's 128 KiB per argument.
ARGV_COMMAND_MAX_CHARACTERS = 64 * 1024


@dataclass(frozen=True)
class CommandResult:
    """What happened to one command. Its output is in the two spool files."""

    stdout_path: Path | None
    stderr_path: Path | None
    exit_status: int | None
    signal: int | None
    timed_out: bool
    duration: float
    state: ShellState | None
    # Why the state a command asked to capture could not be read back (None when it was, or was not asked for).
    state_error: str | None = None
    # Why the command was stopped as a full-screen program (see ``full_screen``), or None.
    full_screen: str | None = None


class Spool:
    """A private temp dir holding one invocation's stdin, stdout, stderr and state.

    A sandbox runs one invocation at a time, so it reuses one directory: making
    and removing a directory per command costs more than running ``true``. Each
    invocation gets files of its own there, removed when it ends, so /tmp holds
    nothing between invocations. The stdout and stderr of a command whose
    background jobs were kept are kept too (see ``KeptOutput``): a job's later
    output lands there, never in another command's files. A second spool wanted
    at the same time gets a directory of its own.
    """

    _shared: Path | None = None
    _shared_lock = threading.Lock()
    _counter = itertools.count(1)

    def __init__(self) -> None:
        self._shared_held = Spool._shared_lock.acquire(blocking=False)
        if self._shared_held:
            if Spool._shared is None or not Spool._shared.is_dir():
                Spool._shared = Path(tempfile.mkdtemp(prefix="lambdash-"))
            self.path = Spool._shared
        else:
            self.path = Path(tempfile.mkdtemp(prefix="lambdash-"))
        self.serial = next(Spool._counter)
        self._made: list[Path] = []
        self.kept: list[Path] = []

    def file(self, name: str) -> Path:
        """This invocation's file ``name`` (removed when the spool is)."""
        path = self.path / f"{name}-{self.serial}"
        self._made.append(path)
        return path

    def keep(self, path: Path, process_group: int) -> None:
        """Leave ``path`` in place for the background jobs of ``process_group`` still writing to it."""
        KEPT_OUTPUT.add(path, path.stat().st_size, process_group)
        self.kept.append(path)

    def remove(self) -> None:
        if self._shared_held:
            try:
                for path in self._made:
                    if path in self.kept:
                        continue
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            finally:
                self._shared_held = False
                Spool._shared_lock.release()
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class KeptOutput:
    """The output files of kept background jobs: what they write later goes to the sandbox's log.

    Lambda logs what a function writes to its own stdout and stderr; a job kept
    from an earlier command writes to that command's spool files, so each new
    invocation first copies what they gained to the handler's stderr (the log),
    and removes the files once the job's process group is gone.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[int, int]] = {}  # path -> (bytes already accounted for, process group)
        self._lock = threading.Lock()

    def add(self, path: Path, offset: int, process_group: int) -> None:
        with self._lock:
            self._files[path] = (offset, process_group)

    def follow(self, descriptors: list[int], process_group: int) -> None:
        """Copy what the kept jobs write into these pipes to the log, from a thread, until they close them."""

        def copy() -> None:
            log = sys.stderr.buffer
            for descriptor in descriptors:
                os.set_blocking(descriptor, True)
            pending = list(descriptors)
            try:
                while pending:
                    ready, _, _ = select.select(pending, [], [])
                    for descriptor in ready:
                        data = os.read(descriptor, _COPY_CHUNK)
                        if data:
                            log.write(data)
                            log.flush()
                        else:
                            pending.remove(descriptor)
                            os.close(descriptor)
            except OSError:
                for descriptor in pending:
                    os.close(descriptor)

        threading.Thread(target=copy, name=f"kept-output-{process_group}", daemon=True).start()

    def drain(self, log: BinaryIO) -> None:
        with self._lock:
            files = dict(self._files)
        for path, (offset, group) in files.items():
            alive = _group_alive(group)
            try:
                with open(path, "rb") as source:
                    source.seek(offset)
                    while chunk := source.read(_COPY_CHUNK):
                        log.write(chunk)
                        offset += len(chunk)
            except OSError:
                alive = False
            log.flush()
            with self._lock:
                if alive:
                    self._files[path] = (offset, group)
                else:
                    self._files.pop(path, None)
                    path.unlink(missing_ok=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


KEPT_OUTPUT = KeptOutput()
_COPY_CHUNK = 1024 * 1024


def run_command(
    command: str,
    *,
    spool: Spool,
    shell_path: str = "/bin/sh",
    stdin_path: Path | None = None,
    cwd: str | None = None,
    base_env: Mapping[str, str],
    env_overlay: Mapping[str, str | None],
    timeout: float,
    keep_background: bool = False,
    capture_state: bool = False,
    last_status: int = 0,
    stop_full_screen: bool = False,
) -> CommandResult:
    """Run ``command`` with ``shell_path -c`` and wait at most ``timeout`` seconds.

    Its output goes to spool files. On timeout the whole process group is killed
    and the partial output stays in the spool files. When the shell exits,
    whatever it left running in its process group is killed too, unless
    ``keep_background`` is set. With ``capture_state``, the command starts with
    ``last_status`` as ``$?``. With ``stop_full_screen``, a full-screen program is
    stopped (see ``full_screen``): its stdout ends where it began to draw.
    """
    launch = _Launch(command, spool, shell_path, base_env, env_overlay, capture_state, last_status)
    stdout_path, stderr_path = spool.file("stdout"), spool.file("stderr")
    with (
        open(stdout_path, "wb") as out,
        open(stderr_path, "wb") as err,
        open(stdin_path if stdin_path else os.devnull, "rb") as stdin,
    ):
        process = launch.start(stdin, out, err, cwd)
    watch = _SpoolWatch(stdout_path) if stop_full_screen else None
    timed_out = False
    try:
        returncode = wait_for_exit(process, timeout, launch.channel, watch)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(process.pid)
        returncode = process.wait()
    duration = time.monotonic() - launch.started
    if not keep_background:
        kill_group(process.pid)
    elif _group_alive(process.pid):
        spool.keep(stdout_path, process.pid)
        spool.keep(stderr_path, process.pid)
    full_screen = None
    if watch is not None:
        full_screen = watch.check(budget=None)  # the rest it wrote, up to its end
        if watch.full_screen.sighted_at is not None:
            os.truncate(stdout_path, watch.full_screen.sighted_at)  # what it drew is for a terminal it has not
    return launch.result(returncode, timed_out, duration, stdout_path, stderr_path, full_screen)


# How often a spooled stdout is looked at for a full-screen program, and how much of it at most each time.
SPOOL_WATCH_SECONDS = 0.1
SPOOL_WATCH_READ_BYTES = 16 * 1024 * 1024


class _SpoolWatch:
    """Reads what a command adds to its stdout spool file, for ``FullScreenWatch``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.full_screen = FullScreenWatch()
        self.offset = 0

    def wake_at(self) -> float:
        """When to look again (a monotonic time)."""
        return time.monotonic() + SPOOL_WATCH_SECONDS

    def check(self, budget: int | None = SPOOL_WATCH_READ_BYTES) -> str | None:
        """Read what is new (at most ``budget`` bytes); why the command must be stopped, or None."""
        try:
            with open(self.path, "rb") as spooled:
                spooled.seek(self.offset)
                while self.full_screen.stopped is None and (budget is None or budget > 0):
                    chunk = spooled.read(_COPY_CHUNK if budget is None else min(_COPY_CHUNK, budget))
                    if not chunk:
                        break
                    self.offset += len(chunk)
                    budget = None if budget is None else budget - len(chunk)
                    self.full_screen.feed(chunk)
        except OSError:
            pass
        return self.full_screen.stopped


# Takes what the command wrote, as it writes it: ("stdout" or "stderr", bytes); b"" is a heartbeat.
OutputSink = Callable[[str, bytes], None]


def run_command_streaming(
    command: str,
    *,
    spool: Spool,
    sink: OutputSink,
    shell_path: str = "/bin/sh",
    stdin_path: Path | None = None,
    cwd: str | None = None,
    base_env: Mapping[str, str],
    env_overlay: Mapping[str, str | None],
    timeout: float,
    keep_background: bool = False,
    capture_state: bool = False,
    last_status: int = 0,
    stop_full_screen: bool = False,
    heartbeat: float = 10.0,
    chunk: int = 64 * 1024,
) -> CommandResult:
    """Run ``command`` as ``run_command`` does, handing its output to ``sink`` as it is written.

    The command writes into pipes, read the moment they have data, at most
    ``chunk`` bytes at a time, so memory stays flat. ``sink`` also gets ``("", b"")``
    after every ``heartbeat`` seconds of silence. When the shell exits, what is
    already in the pipes is read; what kept background jobs write later goes to
    the sandbox's log (see ``KeptOutput``). The result's spool paths are None.
    With ``stop_full_screen``, a full-screen program is stopped (see ``full_screen``)
    and what it drew never reaches the sink.
    """
    launch = _Launch(command, spool, shell_path, base_env, env_overlay, capture_state, last_status)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        with open(stdin_path if stdin_path else os.devnull, "rb") as stdin:
            process = launch.start(stdin, out_write, err_write, cwd)
    finally:
        os.close(out_write)
        os.close(err_write)
    names = {out_read: "stdout", err_read: "stderr"}
    for descriptor in names:
        os.set_blocking(descriptor, False)
    pidfd = _open_pidfd(process.pid)
    outputs = _LiveOutputs(sink, stop_full_screen)
    loop = _StreamingLoop(process, launch.channel, names, pidfd, outputs, chunk)
    try:
        returncode, timed_out = loop.run(_Timekeeper(launch.started + timeout, heartbeat, sink, pidfd))
        duration = time.monotonic() - launch.started
        if not keep_background:
            kill_group(process.pid)
        # What is in the pipes now is the command's; a kept job's later writes are not.
        for descriptor, name in names.items():
            while data := _read_some(descriptor, chunk):
                outputs.take(name, data)
        outputs.finish()
        if keep_background and _group_alive(process.pid):
            KEPT_OUTPUT.follow([out_read, err_read], process.pid)
            names = {}
    finally:
        if pidfd is not None:
            os.close(pidfd)
        for descriptor in names:
            os.close(descriptor)
    return launch.result(returncode, timed_out, duration, None, None, outputs.stopped)


def _open_pidfd(pid: int) -> int | None:
    """A descriptor that polls readable when ``pid`` exits; None where there is no pidfd (then poll for the exit)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


# Without a pidfd to wake it, a streaming loop looks for its command's exit this often.
EXIT_POLL_SECONDS = 0.05


class _Timekeeper:
    """A streaming loop's timekeeper: the command's deadline, its heartbeat, and how long one poll may wait.

    The sink gets a heartbeat, ``("", b"")``, after every ``heartbeat`` seconds in which
    the command wrote nothing, so that the stream is not dropped as silent.
    """

    def __init__(self, deadline: float, heartbeat: float, sink: OutputSink, pidfd: int | None) -> None:
        self.deadline = deadline
        self.heartbeat = heartbeat
        self._sink = sink
        self._longest_wait = EXIT_POLL_SECONDS if pidfd is None else 3600
        self._last_sent = time.monotonic()

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def wait_ms(self, now: float, wake: float | None = None) -> float:
        """How long a poll may wait from ``now``: until the deadline, the next heartbeat or ``wake``."""
        wait = min(self.deadline - now, max(0.0, self._last_sent + self.heartbeat - now), self._longest_wait)
        if wake is not None:
            wait = min(wait, max(0.0, wake - now))
        return wait * 1000

    def output_sent(self) -> None:
        """The command wrote something just now: the next heartbeat is a whole interval away."""
        self._last_sent = time.monotonic()

    def beat_if_silent(self) -> None:
        if time.monotonic() - self._last_sent >= self.heartbeat:
            self._sink("", b"")
            self._last_sent = time.monotonic()


class _StreamingLoop:
    """A streamed command's loop: its pipes read into the outputs and its state report read, until it ends."""

    def __init__(self, process: subprocess.Popen[bytes], channel: StateChannel | None, names: dict[int, str],
                 pidfd: int | None, outputs: _LiveOutputs, chunk: int) -> None:
        self.process = process
        self.channel = channel
        self.names = names
        self.pidfd = pidfd
        self.outputs = outputs
        self.chunk = chunk
        self.poller = select.poll()
        for descriptor in names:
            self.poller.register(descriptor, select.POLLIN)
        if pidfd is not None:
            self.poller.register(pidfd, select.POLLIN)
        if channel is not None:
            self.poller.register(channel.fd, select.POLLIN)

    def run(self, timekeeper: _Timekeeper) -> tuple[int, bool]:
        """Read what comes until the command ends: its exit status, and whether its deadline came first.

        At its deadline, or once the outputs say it is a full-screen program, its
        process group is killed.
        """
        returncode: int | None = None
        while returncode is None:
            now = time.monotonic()
            if timekeeper.expired(now):
                kill_group(self.process.pid)
                return self.process.wait(), True
            ready = self.poller.poll(timekeeper.wait_ms(now, self.outputs.wake_at()))
            returncode = self._take_ready(ready, timekeeper)
            self.outputs.tick()
            if self.pidfd is None and returncode is None:
                returncode = self.process.poll()
            if returncode is None and self.outputs.stopped is not None:
                kill_group(self.process.pid)
                return self.process.wait(), False
            timekeeper.beat_if_silent()
        return returncode, False

    def _take_ready(self, ready: list[tuple[int, int]], timekeeper: _Timekeeper) -> int | None:
        """Read what poll found ready: output, the state report; the exit status when the command exited."""
        returncode: int | None = None
        for descriptor, _ in ready:
            if descriptor == self.pidfd:
                returncode = self.process.wait()
            elif self.channel is not None and descriptor == self.channel.fd:
                if not self.channel.read_available():
                    self.poller.unregister(descriptor)
            elif descriptor in self.names:
                data = _read_some(descriptor, self.chunk)
                if data:
                    self.outputs.take(self.names[descriptor], data)
                    timekeeper.output_sent()
                else:  # EOF: every writer closed it
                    self.poller.unregister(descriptor)
        return returncode


class _LiveOutputs:
    """A streamed command's output on its way to the sink, held back where it must not be shown yet.

    With a ``FullScreenWatch``, the few bytes of stdout that may begin a full-screen
    sequence wait for the next ones; from a sequence on, stdout is dropped. Then
    ``_WholeLines`` keeps each stream's unfinished line from being split by the other's.
    """

    def __init__(self, sink: OutputSink, stop_full_screen: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._lines = _WholeLines(sink, clock)
        self._watch = FullScreenWatch() if stop_full_screen else None
        self._held = b""  # stdout not shown yet (the start of what may be a sequence), from offset _shown on
        self._shown = 0

    @property
    def stopped(self) -> str | None:
        """Why the command must be stopped as a full-screen program, or None."""
        return self._watch.stopped if self._watch is not None else None

    def take(self, name: str, data: bytes) -> None:
        if name != "stdout" or self._watch is None:
            self._lines.take(name, data)
            return
        if self._watch.stopped is not None:
            return  # more of what it drew
        held = self._held + data
        shown = self._watch.feed(data)
        ready, self._shown = shown - self._shown, shown
        self._held = held[ready:] if self._watch.stopped is None else b""
        if ready > 0:
            self._lines.take("stdout", held[:ready])

    def wake_at(self) -> float | None:
        """When ``tick`` has something to let out (a monotonic time), or None."""
        return self._lines.wake_at()

    def tick(self) -> None:
        self._lines.release_due()

    def finish(self) -> None:
        """The command has ended: what is still held goes out (unless it was stopped)."""
        if self._held and self._watch is not None and self._watch.stopped is None:
            self._lines.take("stdout", self._held)
        self._held = b""
        self._lines.release_all()


# An unfinished line waits for the rest this long after the other stream last wrote.
LINE_WAIT_SECONDS = 0.05
# An unfinished line longer than this goes out as it is (binary output has no lines to keep whole).
LINE_HOLD_BYTES = 64 * 1024
_OTHER = {"stdout": "stderr", "stderr": "stdout"}


class _WholeLines:
    """Keeps each stream's unfinished line whole while the other stream writes.

    stdout and stderr reach one terminal: a line of stderr written while stdout is
    in the middle of a line would land inside it. So what a stream writes after its
    last newline is held until the rest of that line comes, until the other stream
    has been quiet for ``LINE_WAIT_SECONDS`` (a prompt, a progress dot), until it
    grows past ``LINE_HOLD_BYTES``, or until the command ends. Each stream's bytes
    stay in order, and whole lines go out at once.
    """

    def __init__(self, sink: OutputSink, clock: Callable[[], float]) -> None:
        self._sink = sink
        self._clock = clock
        self._partial = {"stdout": b"", "stderr": b""}
        self._held_since = {"stdout": 0.0, "stderr": 0.0}
        self._last_write = {"stdout": 0.0, "stderr": 0.0}

    def take(self, name: str, data: bytes) -> None:
        now = self._clock()
        self._last_write[name] = now
        pending = self._partial[name] + data
        end = pending.rfind(b"\n") + 1
        if len(pending) - end > LINE_HOLD_BYTES:
            end = len(pending)
        if end:
            self._sink(name, pending[:end])
        if end < len(pending) and (end or not self._partial[name]):
            self._held_since[name] = now  # a new unfinished line
        self._partial[name] = pending[end:]

    def wake_at(self) -> float | None:
        due = [self._due(name) for name, partial in self._partial.items() if partial]
        return min(due) if due else None

    def release_due(self) -> None:
        now = self._clock()
        for name, partial in self._partial.items():
            if partial and self._due(name) <= now:
                self._partial[name] = b""
                self._sink(name, partial)

    def release_all(self) -> None:
        for name, partial in self._partial.items():
            if partial:
                self._partial[name] = b""
                self._sink(name, partial)

    def _due(self, name: str) -> float:
        return max(self._held_since[name], self._last_write[_OTHER[name]]) + LINE_WAIT_SECONDS


def _read_some(descriptor: int, size: int) -> bytes:
    """What a non-blocking pipe holds now (b"" at EOF or when it is empty)."""
    try:
        return os.read(descriptor, size)
    except BlockingIOError:
        return b""


class _Launch:
    """Starting a command the one way: its argv and environment, and reading back the state it left."""

    def __init__(self, command: str, spool: Spool, shell_path: str, base_env: Mapping[str, str],
                 env_overlay: Mapping[str, str | None], capture_state: bool, last_status: int = 0) -> None:
        self.shell_path = shell_path
        if len(command) > ARGV_COMMAND_MAX_CHARACTERS:
            # The kernel limits one argument to 128 KiB: a bigger command runs from a file, sourced.
            script = spool.file("command")
            script.write_bytes(command.encode("utf-8", "surrogateescape"))
            command = f". {shlex.quote(str(script))}"
        self.base_env = base_env
        # With nothing to change, the command inherits the environment as it is (no copy to build).
        self.env: dict[str, str] | None = None
        if env_overlay or capture_state or base_env is not os.environ:
            self.env = apply_overlay(base_env, env_overlay)
        # $0 is the shell's short name, so its messages start "bash: line 1:" or "sh: 1:" as usual.
        name = os.path.basename(shell_path)
        self.argv = [name, "-c", command]
        # The state comes back through a pipe (see handler.shell_state), never through a file or a program.
        self.channel: StateChannel | None = None
        if capture_state:
            assert self.env is not None
            self.channel = StateChannel(self.env, last_status)
            self.env.update(self.channel.environment)
            self.argv = [name, "-c", WRAPPER, name, command]
        self.started = 0.0

    def start(self, stdin: Any, stdout: Any, stderr: Any, cwd: str | None) -> subprocess.Popen[bytes]:
        self.started = time.monotonic()
        try:
            process = subprocess.Popen(
                self.argv, executable=self.shell_path, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
                env=self.env, start_new_session=True, close_fds=True,
                pass_fds=self.channel.child_fds if self.channel is not None else (),
            )
        except OSError as problem:
            if self.channel is not None:
                self.channel.abandon()
            if problem.errno != errno.E2BIG:
                raise
            environment = sum(env_entry_bytes(name, value) for name, value in (self.env or os.environ).items())
            raise InvalidRequest(f"env is {environment} bytes in all, more than the kernel lets a program start "
                                 "with (E2BIG); unset some variables") from None
        if self.channel is not None:
            self.channel.started()
        return process

    def result(self, returncode: int, timed_out: bool, duration: float, stdout_path: Path | None,
               stderr_path: Path | None, full_screen: str | None = None) -> CommandResult:
        state, state_error = None, None
        if self.channel is not None:
            state, state_error = self.channel.state(self.base_env)
            if timed_out or returncode < 0:  # killed: whatever it reported is not where it ended
                state, state_error = None, None
        return CommandResult(
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            exit_status=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=timed_out,
            duration=duration,
            state=state,
            state_error=state_error,
            full_screen=full_screen,
        )


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float, channel: StateChannel | None = None,
                  watch: _SpoolWatch | None = None) -> int:
    """Wait for the process to exit, at most ``timeout`` seconds, reading its state report as it comes.

    Popen.wait with a timeout polls with growing sleeps, which adds up to a
    millisecond to a short command; a pidfd wakes us the moment it exits. With
    ``watch``, its stdout is looked at as it grows, and a full-screen program's
    process group is killed (``watch.stopped`` says why).
    """
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd on this kernel or platform
        if channel is None and watch is None:
            return process.wait(timeout=timeout)
        while (returncode := process.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(process.args, timeout) from None
            if watch is not None and watch.check() is not None:
                kill_group(process.pid)
                return process.wait()
            if channel is not None:
                channel.wait_readable(min(0.05, deadline - time.monotonic()))
                channel.read_available()
            else:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return returncode
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if channel is not None:
            poller.register(channel.fd, select.POLLIN)
        while True:
            now = time.monotonic()
            wake = deadline if watch is None else min(deadline, watch.wake_at())
            ready = [descriptor for descriptor, _ in poller.poll(max(0.0, wake - now) * 1000)]
            if pidfd in ready:
                break
            if channel is not None and channel.fd in ready:
                if not channel.read_available():
                    poller.unregister(channel.fd)
            elif watch is not None and watch.check() is not None:
                kill_group(process.pid)
                break
            elif not ready and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(process.args, timeout)
    finally:
        os.close(pidfd)
    return process.wait()


def kill_group(pgid: int) -> None:
    """SIGKILL every process in the group; a group already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def apply_overlay(base: Mapping[str, str], overlay: Mapping[str, str | None]) -> dict[str, str]:
    """The environment a command runs in: the sandbox's own, with the overlay applied."""
    env = dict(base)
    for name, value in overlay.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
