"""The framing of a streamed response: a preamble, then self-describing records.

A streamed response starts with ``PREAMBLE`` (the magic and the framing's
version), then carries records as the command writes: one type byte, a 4-byte
big-endian length, and that many bytes of payload.

- ``o`` and ``e``: bytes the command wrote to stdout and stderr, raw (no base64);
- ``h``: a heartbeat, empty, sent after every ``HEARTBEAT_SECONDS`` of silence;
- ``s``: a session's own news, JSON with an ``event`` (see ``session``): first ``open``,
  saying where the client sends input and with which credentials;
- ``r``: the result, last: JSON with the same fields as a buffered response (exit
  status, signal, timed_out, truncation facts, state, timings, sandbox, request id),
  and for each stream what was streamed and where the rest is (spilled, or cut).

Both the handler (which writes) and the client (which reads) use this module, so
they cannot disagree about it. Standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

PREAMBLE = b"LAMBDASH-STREAM/1\n"
STDOUT, STDERR, HEARTBEAT, RESULT, SESSION = b"o", b"e", b"h", b"r", b"s"
RECORD_TYPES = frozenset({STDOUT, STDERR, HEARTBEAT, RESULT, SESSION})
# A record carries at most this much of a stream: output reaches the client in small pieces.
MAX_CHUNK_BYTES = 64 * 1024
# Lambda drops a response stream that stays silent; a heartbeat well inside that keeps it open.
HEARTBEAT_SECONDS = 10.0
_HEADER = struct.Struct(">cI")
RECORD_HEADER_BYTES = _HEADER.size
# A result record is JSON of a few kilobytes; anything claiming more is not this framing.
_MAX_RECORD_BYTES = 16 * 1024 * 1024


def encode_record(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class NotFramed(Exception):
    """The bytes do not start with the preamble: the answer is something else (a buffered JSON)."""


class BadFraming(Exception):
    """The bytes started as a framed stream but then broke the framing."""


class RecordReader:
    """Reads records out of the bytes of a stream as they arrive, in any pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._started = False
        self.unframed = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The complete records that ``data`` finishes, as (type, payload).

        Raises NotFramed when the stream turns out not to begin with the preamble;
        the bytes seen so far are then in ``unframed``.
        """
        self._buffer += data
        if not self._started:
            if len(self._buffer) < len(PREAMBLE):
                if not PREAMBLE.startswith(bytes(self._buffer)):
                    self.unframed = self._buffer
                    raise NotFramed()
                return
            if not self._buffer.startswith(PREAMBLE):
                self.unframed = self._buffer
                raise NotFramed()
            del self._buffer[:len(PREAMBLE)]
            self._started = True
        while len(self._buffer) >= _HEADER.size:
            kind, size = _HEADER.unpack_from(self._buffer)
            if kind not in RECORD_TYPES or size > _MAX_RECORD_BYTES:
                raise BadFraming(f"unknown record {kind!r} of {size} bytes")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_HEADER.size:end])
            del self._buffer[:end]
            yield kind, payload

    @property
    def started(self) -> bool:
        return self._started

    @property
    def pending(self) -> int:
        """Bytes of a record begun but not finished."""
        return len(self._buffer)
