"""Spotting a full-screen program by what it writes, so it can be stopped at once.

Lambda has no terminal, and no keystroke reaches a command. A program that
switches the terminal to its alternate screen (``ESC[?1049h``, ``ESC[?47h``,
``ESC[?1047h``: vi, less, top), asks the terminal for its size or for where the
cursor is (``ESC[18t``, ``ESC[6n``), or sets it up for keys and the mouse as such
programs do first (``ESC[?1h``, ``ESC[?1000h``) then waits for keys, or for an
answer that never comes, until the function's time limit. When the client says its output is a
terminal (the request's ``terminal``), the handler watches the command's own
stdout for those sequences and stops the command (kills its process group) the
moment one appears. Its stdout ends where the sequence began: the client's
terminal must not be switched to another screen by a program that is gone.

Only the command's stdout counts, since that is what reaches the terminal: a
pipeline that turns the bytes into text (``printf '\\033[?1049h' | od -c``) writes
no sequence there, and output that is not shown on a terminal is never watched.
A command that prints such bytes raw on purpose (``cat`` of a recorded session) is
cut there too; its output is whole when lambdash's output is not a terminal.
"""

from __future__ import annotations

import re

# Each sequence, and what it tells of the program that wrote it.
SEQUENCES = {
    b"\x1b[?1049h": "it switched to the terminal's alternate screen",
    b"\x1b[?1047h": "it switched to the terminal's alternate screen",
    b"\x1b[?47h": "it switched to the terminal's alternate screen",
    b"\x1b[18t": "it asked the terminal for its size",
    b"\x1b[6n": "it asked the terminal where the cursor is",
    # What such a program sets up before it draws (vim asks for the mouse first): left on, it would stay
    # on in the client's terminal.
    b"\x1b[?1h": "it set the terminal's cursor keys for a full-screen program",
    b"\x1b[?1000h": "it asked the terminal to report the mouse",
    b"\x1b[?1002h": "it asked the terminal to report the mouse",
    b"\x1b[?1003h": "it asked the terminal to report the mouse",
}
_PATTERN = re.compile(b"|".join(re.escape(sequence) for sequence in SEQUENCES))
_LONGEST = max(len(sequence) for sequence in SEQUENCES)


def _partial_sequence_at_end(data: bytes) -> int:
    """How many bytes at the end of ``data`` could be the start of a sequence (0 when none could)."""
    start = data.rfind(b"\x1b", max(0, len(data) - _LONGEST + 1))
    if start < 0:
        return 0
    tail = data[start:]
    return len(tail) if any(sequence.startswith(tail) for sequence in SEQUENCES) else 0


class FullScreenWatch:
    """Watches one command's stdout, fed in order, for a full-screen program.

    ``feed`` takes the next bytes and returns how far into the stream output may be
    shown now (an offset from the stream's start): all of it, but a few bytes at the
    end that may begin a sequence the next ones finish, and nothing from a sequence
    on. ``stopped`` then says why the command must be stopped, and ``sighted_at``
    where its stdout ends.
    """

    def __init__(self) -> None:
        self._scanned = 0  # bytes fed so far
        self._tail = b""  # the last bytes fed, which may start a sequence the next ones finish
        self.sighted_at: int | None = None
        self.stopped: str | None = None

    def feed(self, data: bytes) -> int:
        """Take the next bytes of stdout; the offset up to which the stream may be shown now."""
        start = self._scanned - len(self._tail)
        self._scanned += len(data)
        if self.sighted_at is not None:
            return self.sighted_at
        window = self._tail + data
        found = _PATTERN.search(window)
        if found is not None:
            self.sighted_at, self._tail = start + found.start(), b""
            self.stopped = f"{SEQUENCES[found.group()]} ({_shown(found.group())})"
            return self.sighted_at
        held = _partial_sequence_at_end(window)
        self._tail = window[len(window) - held:] if held else b""
        return self._scanned - held


def _shown(sequence: bytes) -> str:
    return sequence.decode("ascii").replace("\x1b", "ESC")
