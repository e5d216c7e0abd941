"""How the REPL shows a command's result, and keeps it for ``:less``.

Remote stdout goes to the terminal byte for byte; stderr too, painted red when
stderr is a colour terminal. lambdash's own notes follow on stderr: ``[exit N]``
after a non-zero status, ``[signal N]``, ``[timed out]``, and what was lost to
truncation. Both streams are also copied to a spooled temp file (in memory while
small, on disk past that) so ``:less`` can page the last output again.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import IO, BinaryIO, cast

from lambdash.shell.remote import RemoteResult
from lambdash.terminal import DIM, RED, RESET, YELLOW, Terminal

# The kept output stays in memory up to this size, then moves to a private temp file.
KEPT_IN_MEMORY_BYTES = 1_048_576
DEFAULT_PAGER = "less -R"


class _Tee:
    """Writes to the terminal and to the kept copy at once, counting newlines on the way.

    Each piece shown is wrapped in ``before`` and ``after`` (stderr's colour), so
    stdout streamed in between stays uncoloured.
    """

    def __init__(self, shown: BinaryIO, kept: IO[bytes], before: bytes = b"", after: bytes = b"") -> None:
        self.shown, self.kept = shown, kept
        self.before, self.after = before, after
        self.size = 0
        self.newlines = 0
        self.last_byte = b""

    def write(self, data: bytes) -> int:
        if not data:
            return 0
        self.shown.write(self.before + data + self.after)
        self.kept.write(data)
        self.size += len(data)
        self.newlines += data.count(b"\n")
        self.last_byte = data[-1:]
        return len(data)

    def flush(self) -> None:
        self.shown.flush()


class LiveView:
    """One command's output as it streams in, shown at once until the user walks away from it.

    Each command gets its own, so a command abandoned with Ctrl-C, whose stream is
    still read to its end in the background (for its status, told at a later
    prompt), can never write into the next command's output.
    """

    def __init__(self, out: _Tee, err: _Tee) -> None:
        self.out, self.err = out, err
        # Lambda's id for the invocation, once its stream has begun.
        self.request_id: str | None = None
        self._lock = threading.Lock()
        self._abandoned = False

    def begun(self, request_id: str) -> None:
        self.request_id = request_id or None

    def write(self, name: str, data: bytes) -> None:
        """Streamed output, shown as it arrives; after ``abandon`` it is read on and shown nowhere."""
        with self._lock:
            if self._abandoned:
                return
            tee = self.out if name == "stdout" else self.err
            tee.write(data)
            tee.flush()

    def abandon(self) -> None:
        """The user walked away (Ctrl-C): nothing more of this command is shown, from this moment on."""
        with self._lock:
            self._abandoned = True


class ResultPrinter:
    """Prints results on one terminal and remembers the last output."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.kept: IO[bytes] | None = None
        self.kept_lines = 0
        self._live: LiveView | None = None

    def begin(self) -> LiveView:
        """Start on a new command's output, which may then be streamed in through the view returned."""
        self.discard()
        terminal = self.terminal
        self.kept = tempfile.SpooledTemporaryFile(max_size=KEPT_IN_MEMORY_BYTES)  # noqa: SIM115 - kept for :less
        red = terminal.stderr_color
        self._live = LiveView(
            _Tee(terminal.stdout, self.kept),
            _Tee(terminal.stderr, self.kept, RED.encode() if red else b"", RESET.encode() if red else b""),
        )
        return self._live

    def show(self, result: RemoteResult) -> None:
        """Write what is left of both streams, then lambdash's notes about the status and any truncation."""
        terminal = self.terminal
        live = self._live or self.begin()
        out, err = live.out, live.err
        progress = terminal.progress_bars()
        result.stdout.write_to(cast(BinaryIO, out), "stdout", progress)
        if out.size and out.last_byte != b"\n" and result.stderr.size and not err.size:
            # Keep stderr off the end of an unfinished stdout line.
            terminal.stdout.write(b"\n")
            terminal.stdout.flush()
        result.stderr.write_to(cast(BinaryIO, err), "stderr", progress)
        last = err if err.size else out
        if last.size and last.last_byte != b"\n":
            # The prompt must start on a line of its own.
            last.shown.write(b"\n")
            last.shown.flush()
        self.kept_lines = out.newlines + err.newlines
        self._live = None
        for text in result.warnings:
            terminal.warning(text)
        note = status_note(result)
        if note:
            terminal.message(terminal.paint(note, YELLOW))

    def offer_pager(self, screen_lines: int) -> None:
        """Say that ``:less`` can page an output that scrolled past a screenful."""
        if self.kept is not None and self.kept_lines > screen_lines > 0:
            self.terminal.message(self.terminal.paint(f"({self.kept_lines} lines; :less pages them)", DIM))

    def page(self) -> str | None:
        """Page the last output; return a one-line problem instead when there is nothing to page."""
        if self.kept is None:
            return "no output to page yet"
        self.kept.seek(0)
        if not self.terminal.stdout_isatty:
            shutil.copyfileobj(self.kept, self.terminal.stdout)
            self.terminal.stdout.flush()
            return None
        command = shlex.split(os.environ.get("PAGER") or DEFAULT_PAGER)
        try:
            pager = subprocess.Popen(command, stdin=subprocess.PIPE)
        except OSError as problem:
            return f"cannot run the pager {command[0]!r} ({problem.strerror}); set PAGER"
        # The pager owns Ctrl-C while it runs (less uses it to stop a search), as git arranges too.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with pager:
                assert pager.stdin is not None
                try:
                    shutil.copyfileobj(self.kept, pager.stdin)
                    pager.stdin.close()
                except BrokenPipeError:
                    pass  # the reader quit early, as `q` in less does
        finally:
            signal.signal(signal.SIGINT, previous)
        return None

    def discard(self) -> None:
        if self.kept is not None:
            self.kept.close()
            self.kept = None
        self.kept_lines = 0
        self._live = None


# Programs that draw on a whole terminal screen: the sandbox has no terminal for them.
FULL_SCREEN_PROGRAMS = {
    "vi": "`:get` the file, edit it here, then `:put` it back",
    "vim": "`:get` the file, edit it here, then `:put` it back",
    "nano": "`:get` the file, edit it here, then `:put` it back",
    "emacs": "`:get` the file, edit it here, then `:put` it back",
    "top": "`top -b -n 1` prints one screenful",
    "htop": "`top -b -n 1` prints one screenful",
    "watch": "a loop prints as it goes: `while :; do COMMAND; sleep 2; done`",
    "less": "`:less` pages the last command's output here",
    "more": "`:less` pages the last command's output here",
}


def full_screen_hint(command: str, stopped: str | None = None) -> str | None:
    """A hint for a full-screen program, or None.

    ``stopped`` is why the handler stopped the command (see ``RemoteResult.full_screen``):
    the hint then names that, and the program when the command names a known one.
    Without it, the hint is for a known program that failed for want of a terminal.
    """
    words = command.split()
    if stopped is not None:
        known = [word.rsplit("/", 1)[-1] for word in words if word.rsplit("/", 1)[-1] in FULL_SCREEN_PROGRAMS]
        who = known[0] if known else "the command"
        instead = f"; {FULL_SCREEN_PROGRAMS[known[0]]}" if known else ""
        return f"{who} was stopped: {stopped}, and the sandbox has no terminal{instead}"
    program = words[0].rsplit("/", 1)[-1] if words else ""
    advice = FULL_SCREEN_PROGRAMS.get(program)
    if advice is None:
        return None
    return f"{program} needs a terminal, and the sandbox has none; {advice}"


def status_note(result: RemoteResult) -> str | None:
    """``[exit N]``, ``[signal N]`` or ``[timed out]``; None when the command succeeded.

    A command stopped as a full-screen program gets none: its hint says what happened.
    """
    if result.full_screen:
        return None
    if result.timed_out:
        limit = result.raw.get("time_limit", {}).get("seconds")
        return f"[timed out after {limit} s]" if limit is not None else "[timed out]"
    if result.signal is not None:
        return f"[signal {result.signal}]"
    if result.exit_status:
        return f"[exit {result.exit_status}]"
    return None
