"""Servers a test runs in a thread on loopback, for as long as a ``with`` block lasts."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

Server = TypeVar("Server", bound=socketserver.BaseServer)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """``server`` serving in a daemon thread; shut down and closed at the end of the block."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: socketserver.TCPServer, scheme: str = "http") -> str:
    """The loopback URL ``server`` listens on."""
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"
