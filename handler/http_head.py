"""The head of an HTTP/1.x response (status line and header fields), parsed one way for the whole handler.

Two parts of the handler read HTTP responses straight off a socket: the runtime
loop reads the Runtime API's answers (``runtime``), and the HTTP check reads the
answer of the server it checks (``checks.http``). Both find and parse the head
here. What it accepts, as RFC 9112 has a client do:

- the status line ``HTTP/1.1 200 OK`` (any ``HTTP/d[.d]``; the reason may be empty);
- lines ending in CRLF or a bare LF;
- field names in any case (they come back lower-cased), with the spaces around
  the value and any before the colon dropped;
- a line folded onto the one before it (obs-fold: it starts with a space or a
  tab), joined to that value with one space;
- a field given twice keeps its last value (neither reader needs a list), except
  Content-Length, which frames the body: its copies must agree, and be a number.

A head is at most ``MAX_HEAD_BYTES``. Anything else is ``MalformedHead``; a status
line that is not HTTP at all is ``NotHttp``, so the check can say something other
than an HTTP server answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# The most a response head may take, its blank line included.
MAX_HEAD_BYTES = 64 * 1024

_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?", re.ASCII)
_DIGITS = re.compile(r"[0-9]+")


class MalformedHead(ValueError):
    """A response head that cannot be read as HTTP/1.x; the message says what is wrong with it."""


class NotHttp(MalformedHead):
    """The first line is not an HTTP status line: something other than an HTTP server answered."""


@dataclass(frozen=True)
class ResponseHead:
    """A response's status, its reason phrase, and its header fields by lower-cased name."""

    status: int
    reason: str
    headers: dict[str, str]


def head_end(data: bytes) -> int:
    """Where the head at the start of ``data`` ends (just past its blank line), or -1 if it has not ended yet."""
    # A blank line is a line end (LF) then CRLF or LF: two plain searches, far cheaper than a pattern.
    ends = [index + len(blank) for blank in (b"\n\r\n", b"\n\n") if (index := data.find(blank)) >= 0]
    return min(ends, default=-1)


def read_head(readline: Callable[[int], bytes]) -> bytes:
    """The head's bytes from a buffered reader's ``readline``, up to and with its blank line.

    Less when the connection closes first: b"" when it closed before a byte came.
    MalformedHead when the head runs past ``MAX_HEAD_BYTES``.
    """
    head = b""
    while line := readline(MAX_HEAD_BYTES + 1 - len(head)):
        head += line
        if len(head) > MAX_HEAD_BYTES:
            raise MalformedHead(f"the response head runs past {MAX_HEAD_BYTES} bytes")
        if line in (b"\r\n", b"\n"):
            break
    return head


def parse_head(head: bytes) -> ResponseHead:
    """The status, reason and header fields of a response head (its blank line, and anything after, ignored)."""
    end = head_end(head)
    text = head[:end] if end >= 0 else head
    if len(text) > MAX_HEAD_BYTES:
        raise MalformedHead(f"the response head runs past {MAX_HEAD_BYTES} bytes")
    lines = [line.removesuffix("\r") for line in text.decode("latin-1").split("\n")]
    while lines and not lines[-1]:
        lines.pop()  # the blank line that ends the head
    status_line = lines[0] if lines else ""
    match = _STATUS_LINE.fullmatch(status_line)
    if not match:
        raise NotHttp(f"the server answered {status_line[:60]!r}, not HTTP")
    return ResponseHead(int(match[1]), match[2] or "", _fields(lines[1:]))


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not name:
                raise MalformedHead(f"the head's first field line is folded: {line[:60]!r}")
            fields[name] = f"{fields[name]} {line.strip()}".strip()
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            raise MalformedHead(f"a header line is not 'name: value': {line[:60]!r}")
        value = value.strip()
        if name == "content-length" and (not _DIGITS.fullmatch(value) or fields.get(name, value) != value):
            raise MalformedHead(f"the Content-Length is not one number: {value[:60]!r}")
        fields[name] = value
    return fields
