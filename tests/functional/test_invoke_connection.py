"""The connection a buffered invoke waits on survives a NAT: keepalive probes after a minute of silence.

A buffered invoke hears nothing until the command ends, up to 900 s, and an AWS NAT
gateway drops a connection idle for 350 s; then the answer never arrives and the
client waits out its read timeout. SO_KEEPALIVE alone probes only after the
system's idle time (two hours on Linux), so the client's connection must say when.
The Lambda here is a small HTTP server on loopback; the options are read off the
client's socket as it opens.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target
from tests.helpers.servers import running, url_of


class AnswersEveryInvoke(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature of http.server's
        pass


@pytest.fixture
def lambda_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswersEveryInvoke)
    with running(server):
        yield url_of(server)


def test_a_buffered_invoke_waits_on_a_connection_probed_after_a_minute_of_silence(
    lambda_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: dict[tuple[int, int], int] = {}
    setsockopt = socket.socket.setsockopt
    caller = threading.get_ident()

    def record(sock: socket.socket, level: int, option: int, value: Any, *rest: Any) -> None:
        if threading.get_ident() == caller:  # the client's sockets, not the server's
            opened[(level, option)] = value
        setsockopt(sock, level, option, value, *rest)

    monkeypatch.setattr(socket.socket, "setsockopt", record)
    client = LambdaClient(Target(function="shell", region="us-east-1", endpoint_url=lambda_url))
    assert client.invoke(b"{}").payload == b'{"ok": true}'
    assert opened[(socket.SOL_SOCKET, socket.SO_KEEPALIVE)] == 1
    # Probes start well inside a NAT gateway's 350 s, and a dead peer is noticed within minutes.
    assert opened[(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)] <= 60
    assert opened[(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)] * opened[(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)] \
        <= 300
