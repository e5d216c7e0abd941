"""The one place that knows the process's streams, whether each is a terminal, and colour.

Nothing else reads ``sys.stdout`` or calls ``isatty()``. Remote bytes go to the
binary buffers unchanged; only lambdash's own messages are text. The ANSI styles
and the progress bar live here too, so every report paints and draws alike.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO, Protocol

from lambdash.text import is_decimal

RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
CYAN = "\x1b[36m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"
# Wipes the line a progress bar was drawn on.
CLEAR_LINE = b"\r\x1b[K"
# How often a progress bar may redraw.
PROGRESS_REDRAW_SECONDS = 0.1


class Painter:
    """Wraps text in ANSI styles, or leaves it alone when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or not style or not text:
            return text
        return f"{style}{text}{RESET}"


def progress_line(fraction: float, text: str, width: int) -> bytes:
    """``[####....] text``, starting with a carriage return so it redraws in place."""
    bar_width = max(10, min(40, width - len(text) - 4))
    filled = int(bar_width * min(max(fraction, 0.0), 1.0))
    return f"\r[{'#' * filled}{'.' * (bar_width - filled)}]{text}".encode()


class ProgressDisplay(Protocol):
    """Something that shows how far a transfer has come."""

    def update(self, done: int) -> None: ...
    def close(self) -> None: ...


# Makes a display for a transfer of ``total`` bytes named ``label``, or None for no display.
ProgressFactory = Callable[[str, int], ProgressDisplay | None]


class ProgressBar:
    """A one-line progress bar for a byte transfer, redrawn in place on a terminal's stderr."""

    def __init__(self, label: str, total: int, stream: BinaryIO, width: int = 80) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream, width
        self.started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < PROGRESS_REDRAW_SECONDS and done < self.total:
            return
        self._last_draw = now
        fraction = done / self.total if self.total else 1.0
        rate = done / max(now - self.started, 1e-6)
        text = f" {self.label} {_mb(done)}/{_mb(self.total)} MB {fraction:4.0%} {_mb(int(rate))} MB/s"
        self.stream.write(progress_line(fraction, text, self.width))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write(CLEAR_LINE)
        self.stream.flush()


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


def terminal_columns(fallback: int = 80) -> int:
    """The width of the terminal: ``COLUMNS``, else that of the terminal stdout is on, else ``fallback``.

    As ``shutil.get_terminal_size`` finds it, without importing shutil (which loads
    the compression modules): ``--help`` lays itself out with it.
    """
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or fallback


class Terminal:
    """The process's standard streams and what they are connected to.

    A plain class rather than a dataclass, so that ``--version`` and a one-shot
    handed to the agent do not pay for importing dataclasses.
    """

    def __init__(
        self, stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO, stdin_isatty: bool = False,
        stdout_isatty: bool = False, stderr_isatty: bool = False, no_color: bool = False, columns: int = 80,
    ) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.stdin_isatty, self.stdout_isatty, self.stderr_isatty = stdin_isatty, stdout_isatty, stderr_isatty
        self.no_color = no_color
        # The width when none can be read from the environment or the process's own stdout: the
        # caller's, when the agent relays a caller's terminal.
        self.columns = columns
        # The size (columns, lines) of the terminal stdout is shown on, when it cannot be read from stdout
        # itself: the caller's, when the agent relays a caller's terminal.
        self.stdout_size: tuple[int, int] | None = None

    @classmethod
    def from_system(cls, environ: Mapping[str, str] = os.environ) -> Terminal:
        return cls(
            stdin=sys.stdin.buffer,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
            stdin_isatty=sys.stdin.isatty(),
            stdout_isatty=sys.stdout.isatty(),
            stderr_isatty=sys.stderr.isatty(),
            no_color="NO_COLOR" in environ or environ.get("TERM") == "dumb",
        )

    @property
    def color(self) -> bool:
        """Colour on stdout: only on a terminal, and never with NO_COLOR."""
        return self.stdout_isatty and not self.no_color

    @property
    def stderr_color(self) -> bool:
        return self.stderr_isatty and not self.no_color

    @property
    def width(self) -> int:
        return terminal_columns(self.columns)

    def paint(self, text: str, style: str, *, stream: str = "stderr") -> str:
        return Painter(self.stderr_color if stream == "stderr" else self.color)(text, style)

    def message(self, text: str) -> None:
        """One line of lambdash's own on stderr."""
        self.stderr.write(text.encode("utf-8", "replace") + b"\n")
        self.stderr.flush()

    def error(self, text: str) -> None:
        self.message(self.paint("lambdash: error: ", RED) + text)

    def warning(self, text: str) -> None:
        self.message(self.paint("lambdash: warning: ", YELLOW) + text)

    def notice(self, text: str) -> None:
        self.message(self.paint(f"lambdash: {text}", DIM))

    def write_lines(self, lines: Iterable[str]) -> None:
        """Text for people on stdout, one line each."""
        self.stdout.write("".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape"))
        self.stdout.flush()

    def write_json(self, document: Any) -> None:
        """Pretty JSON on stdout, for scripts."""
        import json

        self.stdout.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
        self.stdout.flush()

    def output_terminal(self, environ: Mapping[str, str] = os.environ) -> OutputTerminal | None:
        """What a remote command should know of the terminal its stdout is shown on; None when stdout is not one.

        The size is the terminal's now (after any resize), not a COLUMNS or LINES
        exported long ago; the type is ``environ``'s TERM.
        """
        if not self.stdout_isatty:
            return None
        try:
            columns, lines = os.get_terminal_size(self.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # no descriptor behind it (io.UnsupportedOperation is both)
            columns, lines = self.stdout_size or (_whole_number(environ.get("COLUMNS"), 80),
                                                  _whole_number(environ.get("LINES"), 24))
        # The handler takes a TERM of printable ASCII only, as every terminal type is.
        term = environ.get("TERM") or None
        if term is not None and not (term.isascii() and term.isprintable() and len(term) <= 256):
            term = None
        return OutputTerminal(columns, lines, term)

    def progress_bars(self) -> ProgressFactory | None:
        """Progress bars on stderr for long transfers, when stderr is a terminal to draw them on."""
        if not self.stderr_isatty:
            return None

        def bar(label: str, total: int) -> ProgressDisplay:
            return ProgressBar(label, total, self.stderr, self.width)

        return bar


class OutputTerminal:
    """The terminal a remote command's output is shown on: its size, and its type (TERM)."""

    def __init__(self, columns: int, lines: int, term: str | None) -> None:
        self.columns, self.lines, self.term = columns, lines, term

    def __repr__(self) -> str:
        return f"OutputTerminal(columns={self.columns}, lines={self.lines}, term={self.term!r})"


def _whole_number(text: str | None, fallback: int) -> int:
    return int(text) if text and is_decimal(text) and int(text) > 0 else fallback
