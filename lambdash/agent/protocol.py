"""The frames the thin client and the agent exchange over the socket.

A frame is one byte saying what it holds, four (big-endian) giving its length, then
that many bytes. The caller speaks first: one REQUEST (or CONTROL) of JSON. The
agent answers ACCEPTED or DECLINED (or one REPLY to a control), then streams
STDOUT and STDERR bytes as they are written, and asks for input with WANT (how
many bytes at most); the caller answers each WANT with one STDIN frame, empty at
the end of its input, so what is in flight stays bounded and a SIGNAL is never
stuck behind it. The caller sends SIGNAL (its number) when it gets SIGINT,
SIGTERM or SIGHUP, and STDOUT_CLOSED when its reader has gone. EXIT (the status)
is the last frame.

Standard library only, and light: the thin client imports it on every one-shot.
"""

from __future__ import annotations

import signal
import socket
import struct

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">cI")
# No frame is bigger: a request carries argv and the environment, and output comes in pieces.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# The most stdin asked for at once: enough for throughput, little enough that a SIGNAL follows it at once.
STDIN_CHUNK_BYTES = 1024 * 1024

# The signals the caller passes on, to be raised in the worker as they would be in the caller.
RELAYED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

# From the caller.
REQUEST = b"R"
CONTROL = b"C"
STDIN = b"I"
SIGNAL = b"S"
STDOUT_CLOSED = b"P"
# From the agent.
ACCEPTED = b"A"
DECLINED = b"D"
REPLY = b"J"
STDOUT = b"1"
STDERR = b"2"
WANT = b"W"
EXIT = b"X"
REFUSED = b"F"

NUMBER = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame, ready to send."""
    return HEADER.pack(kind, len(payload)) + payload


def number_frame(kind: bytes, value: int) -> bytes:
    """A frame holding one unsigned number (WANT, SIGNAL, EXIT)."""
    return frame(kind, NUMBER.pack(value))


def number(payload: bytes) -> int:
    """The number a WANT, SIGNAL or EXIT frame holds."""
    if len(payload) != NUMBER.size:
        raise ProtocolError(f"a number frame of {len(payload)} bytes")
    value: int = NUMBER.unpack(payload)[0]
    return value


class FrameReader:
    """Frames cut from bytes as they arrive, however the bytes are split."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """The frames completed by ``data``, in order."""
        self._pending += data
        frames = []
        while len(self._pending) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._pending)
            if size > MAX_FRAME_BYTES:
                raise ProtocolError(f"a frame of {size} bytes")
            end = HEADER.size + size
            if len(self._pending) < end:
                break
            frames.append((kind, bytes(self._pending[HEADER.size:end])))
            del self._pending[:end]
        return frames

    @property
    def partial(self) -> bool:
        """Whether a frame has begun and not ended (the stream broke in the middle of one)."""
        return bool(self._pending)


def read_frame(connection: socket.socket) -> tuple[bytes, bytes] | None:
    """The next frame from a blocking socket; None when the other side closed it between frames."""
    header = _read_exactly(connection, HEADER.size, allow_eof=True)
    if header is None:
        return None
    kind, size = HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"a frame of {size} bytes")
    payload = _read_exactly(connection, size, allow_eof=False) if size else b""
    return kind, payload or b""


def _read_exactly(connection: socket.socket, size: int, *, allow_eof: bool) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            if allow_eof and not data:
                return None
            raise ProtocolError("the connection closed in the middle of a frame")
        data += chunk
    return bytes(data)
