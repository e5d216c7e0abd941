"""Tunnels end to end: the installed ``lambdash forward`` against the local Lambda and its embedded moto.

A server the test starts on loopback is reached through the tunnel, each
connection carried by a session of its own, and what arrives is compared byte for byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.helpers import LiveLambdash, free_port, run_lambdash, serving, still_running, wait_until

BLOB = os.urandom(5 * 1024 * 1024)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """One `lambdash serve` for the module: its sandboxes stay warm between tests."""
    with serving("--timeout", "120") as url:
        yield url


class _Blob(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLOB)))
        self.end_headers()
        self.wfile.write(BLOB)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the stdlib's name)
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Blob)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _ready(tunnel: LiveLambdash, port: int) -> None:
    tunnel.wait_for_stderr(f"forwarding 127.0.0.1:{port} to ".encode(), timeout=90)


def _relays() -> set[int]:
    """Sandbox relays (the tunnel's remote command) still alive on this machine."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if b"s.shutdown(socket.SHUT_WR)" in cmdline.read():
                        found.add(int(entry))
            except OSError:
                continue
    return still_running(found)


def test_a_5_mb_download_through_forward_is_exact_with_python_http_client(endpoint: str, http_port: int) -> None:
    port = free_port()
    with LiveLambdash("--endpoint-url", endpoint, "forward", f"{port}:127.0.0.1:{http_port}") as tunnel:
        _ready(tunnel, port)
        for _ in range(2):  # each connection opens a session of its own
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
            connection.request("GET", "/blob")
            response = connection.getresponse()
            assert response.status == 200
            assert hashlib.sha256(response.read()).hexdigest() == hashlib.sha256(BLOB).hexdigest()
            connection.close()
        tunnel.interrupt()
        assert tunnel.finish() == 130
    wait_until(lambda: not _relays(), timeout=30, message=lambda: f"relays left: {_relays()}")


def test_half_close_both_ways_and_ctrl_c_leaves_nothing_behind(endpoint: str) -> None:
    # A server that reads until the client's EOF, then answers with the sha256 of what came, and closes
    # (the route's probe connects to it first).
    listener = socket.create_server(("127.0.0.1", 0))
    server_port = listener.getsockname()[1]

    def answer(connection: socket.socket) -> None:
        digest = hashlib.sha256()
        while data := connection.recv(65536):
            digest.update(data)
        with contextlib.suppress(OSError):
            connection.sendall(digest.hexdigest().encode())
        connection.close()

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    port = free_port()
    with LiveLambdash("--endpoint-url", endpoint, "forward", f"{port}:127.0.0.1:{server_port}") as tunnel:
        _ready(tunnel, port)
        data = os.urandom(700_000)
        with socket.create_connection(("127.0.0.1", port), timeout=90) as client:
            client.sendall(data)
            client.shutdown(socket.SHUT_WR)
            received = bytearray()
            while chunk := client.recv(65536):
                received += chunk
        assert bytes(received) == hashlib.sha256(data).hexdigest().encode()
        # A connection left open when Ctrl-C comes: its relay in the sandbox ends too.
        idle = socket.create_connection(("127.0.0.1", port), timeout=90)
        wait_until(lambda: bool(_relays()), timeout=60, message=lambda: "no relay started for the open connection")
        pid = tunnel.process.pid
        tunnel.interrupt()
        assert tunnel.finish() == 130
        idle.close()
    assert not still_running({pid})
    wait_until(lambda: not _relays(), timeout=30, message=lambda: f"relays left: {_relays()}")
    listener.close()


def test_a_route_the_function_cannot_reach_is_said_in_one_line(endpoint: str) -> None:
    closed = free_port()
    result = run_lambdash("--endpoint-url", endpoint, "forward", f"{free_port()}:127.0.0.1:{closed}")
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"lambdash: error: 127.0.0.1:{closed} is not reachable from the function: refused")


@pytest.mark.parametrize("spec", ["8080", "8080:host", "1:host:2:3", "0:host:80", "80:host:99999", "a:b:c:d:e"])
def test_a_bad_forward_is_a_usage_error(spec: str) -> None:
    result = run_lambdash("forward", spec)
    assert result.returncode == 255
    assert result.stderr.decode().startswith("lambdash: error: bad ")
    assert len(result.stderr.decode().splitlines()) == 1
