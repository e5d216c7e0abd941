"""The thin side of the agent, in the ``lambdash`` process: hand the command line over, or start the agent.

``hand_over`` connects to the agent's socket before anything is parsed, and sends
argv, cwd, umask, the environment, whether each standard stream is a terminal and
its width. The agent runs the one-shots it serves and declines the rest. For one it
runs, this process relays: the worker's stdout and stderr bytes are written as
they come, stdin is read as the worker asks for it (never whole, whatever its
size), and SIGINT, SIGTERM and SIGHUP are passed on, so the worker stops exactly
as this process would have, and its exit status is this process's.
``start_if_on`` starts an agent in the background for the next one-shot.

It imports no AWS SDK, no parser and as little else as it can: with an agent
running, it is the whole of a one-shot's own start-up.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from lambdash.agent.directory import LOCK_NAME, SOCKET_NAME, AgentDirectory
from lambdash.agent.protocol import (
    ACCEPTED,
    CONTROL,
    DECLINED,
    EXIT,
    PROTOCOL_VERSION,
    REFUSED,
    RELAYED_SIGNALS,
    REPLY,
    REQUEST,
    SIGNAL,
    STDERR,
    STDIN,
    STDOUT,
    STDOUT_CLOSED,
    WANT,
    FrameReader,
    ProtocolError,
    frame,
    number,
    number_frame,
    read_frame,
)
from lambdash.errors import LambdashError
from lambdash.paths import agent_dir

if TYPE_CHECKING:
    from types import FrameType

    from lambdash.terminal import Terminal

RECEIVE_BYTES = 256 * 1024
# What hand_over says when it ran nothing: no agent listens, or the one listening declined.
NO_AGENT = "no agent"
AGENT_DECLINED = "declined"


class AgentError(LambdashError):
    """The agent could not be used, or stopped in the middle of a command."""


def hand_over(argv: list[str], terminal: Terminal) -> int | str:
    """The exit status of the one-shot a running agent ran; else NO_AGENT or AGENT_DECLINED: this process runs it."""
    directory = _open_directory()
    if directory is None:
        return NO_AGENT
    with directory:
        connection = connect(directory)
        if connection is None:
            return NO_AGENT  # nobody listens: the agent is gone (a new one replaces its socket)
        with connection:
            status = Relay(connection).run(request(argv, terminal))
            return AGENT_DECLINED if status is None else status


def _open_directory() -> AgentDirectory | None:
    try:
        return AgentDirectory.open(agent_dir())
    except LambdashError:
        # Nothing is handed to a directory that is not private. Whether that is an error is for
        # start_if_on to say: only a one-shot with the agent on needs the directory.
        return None


def connect(directory: AgentDirectory) -> socket.socket | None:
    """A connection to the agent, or None when no agent listens in ``directory``."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(directory.address(SOCKET_NAME))
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        return None
    except OSError as problem:
        connection.close()
        raise AgentError(f"cannot reach the agent at {directory.shown(SOCKET_NAME)}: {problem.strerror}") from None
    return connection


def request(argv: list[str], terminal: Terminal) -> dict[str, Any]:
    """What the worker needs to run the one-shot as this process would."""
    umask = os.umask(0o077)
    os.umask(umask)
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return {
        "v": PROTOCOL_VERSION, "argv": argv, "cwd": cwd, "umask": umask, "env": dict(os.environ),
        "tty": [terminal.stdin_isatty, terminal.stdout_isatty, terminal.stderr_isatty],
        # Only a progress bar on a terminal's stderr needs the width; finding it costs an import.
        "columns": terminal.width if terminal.stderr_isatty else 80,
        # The size of the terminal stdout is shown on, for the remote command (COLUMNS, LINES).
        "size": stdout_size(terminal),
    }


