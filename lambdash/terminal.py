"""The one place that knows the process's streams, whether each is a terminal, and colour.

Nothing else reads ``sys.stdout`` or calls ``isatty()``. Remote bytes go to the
binary buffers unchanged; only lambdash's own messages are text.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

RED = "\x1b[31m"
YELLOW = "\x1b[33m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"
# Wipes the line a progress bar was drawn on.
CLEAR_LINE = b"\r\x1b[K"


def progress_line(fraction: float, text: str, width: int) -> bytes:
    """``[####....] text``, starting with a carriage return so it redraws in place."""
    bar_width = max(10, min(40, width - len(text) - 4))
    filled = int(bar_width * min(max(fraction, 0.0), 1.0))
    return f"\r[{'#' * filled}{'.' * (bar_width - filled)}]{text}".encode()


@dataclass
class Terminal:
    """The process's standard streams and what they are connected to."""

    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    no_color: bool = False

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
        return shutil.get_terminal_size().columns

    def paint(self, text: str, style: str, *, stream: str = "stderr") -> str:
        enabled = self.stderr_color if stream == "stderr" else self.color
        return f"{style}{text}{RESET}" if enabled else text

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
