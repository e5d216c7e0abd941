"""This process's stdin, relayed into a session while its command runs (``lambdash -i`` and ``--tty``).

- A pipe or a file goes up as it is read; its end is the command's EOF.
- A terminal with ``-i`` stays in its own (cooked) mode: you edit a line here
  (echo, Backspace) and it goes up on Enter; Ctrl-D sends EOF; Ctrl-C and Ctrl-\\
  reach the remote command as SIGINT and SIGQUIT, and lambdash exits with its status.
- A terminal with ``--tty`` is put in raw mode: every key goes up as it is typed,
  and the remote side (a pseudo-terminal, or the handler's line discipline) turns
  Ctrl-C into a signal; window size changes (SIGWINCH) go up too. Enter ``~.``
  leaves at once, as in ssh.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from types import FrameType

from lambdash.errors import LambdashError
from lambdash.shell.remote import RemoteResult
from lambdash.shell.session import InteractiveSession
from lambdash.terminal import DIM, Terminal

READ_BYTES = 64 * 1024
# Ctrl-C pressed this many times while the remote command ignores it leaves lambdash anyway.
INTERRUPTS_TO_LEAVE = 3
_ESCAPE, _LEAVE = b"~", b"."


class LeftSession(LambdashError):
    """The user left the session from this side (``~.``, or Ctrl-C again and again)."""


class StdinRelay:
    """Reads a descriptor in a thread and hands what it reads to the session, until its end or ``stop``."""

    def __init__(self, session: InteractiveSession, descriptor: int, *, escapes: bool = False,
                 on_leave: Callable[[], None] | None = None) -> None:
        self.session = session
        self.descriptor = descriptor
        self.escapes = escapes
        self.on_leave = on_leave
        self._at_line_start = True
        self._escape_pending = False
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="stdin-relay", daemon=True)

    def start(self) -> StdinRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._stop_write, b"x")
        self._thread.join(timeout=1.0)
        for descriptor in (self._stop_read, self._stop_write):
            with contextlib.suppress(OSError):
                os.close(descriptor)

    def _run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.descriptor, self._stop_read], [], [])
            except (OSError, ValueError):
                return
            if self._stop_read in ready:
                return
            try:
                data = os.read(self.descriptor, READ_BYTES)
            except OSError:
                data = b""
            if not data:
                self.session.send_eof()
                return
            if self.escapes:
                kept = self._escaped(data)
                if kept is None:
                    return
                data = kept
            self.session.send_input(data)

    def _escaped(self, data: bytes) -> bytes | None:
        """The keys with ssh's escapes taken out: ``~.`` after Enter leaves, ``~~`` is one ``~``."""
        out = bytearray()
        for byte in data:
            key = bytes([byte])
            if self._escape_pending:
                self._escape_pending = False
                if key == _LEAVE:
                    if self.on_leave is not None:
                        self.on_leave()
                    return None
                if key != _ESCAPE:
                    out += _ESCAPE
            elif key == _ESCAPE and self._at_line_start:
                self._escape_pending = True
                continue
            out += key
            self._at_line_start = key in (b"\r", b"\n")
        return bytes(out)


def window_size(terminal: Terminal) -> tuple[int, int] | None:
    """(rows, columns) of the terminal lambdash runs in, or None when neither stdout nor stdin is one."""
    for stream, isatty in ((terminal.stdout, terminal.stdout_isatty), (terminal.stdin, terminal.stdin_isatty)):
        if isatty:
            try:
                size = os.get_terminal_size(stream.fileno())
            except (OSError, ValueError):
                continue
            return size.lines, size.columns
    return None


@contextlib.contextmanager
def raw_mode(descriptor: int) -> Iterator[None]:
    """The terminal in raw mode for the block (every key as typed, no local echo), restored however it ends."""
    saved = termios.tcgetattr(descriptor)
    tty.setraw(descriptor)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _handling(signum: int, handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def relay_stdin(session: InteractiveSession, terminal: Terminal, *, keystrokes: bool) -> RemoteResult:
    """Feed the session from stdin until its command ends; its result.

    ``keystrokes`` (``--tty``): a terminal goes raw and its size is kept current.
    Otherwise Ctrl-C and Ctrl-\\ are sent as signals; the third Ctrl-C the remote
    command ignores leaves (LeftSession).
    """
    left = threading.Event()
    descriptor = terminal.stdin.fileno()
    raw = keystrokes and terminal.stdin_isatty
    relay = StdinRelay(session, descriptor, escapes=raw, on_leave=left.set)
    with contextlib.ExitStack() as scope:
        if raw:
            scope.enter_context(raw_mode(descriptor))

            def resized(signum: int, frame: FrameType | None) -> None:
                size = window_size(terminal)
                if size is not None:
                    session.send_window(*size)

            scope.enter_context(_handling(signal.SIGWINCH, resized))
        else:
            scope.enter_context(_handling(signal.SIGQUIT, lambda signum, frame: session.send_signal("QUIT")))
        relay.start()
        scope.callback(relay.stop)
        interrupts = 0
        while True:
            try:
                result = session.wait(timeout=0.2)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts >= INTERRUPTS_TO_LEAVE:
                    session.close()
                    raise LeftSession("interrupted again and again; the remote command may still be running") from None
                session.send_signal("INT")
                continue
            if result is not None:
                return result
            if left.is_set():
                session.close()
                raise LeftSession("left the session (~.); the remote command may still be running")


def raw_notice(terminal: Terminal) -> Callable[[str], None]:
    """Notices for a terminal that may be in raw mode: each on a line of its own, carriage return included."""

    def notice(text: str) -> None:
        line = terminal.paint(f"lambdash: {text}", DIM)
        terminal.stderr.write(b"\r\n" + line.encode("utf-8", "replace") + b"\r\n")
        terminal.stderr.flush()

    return notice