def stdout_size(terminal: Terminal) -> list[int] | None:
    """[columns, lines] of the terminal on stdout, or None when stdout is not one."""
    if not terminal.stdout_isatty:
        return None
    try:
        size = os.get_terminal_size(terminal.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return [size.columns, size.lines]


def start_if_on() -> None:
    """Start an agent in the background when the agent is on (none is listening); this one-shot goes on here."""
    from lambdash.config import agent_seconds

    seconds = agent_seconds()
    if seconds is None:
        return
    directory = AgentDirectory.open(agent_dir(), create=True)  # one that is not private is refused, naming it
    if directory is not None:
        directory.close()
    start(seconds)


def start(seconds: float) -> None:
    """Start the agent, detached: a session of its own, no terminal, stdio to /dev/null (it logs in its directory).

    Forked twice, so it is nobody's child; an agent already running makes it leave at once.
    """
    argv = [sys.executable, "-m", "lambdash.agent", "--idle", repr(seconds), "--directory", agent_dir()]
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for descriptor in (0, 1, 2):
                    os.dup2(null, descriptor)
                os.chdir("/")
                os.execv(sys.executable, argv)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def control(operation: str) -> dict[str, Any] | None:
    """Ask the running agent ``operation`` (status, stop); its answer, or None when no agent is running."""
    directory = AgentDirectory.open(agent_dir())
    if directory is None:
        return None
    with directory:
        connection = connect(directory)
        if connection is None:
            return None
        with connection:
            try:
                connection.sendall(frame(CONTROL, json.dumps({"v": PROTOCOL_VERSION, "op": operation}).encode()))
                answer = read_frame(connection)
            except (OSError, ProtocolError):
                answer = None
            if answer is None:
                return None  # it went away meanwhile
            kind, payload = answer
            if kind == REFUSED:
                raise AgentError(payload.decode("utf-8", "replace"))
            if kind != REPLY:
                raise AgentError(f"the agent answered {operation!r} with a {kind!r} frame")
            reply: dict[str, Any] = json.loads(payload)
            return reply


def remove_stale_socket() -> str | None:
    """Remove the socket an agent that is gone left behind; its path, or None when there was none.

    Only while holding the agent's lock, so a socket an agent is putting in place is never removed.
    """
    import fcntl

    directory = AgentDirectory.open(agent_dir())
    if directory is None:
        return None
    with directory:
        try:
            lock = os.open(LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory.descriptor)
        except FileNotFoundError:
            lock = -1
        try:
            if lock >= 0:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(SOCKET_NAME, dir_fd=directory.descriptor)
        except (BlockingIOError, FileNotFoundError):
            return None  # an agent holds the lock (it is starting), or there is no socket
        finally:
            if lock >= 0:
                os.close(lock)
        return directory.shown(SOCKET_NAME)


class _Interrupted(Exception):
    """A relayed signal arrived while a write to our own stdout or stderr was blocked."""


class Relay:
    """One request handed to the agent: the frames both ways, and the signals this process gets."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.pending: list[int] = []
        self.writing = False
        # A signal was passed on: the worker is stopping, and so is this process.
        self.signalled = False
        self.stdout_open = True
        self.stderr_open = True

    def run(self, document: dict[str, Any]) -> int | None:
        """The worker's exit status; None when the agent declined and nothing ran."""
        wake_reader, wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        wake_writer.setblocking(False)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in sorted(RELAYED_SIGNALS)}
        previous_wakeup = signal.set_wakeup_fd(wake_writer.fileno(), warn_on_full_buffer=False)
        try:
            try:
                self.connection.sendall(frame(REQUEST, json.dumps(document).encode()))
            except OSError:
                pass  # the agent closed at once (it refused us, or is leaving): its answer says which
            if not self._accepted():
                return None
            return self._relay(wake_reader)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            wake_reader.close()
            wake_writer.close()
            # Declined, or the agent failed before starting: signals that came meanwhile are this process's again.
            for pending in self.pending:
                signal.raise_signal(pending)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)
        if self.writing:
            raise _Interrupted

    def _accepted(self) -> bool:
        try:
            answer = read_frame(self.connection)
        except (OSError, ProtocolError):
            answer = None
        if answer is None:
            return False  # the agent went away before taking the request: nothing ran
        kind, payload = answer
        if kind == ACCEPTED:
            return True
        if kind == DECLINED:
            reason = json.loads(payload or b"{}")
            if reason.get("error"):
                raise AgentError(str(reason["error"]))
            return False
        if kind == REFUSED:
            raise AgentError(payload.decode("utf-8", "replace"))
        raise AgentError(f"the agent answered a request with a {kind!r} frame")

    def _relay(self, wake: socket.socket) -> int:
        reader = FrameReader()
        wanted = 0
        stdin_ended = False
        stdin = 0
        while True:
            watched: list[Any] = [self.connection, wake]
            if wanted:
                watched.append(stdin)
            readable, _, _ = select.select(watched, [], [])
            if wake in readable:
                self._pass_signals(wake)
            if wanted and stdin in readable:
                data = os.read(stdin, wanted)
                stdin_ended = not data
                wanted = 0
                self._send(frame(STDIN, data))
            if self.connection not in readable:
                continue
            data = self._receive()
            if not data:
                raise self._gone()
            try:
                received = reader.feed(data)
            except ProtocolError:
                raise self._gone() from None
            for kind, payload in received:
                if kind == STDOUT:
                    self._write(1, payload)
                elif kind == STDERR:
                    self._write(2, payload)
                elif kind == WANT:
                    wanted = number(payload)
                    if stdin_ended:
                        wanted = 0
                        self._send(frame(STDIN))
                elif kind == EXIT:
                    self.pending.clear()  # passed on already; the worker has finished with them
                    return number(payload)
            self._pass_signals(wake)

    def _receive(self) -> bytes:
        try:
            return self.connection.recv(RECEIVE_BYTES)
        except OSError:
            return b""

    def _send(self, data: bytes) -> None:
        try:
            self.connection.sendall(data)
        except OSError:
            raise self._gone() from None

    @staticmethod
    def _gone() -> AgentError:
        return AgentError("the agent stopped before the command ended; the remote command may still be running "
                          "(`lambdash --no-agent ...` runs without it)")

    def _pass_signals(self, wake: socket.socket) -> None:
        try:
            while wake.recv(4096):
                pass
        except BlockingIOError:
            pass
        self._send_pending()

    def _send_pending(self) -> None:
        while self.pending:
            self._send(number_frame(SIGNAL, self.pending.pop(0)))
            self.signalled = True

    def _write(self, descriptor: int, data: bytes) -> None:
        """Write the worker's bytes to our own stream; a reader that went away is told to the worker.

        Once a signal has been passed on, this process is stopping, as it would stop
        at once without the agent: what its stream cannot take without waiting is dropped.
        """
        if not (self.stdout_open if descriptor == 1 else self.stderr_open):
            return
        view = memoryview(data)
        self.writing = True
        try:
            while view:
                if self.signalled:
                    _, writable, _ = select.select([], [descriptor], [], 0)
                    if not writable:
                        break
                    view = view[os.write(descriptor, view[:select.PIPE_BUF]):]
                else:
                    view = view[os.write(descriptor, view):]
        except _Interrupted:
            # Passed on now, before any more output: what was not written is lost, as when this process is stopped.
            self.writing = False
            self._send_pending()
        except OSError as problem:
            if descriptor == 2:
                self.stderr_open = False
            elif problem.errno in (errno.EPIPE, errno.EBADF, errno.EINVAL):
                self.stdout_open = False
                # As `lambdash cat big | head` does without the agent: the worker sees a broken pipe.
                self._send(frame(STDOUT_CLOSED))
            else:
                raise
        finally:
            self.writing = False
