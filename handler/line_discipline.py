"""The part of a terminal's line discipline that matters, for a command Lambda gives no terminal.

With ``--tty`` the client sends raw keystrokes. Where the sandbox can open a
pseudo-terminal, the kernel's line discipline handles them. Where it cannot (on
Lambda), the command reads a pipe, and ``LineDiscipline`` does what a terminal in
its default (cooked) mode would: Ctrl-C and Ctrl-\\ become SIGINT and SIGQUIT for
the foreground process group (ISIG), Enter's carriage return becomes a newline
(ICRNL), keys are echoed (ECHO, control keys as ``^X``), a line is edited with
Backspace, Ctrl-U and Ctrl-W and goes to the command on Enter (ICANON), Ctrl-D
ends the input on an empty line and sends the line so far otherwise, and output
newlines become CR LF (ONLCR) for the client's raw terminal.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

INTERRUPT, QUIT, END_OF_FILE, ERASE, BACKSPACE, KILL_LINE, ERASE_WORD = 0x03, 0x1C, 0x04, 0x7F, 0x08, 0x15, 0x17
CARRIAGE_RETURN, NEWLINE = 0x0D, 0x0A


@dataclass(frozen=True)
class Line:
    """Bytes the command gets on its stdin."""

    data: bytes


@dataclass(frozen=True)
class Interrupt:
    """A signal for the foreground process group."""

    signal: int


@dataclass(frozen=True)
class EndOfInput:
    """Ctrl-D on an empty line: the command's stdin ends."""


Action = Line | Interrupt | EndOfInput


class LineDiscipline:
    """Cooked mode, as a terminal keeps it: the keys in, what the command reads and what the screen shows out."""

    def __init__(self) -> None:
        self._line = bytearray()

    def keys(self, data: bytes) -> tuple[list[Action], bytes]:
        """What these keystrokes do: the actions in order, and the echo to show."""
        actions: list[Action] = []
        echo = bytearray()
        for byte in data:
            if byte in (INTERRUPT, QUIT):
                echo += b"^C\r\n" if byte == INTERRUPT else b"^\\\r\n"
                self._line.clear()
                actions.append(Interrupt(signal.SIGINT if byte == INTERRUPT else signal.SIGQUIT))
            elif byte == END_OF_FILE:
                if self._line:
                    actions.append(Line(bytes(self._line)))
                    self._line.clear()
                else:
                    actions.append(EndOfInput())
            elif byte in (ERASE, BACKSPACE):
                echo += self._erase(1)
            elif byte == KILL_LINE:
                echo += self._erase(len(self._line))
            elif byte == ERASE_WORD:
                echo += self._erase(self._last_word_length())
            elif byte in (CARRIAGE_RETURN, NEWLINE):
                self._line.append(NEWLINE)
                echo += b"\r\n"
                actions.append(Line(bytes(self._line)))
                self._line.clear()
            else:
                self._line.append(byte)
                echo += _shown(byte)
        return actions, bytes(echo)

    def _erase(self, characters: int) -> bytes:
        """Take ``characters`` off the end of the line (whole UTF-8 characters, as IUTF8 does); the echo."""
        echo = bytearray()
        for _ in range(characters):
            if not self._line:
                break
            end = len(self._line) - 1
            while end > 0 and self._line[end] & 0xC0 == 0x80:  # a continuation byte: go back to the lead byte
                end -= 1
            removed = bytes(self._line[end:])
            del self._line[end:]
            width = 2 if len(removed) == 1 and (removed[0] < 0x20 or removed[0] == 0x7F) else 1
            echo += b"\b \b" * width
        return bytes(echo)

    def _last_word_length(self) -> int:
        """Characters Ctrl-W erases: the blanks at the end, then the word before them."""
        text = self._line.decode("utf-8", "replace")
        end = len(text)
        while end and text[end - 1] in " \t":
            end -= 1
        while end and text[end - 1] not in " \t":
            end -= 1
        return len(text) - end

    @staticmethod
    def output(data: bytes) -> bytes:
        """The command's output as a terminal shows it: each newline a carriage return and a newline."""
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _shown(byte: int) -> bytes:
    """How a key is echoed: itself, or ``^X`` for a control character (ECHOCTL)."""
    if byte < 0x20 and byte != 0x09:
        return b"^" + bytes([byte + 0x40])
    return bytes([byte])
