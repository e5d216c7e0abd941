"""The handler's runtime loop against a Runtime API that misbehaves: a connection dropped or reset.

The loop runs in process (``runtime.serve_forever`` with the real ``app``) against a
small Runtime API on loopback, written here, that follows a script: it answers each
request, drops the connection without answering, or resets it while a response is
coming in. A runtime that dies on a broken connection costs its sandbox a cold
start; this one opens a new connection and answers what can still be answered.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdash_handler import app
from lambdash_handler.runtime import RuntimeAPI, serve_forever


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    connection: int = 0


# What the fake Runtime API does with a request: answer it (status, headers, body), or break the connection.
DROP = "drop"  # close it without answering, once the request is read
RESET_AFTER_HEAD = "reset after head"  # reset it (RST) as soon as the request's head is read
Action = tuple[int, dict[str, str], bytes] | str


@dataclass
class FakeRuntimeAPI:
    """A Runtime API on loopback that acts on each request as ``script`` says, in order."""

    script: list[Callable[[Request], Action]]
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(30)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connections = 0
        while self.script:
            conn, _ = self._listener.accept()
            connections += 1
            conn.settimeout(30)
            # The file too must be closed for the connection to close.
            with conn, conn.makefile("rb") as reader:
                while self.script:
                    head = _read_head(reader)
                    if head is None:
                        break
                    request = Request(*head, connection=connections)
                    self.requests.append(request)
                    action = self.script.pop(0)(request)
                    if action == RESET_AFTER_HEAD:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        break
                    request.body = _read_body(reader, request.headers)
                    if action == DROP:
                        break
                    assert isinstance(action, tuple)
                    status, headers, body = action
                    lines = [f"HTTP/1.1 {status} X", *(f"{name}: {value}" for name, value in headers.items()),
                             f"Content-Length: {len(body)}"]
                    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=30)


def _read_head(reader: Any) -> tuple[str, str, dict[str, str]] | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _read_body(reader: Any, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(reader.readline().split(b";")[0], 16):
            body += reader.read(size)
            reader.readline()
        while reader.readline() not in (b"\r\n", b""):
            pass
        return body
    return bytes(reader.read(int(headers.get("content-length") or 0)))


def invocation(request_id: str, event: dict[str, Any], **headers: str) -> Callable[[Request], Action]:
    """Answer /next with this event."""

    def answer(request: Request) -> Action:
        assert (request.method, request.path) == ("GET", "/2018-06-01/runtime/invocation/next"), request
        return 200, {"Lambda-Runtime-Aws-Request-Id": request_id,
                     "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000), **headers}, \
            json.dumps(event).encode()

    return answer


def accept(path: str) -> Callable[[Request], Action]:
    """Take what is posted to ``path`` (under /2018-06-01/runtime/)."""

    def answer(request: Request) -> Action:
        assert (request.method, request.path) == ("POST", f"/2018-06-01/runtime/{path}"), request
        return 202, {}, b'{"status":"OK"}'

    return answer


def then(action: Action, expected: str) -> Callable[[Request], Action]:
    """Break the connection on the request for ``expected`` (a path under /2018-06-01/runtime/)."""

    def answer(request: Request) -> Action:
        assert request.path == f"/2018-06-01/runtime/{expected}", request
        return action

    return answer


def no_more_invocations(request: Request) -> Action:
    """The sandbox is shut down: /next answers an error, which ends the loop in the test."""
    return 500, {}, b"the test is over"


@pytest.fixture
def run_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[FakeRuntimeAPI], None]]:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    servers: list[FakeRuntimeAPI] = []

    def run(server: FakeRuntimeAPI) -> None:
        servers.append(server)
        with pytest.raises(RuntimeError, match="answered 500"):
            serve_forever(RuntimeAPI(server.address), app, {"AWS_LAMBDA_FUNCTION_NAME": "lambdash"})
        assert server.script == []

    yield run
    for server in servers:
        server.close()


def stdout_of(answer: bytes) -> bytes:
    return base64.b64decode(json.loads(answer)["stdout"]["data"])


def test_a_dropped_next_is_asked_again_on_a_new_connection(run_loop: Callable[[FakeRuntimeAPI], None]) -> None:
    server = FakeRuntimeAPI([
        then(DROP, "invocation/next"),
        invocation("one", {"v": 1, "command": "echo answered"}),
        accept("invocation/one/response"),
        no_more_invocations,
    ])
    run_loop(server)
    answered = server.requests[2]
    assert (answered.connection, stdout_of(answered.body)) == (2, b"answered\n")


def test_a_buffered_answer_whose_connection_breaks_is_posted_again(
    run_loop: Callable[[FakeRuntimeAPI], None],
) -> None:
    server = FakeRuntimeAPI([
        invocation("one", {"v": 1, "command": "echo answered"}),
        then(DROP, "invocation/one/response"),
        accept("invocation/one/response"),
        no_more_invocations,
    ])
    run_loop(server)
    first, again = server.requests[1], server.requests[2]
    assert first.body == again.body
    assert (again.connection, stdout_of(again.body)) == (2, b"answered\n")


def test_a_stream_reset_while_answering_is_answered_with_an_error_and_the_loop_goes_on(
    run_loop: Callable[[FakeRuntimeAPI], None],
) -> None:
    server = FakeRuntimeAPI([
        invocation("one", {"v": 1, "command": "echo streamed", "stream": True}),
        then(RESET_AFTER_HEAD, "invocation/one/response"),
        accept("invocation/one/error"),
        invocation("two", {"v": 1, "command": "echo next"}),
        accept("invocation/two/response"),
        no_more_invocations,
    ])
    run_loop(server)
    error = server.requests[2]
    assert error.headers["lambda-runtime-function-error-type"] == "Runtime.ResponseStreamBroken"
    assert json.loads(error.body)["errorMessage"].startswith("the streamed response broke: ")
    assert stdout_of(server.requests[4].body) == b"next\n"


def test_each_invocation_sees_its_own_trace_id_or_none(run_loop: Callable[[FakeRuntimeAPI], None]) -> None:
    show = {"v": 1, "command": 'printf %s "${_X_AMZN_TRACE_ID-none}"'}
    server = FakeRuntimeAPI([
        invocation("one", show, **{"Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"}),
        accept("invocation/one/response"),
        invocation("two", show),
        accept("invocation/two/response"),
        no_more_invocations,
    ])
    run_loop(server)
    assert stdout_of(server.requests[1].body) == b"Root=1-5759e988-bd862e3fe1be46a994272793"
    assert stdout_of(server.requests[3].body) == b"none"
    assert "_X_AMZN_TRACE_ID" not in os.environ
