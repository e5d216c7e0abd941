"""AWS event-stream messages, as Lambda's InvokeWithResponseStream sends them.

Each message is a prelude (total length, headers length, CRC32 of those eight
bytes), the headers, the payload, and a CRC32 of everything before it. Headers here
are always strings (type 7). botocore's ``EventStreamBuffer`` is the reader.
"""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return struct.pack(">B", len(name_bytes)) + name_bytes + struct.pack(">BH", _STRING, len(value_bytes)) + value_bytes


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event: bytes of the function's response."""
    return encode_message(
        {":event-type": "PayloadChunk", ":content-type": "application/octet-stream", ":message-type": "event"}, data,
    )


def invoke_complete(error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
                    ) -> bytes:
    """The ``InvokeComplete`` event that ends every stream: the error, if any, and the log tail."""
    body = {key: value for key, value in
            (("ErrorCode", error_code), ("ErrorDetails", error_details), ("LogResult", log_result)) if value}
    return encode_message(
        {":event-type": "InvokeComplete", ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode(),
    )
