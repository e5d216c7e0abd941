"""Small helpers shared by the emulator's two HTTP APIs (Invoke and Runtime)."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any


def report_unless_disconnected(client_address: Any) -> None:
    """socketserver's error hook: a peer that hung up (a killed sandbox, a Ctrl-C'd client) is routine."""
    problem = sys.exc_info()[1]
    if isinstance(problem, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
        return
    print(f"lambdash: local Lambda: error serving {client_address}: {problem!r}", file=sys.stderr)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read a request body sent with Content-Length or chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """Send a JSON body (or raw bytes) with the given status and extra headers."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)
