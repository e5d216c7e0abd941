"""The session channel: what travels up the queue, and the session record that comes down the stream.

A session is one streamed invocation plus an uplink: an SQS FIFO queue the
handler makes for it, reads while the command runs, and deletes when it ends.
The client sends messages to that queue with short-lived credentials the
handler hands out in the stream's first record (``SESSION``, kind ``open``),
allowed to do nothing but send to that one queue.

A message body is JSON text (SQS carries text only): ``{"n": SEQ, "e": [EVENT...]}``,
``SEQ`` counting from 1, each event a list:

- ``["i", BASE64]``: bytes for the command's stdin (or keystrokes, with a terminal);
- ``["eof"]``: the end of input;
- ``["w", ROWS, COLUMNS]``: the window size changed;
- ``["s", NAME]``: a signal for the command's foreground process group (``SIGNALS``).

The queue is FIFO: one message group keeps the order, and the sequence number
is the deduplication id, so a send the client retries is delivered once. Both
sides use this module; standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Every session queue's name starts so (and ends ".fifo"); stale ones are swept by this prefix.
QUEUE_PREFIX = "lambdash-session-"
# The role the handler assumes to hand out credentials that may only send to the session's queue.
SESSION_ROLE_NAME = "lambdash-session"
# The environment variable naming that role's ARN (deploy sets it; the local Lambda too).
ENV_SESSION_ROLE = "LAMBDASH_SESSION_ROLE"
# The tag holding a queue's creation time (seconds since the epoch), for people and for the sweep.
CREATED_TAG = "lambdash:created"
# The one message group of a session queue: FIFO order is kept within a group.
MESSAGE_GROUP = "input"
# SQS takes at most 256 KiB of message body (and of a whole batch).
MAX_MESSAGE_BYTES = 256 * 1024
# Raw input per message: base64 makes it 4/3 bigger, and the JSON around it needs a little room.
MAX_INPUT_PER_MESSAGE_BYTES = (MAX_MESSAGE_BYTES - 1024) // 4 * 3
# A session lasts at most the function's timeout, and no function runs longer than 900 s:
# a queue older than that and a margin belongs to no live session.
STALE_QUEUE_SECONDS = 900 + 300
# The handed-out credentials last this long: STS's minimum, and no session outlives it.
CREDENTIAL_SECONDS = 900
# The signals a client may send, by name, as the terminal's keys make them.
SIGNALS = ("INT", "QUIT", "TERM", "HUP", "KILL", "WINCH")
# The kinds of a SESSION record's JSON ("event").
OPEN = "open"


class BadMessage(Exception):
    """A message body that is not this framing."""


@dataclass(frozen=True)
class Input:
    data: bytes


@dataclass(frozen=True)
class EndOfInput:
    pass


@dataclass(frozen=True)
class WindowSize:
    rows: int
    columns: int


@dataclass(frozen=True)
class Signal:
    name: str


Event = Input | EndOfInput | WindowSize | Signal


def encode_message(sequence: int, events: Iterable[Event]) -> str:
    """The body of one message carrying ``events`` in order."""
    encoded: list[list[object]] = []
    for event in events:
        if isinstance(event, Input):
            encoded.append(["i", base64.b64encode(event.data).decode("ascii")])
        elif isinstance(event, EndOfInput):
            encoded.append(["eof"])
        elif isinstance(event, WindowSize):
            encoded.append(["w", event.rows, event.columns])
        else:
            encoded.append(["s", event.name])
    return json.dumps({"n": sequence, "e": encoded}, separators=(",", ":"))


def message_size(events: Iterable[Event]) -> int:
    """The body size of a message holding ``events`` (with a sequence number of up to 12 digits)."""
    return len(encode_message(10**12, events))


def decode_message(body: str) -> tuple[int, list[Event]]:
    """The sequence number and the events of one message body; BadMessage when it is not this framing."""
    try:
        document = json.loads(body)
    except ValueError:
        raise BadMessage("not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("n"), int) or not isinstance(
            document.get("e"), list):
        raise BadMessage("not a session message")
    return document["n"], list(_events(document["e"]))


def _events(raw: list[object]) -> Iterator[Event]:
    for item in raw:
        if not isinstance(item, list) or not item:
            raise BadMessage("an event is not a list")
        kind, rest = item[0], item[1:]
        if kind == "i" and len(rest) == 1 and isinstance(rest[0], str):
            try:
                yield Input(base64.b64decode(rest[0], validate=True))
            except (binascii.Error, ValueError):
                raise BadMessage("input is not base64") from None
        elif kind == "eof":
            yield EndOfInput()
        elif kind == "w" and len(rest) == 2 and all(_size(value) for value in rest):
            yield WindowSize(*(int(str(value)) for value in rest))
        elif kind == "s" and len(rest) == 1 and rest[0] in SIGNALS:
            yield Signal(str(rest[0]))
        else:
            raise BadMessage(f"unknown event {kind!r}")


def _size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10_000
