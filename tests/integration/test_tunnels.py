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
import shutil
import signal
import socket
import subprocess
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


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_or_a_closed_terminal_ends_every_relay_as_ctrl_c_does(endpoint: str, signum: int,
                                                                       status: int) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nothing ever answers
    port = free_port()
    with LiveLambdash("--endpoint-url", endpoint, "forward", f"{port}:127.0.0.1:{silent.getsockname()[1]}") as tunnel:
        _ready(tunnel, port)
        before = _relays()
        idle = socket.create_connection(("127.0.0.1", port), timeout=90)
        wait_until(lambda: bool(_relays() - before), timeout=60,
                   message=lambda: "no relay started for the open connection")
        pid = tunnel.process.pid
        tunnel.process.send_signal(signum)
        assert tunnel.finish() == status
        assert idle.recv(1) == b""  # the tunnel closed the connection on its way out
        idle.close()
    assert not still_running({pid})
    wait_until(lambda: not _relays(), timeout=30, message=lambda: f"relays left: {_relays()}")
    silent.close()


def test_a_route_the_function_cannot_reach_is_said_in_one_line(endpoint: str) -> None:
    closed = free_port()
    result = run_lambdash("--endpoint-url", endpoint, "forward", f"{free_port()}:127.0.0.1:{closed}")
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"lambdash: error: 127.0.0.1:{closed} is not reachable from the function: refused")


def _socks_connect(port: int, host: bytes, to: int) -> tuple[socket.socket, int]:
    """A SOCKS5 CONNECT to a domain name (resolved by the sandbox) through the proxy: the socket and its reply code."""
    client = socket.create_connection(("127.0.0.1", port), timeout=90)
    client.sendall(b"\x05\x01\x00")
    assert client.recv(2) == b"\x05\x00"
    client.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host + to.to_bytes(2, "big"))
    reply = bytearray()
    while len(reply) < 10:
        chunk = client.recv(10 - len(reply))
        assert chunk, f"the proxy closed after {bytes(reply)!r}"
        reply += chunk
    return client, reply[1]


def test_socks_carries_several_downloads_at_once_exact(endpoint: str, http_port: int) -> None:
    port = free_port()
    with LiveLambdash("--endpoint-url", endpoint, "socks", str(port)) as proxy:
        proxy.wait_for_stderr(f"SOCKS5 on 127.0.0.1:{port}".encode(), timeout=90)
        digests: list[str] = []

        def fetch() -> None:
            client, code = _socks_connect(port, b"localhost", http_port)
            assert code == 0
            client.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
            received = bytearray()
            while chunk := client.recv(65536):
                received += chunk
            client.close()
            digests.append(hashlib.sha256(bytes(received).split(b"\r\n\r\n", 1)[1]).hexdigest())

        fetchers = [threading.Thread(target=fetch) for _ in range(4)]
        for fetcher in fetchers:
            fetcher.start()
        for fetcher in fetchers:
            fetcher.join(timeout=120)
        assert digests == [hashlib.sha256(BLOB).hexdigest()] * 4, bytes(proxy.stderr)
        # A port nothing listens on: the SOCKS reply says "connection refused" (5).
        client, code = _socks_connect(port, b"127.0.0.1", free_port())
        client.close()
        assert code == 5
        proxy.interrupt()
        assert proxy.finish() == 130
    wait_until(lambda: not _relays(), timeout=30, message=lambda: f"relays left: {_relays()}")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_through_socks_with_remote_names(endpoint: str, http_port: int) -> None:
    port = free_port()
    with LiveLambdash("--endpoint-url", endpoint, "socks", str(port)) as proxy:
        proxy.wait_for_stderr(f"SOCKS5 on 127.0.0.1:{port}".encode(), timeout=90)
        curl = subprocess.run(["curl", "-sS", "--noproxy", "", "--socks5-hostname", f"127.0.0.1:{port}",
                               f"http://localhost:{http_port}/blob"], capture_output=True, timeout=120)
        assert curl.returncode == 0, curl.stderr
        assert hashlib.sha256(curl.stdout).hexdigest() == hashlib.sha256(BLOB).hexdigest()
        proxy.interrupt()
        assert proxy.finish() == 130


@pytest.mark.parametrize("spec", ["8080", "8080:host", "1:host:2:3", "0:host:80", "80:host:99999", "a:b:c:d:e"])
def test_a_bad_forward_is_a_usage_error(spec: str) -> None:
    result = run_lambdash("forward", spec)
    assert result.returncode == 255
    assert result.stderr.decode().startswith("lambdash: error: bad ")
    assert len(result.stderr.decode().splitlines()) == 1


def test_a_connection_cut_by_the_time_limit_is_said_and_the_next_one_opens(endpoint: str, http_port: int) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    port, other = free_port(), free_port()
    with LiveLambdash("--endpoint-url", endpoint, "forward", "--timeout", "2", f"{port}:127.0.0.1:{http_port}",
                      f"{other}:127.0.0.1:{silent.getsockname()[1]}") as tunnel:
        _ready(tunnel, port)
        with socket.create_connection(("127.0.0.1", other), timeout=90) as idle:
            tunnel.wait_for_stderr(b"was cut by the function's time limit after ", timeout=60)
            assert idle.recv(1) == b""
        line = next(text for text in bytes(tunnel.stderr).decode().splitlines() if "was cut" in text)
        assert line.startswith("lambdash: connection 1 from 127.0.0.1:")
        assert f"to 127.0.0.1:{silent.getsockname()[1]} was cut" in line
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        connection.request("GET", "/blob")
        assert connection.getresponse().status == 200
        connection.close()
        tunnel.interrupt()
        assert tunnel.finish() == 130
    silent.close()
