"""The HTTP check against a server on loopback that answers with exactly the bytes each test gives it.

What the check reports (its verdict, detail and hint) for answers a real server
may send: folded and repeated fields, a head that is not HTTP, one that is
malformed, and one too big to be a head.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lambdash_handler.checks import run_checks
from lambdash_handler.http_head import MAX_HEAD_BYTES


class CannedServer:
    """Answers each connection with the bytes for its request path, then closes it."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else "/"
                try:
                    connection.sendall(self.answers.get(path, b"HTTP/1.1 404 Not Found\r\n\r\n"))
                except OSError:
                    pass  # the check gave up reading: an oversized head

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    canned = CannedServer({
        "/folded": b"HTTP/1.1 302 Found\r\nLocation:\r\n /end\r\nContent-Length: 0\r\n\r\n",
        "/twice": b"HTTP/1.1 302 Found\r\nLocation: /nowhere\r\nLocation: /end\r\nContent-Length: 0\r\n\r\n",
        "/end": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
        "/ssh": b"SSH-2.0-OpenSSH_9.6\r\n",
        "/no-colon": b"HTTP/1.1 200 OK\r\nthis is not a field\r\n\r\n",
        "/endless": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * (2 * MAX_HEAD_BYTES),
    })
    yield canned
    canned.sock.close()


def check(url: str) -> dict[str, Any]:
    result: dict[str, Any] = run_checks([url], timeout=5)["checks"][0]
    return result


def test_a_folded_location_is_followed(server: CannedServer) -> None:
    result = check(server.url("/folded"))
    assert (result["ok"], result["verdict"]) == (True, "HTTP 200")
    assert [(hop["status"], hop.get("location")) for hop in result["facts"]["hops"]] == [(302, "/end"), (200, None)]


def test_of_a_repeated_location_the_last_is_followed(server: CannedServer) -> None:
    result = check(server.url("/twice"))
    assert [hop["url"] for hop in result["facts"]["hops"]] == [server.url("/twice"), server.url("/end")]
    assert result["verdict"] == "HTTP 200"


def test_a_server_that_does_not_speak_http_is_told(server: CannedServer) -> None:
    result = check(server.url("/ssh"))
    assert (result["ok"], result["verdict"]) == (False, "no HTTP answer")
    assert result["detail"] == "the server answered 'SSH-2.0-OpenSSH_9.6', not HTTP"
    assert result["hint"] == "something other than an HTTP server listens there (TLS expected, or another protocol)"


def test_a_malformed_head_is_a_bad_http_answer(server: CannedServer) -> None:
    result = check(server.url("/no-colon"))
    assert (result["ok"], result["verdict"]) == (False, "bad HTTP answer")
    assert result["detail"] == "a header line is not 'name: value': 'this is not a field'"
    assert result["hint"] == "the server answers in HTTP that clients cannot read"


def test_a_head_past_its_bound_is_a_bad_http_answer(server: CannedServer) -> None:
    result = check(server.url("/endless"))
    assert (result["ok"], result["verdict"]) == (False, "bad HTTP answer")
    assert result["detail"] == f"the response head runs past {MAX_HEAD_BYTES} bytes"
