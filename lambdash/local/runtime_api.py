"""The Lambda Runtime API that one sandbox process polls for its invocations.

Each sandbox gets its own listener on loopback, as each Lambda execution
environment has its own ``AWS_LAMBDA_RUNTIME_API``. The runtime interface client
(awslambdaric) long-polls ``/invocation/next``, then posts ``/response`` or
``/error``; a failed import posts ``/init/error``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from lambdash.local.http import read_body, report_unless_disconnected, send_json

API_PREFIX = "/2018-06-01/runtime"
_INVOCATION_PATH = re.compile(rf"^{API_PREFIX}/invocation/(?P<id>[^/]+)/(?P<what>response|error)$")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


class InvocationEvent(Protocol):
    """What /next hands to the runtime."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None


class RuntimeCallbacks(Protocol):
    """The sandbox side: where the Runtime API sends what the runtime tells it."""

    max_response_bytes: int

    def next_invocation(self, is_closed: Callable[[], bool]) -> InvocationEvent | None: ...
    def invocation_response(self, request_id: str, body: bytes) -> bool: ...
    def invocation_error(self, request_id: str, error_type: str, body: bytes) -> bool: ...
    def response_too_large(self, request_id: str, size: int) -> None: ...
    def init_error(self, error_type: str, body: bytes) -> None: ...


class RuntimeAPIServer(ThreadingHTTPServer):
    """One sandbox's Runtime API, on an ephemeral loopback port."""

    daemon_threads = True

    def __init__(self, callbacks: RuntimeCallbacks, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _RuntimeAPIHandler)
        self.callbacks = callbacks
        self.closed = False
        # A short poll interval: shutdown() waits up to one interval, once per sandbox killed.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.closed:
            report_unless_disconnected(client_address)

    def close(self) -> None:
        self.closed = True
        self.shutdown()
        self.server_close()


class _RuntimeAPIHandler(BaseHTTPRequestHandler):
    server: RuntimeAPIServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would hold the second one back.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            send_json(self, HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})
            return
        event = self.server.callbacks.next_invocation(lambda: self.server.closed)
        if event is None:  # the sandbox is being shut down
            send_json(self, HTTPStatus.GONE, {"errorMessage": "sandbox shutting down"})
            return
        self.send_response(HTTPStatus.OK)
        # awslambdaric's native client crashes when Content-Type is missing.
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", event.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(event.deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", event.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", event.trace_id)
        if event.client_context:
            self.send_header("Lambda-Runtime-Client-Context", event.client_context)
        self.send_header("Content-Length", str(len(event.payload)))
        self.end_headers()
        self.wfile.write(event.payload)

    def do_POST(self) -> None:
        callbacks = self.server.callbacks
        if self.path == f"{API_PREFIX}/init/error":
            body = read_body(self)
            callbacks.init_error(self.headers.get(ERROR_TYPE_HEADER, "Runtime.Unknown"), body)
            send_json(self, HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        match = _INVOCATION_PATH.match(self.path)
        if match is None:
            read_body(self)
            send_json(self, HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})
            return
        request_id = match["id"]
        body = read_body(self)
        if match["what"] == "response":
            if len(body) > callbacks.max_response_bytes:
                callbacks.response_too_large(request_id, len(body))
                send_json(self, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {
                    "errorMessage": f"Exceeded maximum allowed payload size ({callbacks.max_response_bytes} bytes).",
                    "errorType": "RequestEntityTooLarge",
                })
                return
            accepted = callbacks.invocation_response(request_id, body)
        else:
            accepted = callbacks.invocation_error(request_id, self.headers.get(ERROR_TYPE_HEADER, "Unhandled"), body)
        if not accepted:
            send_json(self, HTTPStatus.BAD_REQUEST, {
                "errorMessage": f"Invalid request ID: {request_id}", "errorType": "InvalidRequestID",
            })
            return
        send_json(self, HTTPStatus.ACCEPTED, {"status": "OK"})


def error_body(message: str, error_type: str) -> bytes:
    """A Lambda-style error payload."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()
