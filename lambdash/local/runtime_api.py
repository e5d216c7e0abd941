"""The Lambda Runtime API that one sandbox's runtime polls for its invocations.

Each sandbox gets its own listener on loopback, as each Lambda execution
environment has its own ``AWS_LAMBDA_RUNTIME_API``. The runtime long-polls
``/invocation/next``, then answers with ``/response`` or ``/error``; a failed start
posts ``/init/error``. A response comes whole (``Content-Length``, at most Lambda's
6 MB) or streamed: chunked, with ``Lambda-Runtime-Function-Response-Mode:
streaming``, each chunk passed on as it arrives, and a failure after the first
byte told in the ``Lambda-Runtime-Function-Error-Type`` and ``-Body`` trailers.
A caller that hangs up while it waits for the next invocation is given none: the
invocation stays for a caller still there.
"""

from __future__ import annotations

import base64
import json
import re
import select
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Protocol

from lambdash.local.http import GuardedRequestHandler, GuardedServer, HTTPProblem, send_json
from lambdash_handler.contract import LAMBDA_RESPONSE_LIMIT_BYTES

API_PREFIX = "/2018-06-01/runtime"
_INVOCATION_PATH = re.compile(rf"^{API_PREFIX}/invocation/(?P<id>[^/]+)/(?P<what>response|error)$")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
# A streamed response may be this big; past it Lambda ends the stream with an error.
STREAMED_RESPONSE_LIMIT_BYTES = 200 * 1024 * 1024
# Error bodies (stack traces) are small; a runtime sending more is refused.
ERROR_BODY_LIMIT_BYTES = 1024 * 1024
# Each connection's receive buffer (the kernel doubles it for its own bookkeeping).
RECEIVE_BUFFER_BYTES = 512 * 1024


class InvocationEvent(Protocol):
    """What /next hands to the runtime."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None


class ResponseSink(Protocol):
    """Where a response goes, as the runtime sends it."""

    def write(self, data: bytes) -> bool:
        """Take the next bytes; False when the response has become too big."""

    def finish(self, error_type: str | None = None, error_body: bytes = b"") -> None: ...

    def broke(self, message: str) -> None:
        """The response stopped short; unless the runtime turns out to have died, it is truncated."""


class RuntimeCallbacks(Protocol):
    """The sandbox side: where the Runtime API sends what the runtime tells it."""

    def next_invocation(self, is_closed: Callable[[], bool]) -> InvocationEvent | None:
        """The next invocation, once there is one; None once ``is_closed()`` (then none was taken)."""
    def response_sink(self, request_id: str) -> ResponseSink | None: ...
    def init_error(self, error_type: str, body: bytes) -> None: ...


class RuntimeAPIServer(GuardedServer):
    """One sandbox's Runtime API, on an ephemeral loopback port."""

    # The runtime's connections wait, without a deadline, as long as its sandbox is frozen between invocations.
    head_seconds = None
    keepalive_seconds = None

    def __init__(self, callbacks: RuntimeCallbacks, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _RuntimeAPIHandler)
        self.callbacks = callbacks
        # A short poll interval: shutdown() waits up to one interval, once per sandbox killed.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="runtime-api", daemon=True)

    def server_bind(self) -> None:
        # A bounded receive buffer (inherited by each connection), not one the kernel grows to
        # tens of MB: what a streaming runtime has sent but the caller has not yet been given
        # stays small, so the handler can judge what still reaches the caller by the deadline.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        super().server_bind()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        return f"{self.server_address[0]!s}:{self.port}"

    def start(self) -> None:
        self._thread.start()


class _RuntimeAPIHandler(GuardedRequestHandler):
    server: RuntimeAPIServer

    def send_problem(self, problem: HTTPProblem) -> None:
        send_json(self, problem.status, {"errorMessage": problem.message, "errorType": problem.error_type})

    def do_GET(self) -> None:
        try:
            self.refuse_browsers_and_strangers()
        except HTTPProblem as problem:
            self.send_problem(problem)
            return
        if self.path != f"{API_PREFIX}/invocation/next":
            self.send_problem(HTTPProblem(HTTPStatus.NOT_FOUND, "InvalidPath", f"unknown path {self.path}"))
            return
        event = self.server.callbacks.next_invocation(lambda: self.server.closed or self._caller_gone())
        if event is None:
            if self._caller_gone():
                self.close_connection = True
            else:  # the sandbox is being shut down
                self.send_problem(HTTPProblem(HTTPStatus.GONE, "SandboxShuttingDown", "sandbox shutting down"))
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

    def _caller_gone(self) -> bool:
        """Whether the caller hung up: its connection reads end-of-file (or was reset) with no request pending."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def do_POST(self) -> None:
        try:
            self.refuse_browsers_and_strangers()
            self._post()
        except HTTPProblem as problem:
            self.send_problem(problem)

    def _post(self) -> None:
        callbacks = self.server.callbacks
        if self.path == f"{API_PREFIX}/init/error":
            body = self.read_body(ERROR_BODY_LIMIT_BYTES)
            callbacks.init_error(self.headers.get(ERROR_TYPE_HEADER, "Runtime.Unknown"), body)
            send_json(self, HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        match = _INVOCATION_PATH.match(self.path)
        if match is None:
            raise HTTPProblem(HTTPStatus.NOT_FOUND, "InvalidPath", f"unknown path {self.path}")
        sink = callbacks.response_sink(match["id"])
        if sink is None:
            self.close_connection = True  # its body is not read
            raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidRequestID", f"Invalid request ID: {match['id']}")
        if match["what"] == "error":
            body = self.read_body(ERROR_BODY_LIMIT_BYTES)
            sink.finish(self.headers.get(ERROR_TYPE_HEADER, "Unhandled"), body)
        elif self.headers.get(RESPONSE_MODE_HEADER, "").lower() == "streaming":
            self._stream_to(sink)
        else:
            try:
                body = self.read_body(LAMBDA_RESPONSE_LIMIT_BYTES)
            except HTTPProblem as problem:
                if problem.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                    sink.finish("Function.ResponseSizeTooLarge", error_body(
                        f"Response payload size exceeded maximum allowed payload size "
                        f"({LAMBDA_RESPONSE_LIMIT_BYTES} bytes).", "Function.ResponseSizeTooLarge"))
                raise
            sink.write(body)
            sink.finish()
        send_json(self, HTTPStatus.ACCEPTED, {"status": "OK"})

    def _stream_to(self, sink: ResponseSink) -> None:
        """Pass each chunk on as it arrives; the trailers say whether the function failed after all."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            body = self.read_body(STREAMED_RESPONSE_LIMIT_BYTES)  # a stream sent whole is still a stream
            sink.write(body)
            sink.finish()
            return
        size = 0
        try:
            for chunk in self.read_chunks():
                size += len(chunk)
                if size > STREAMED_RESPONSE_LIMIT_BYTES or not sink.write(chunk):
                    sink.finish("Function.ResponseSizeTooLarge", error_body(
                        f"Response payload size exceeded maximum allowed payload size "
                        f"({STREAMED_RESPONSE_LIMIT_BYTES} bytes).", "Function.ResponseSizeTooLarge"))
                    self.close_connection = True
                    raise HTTPProblem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Function.ResponseSizeTooLarge",
                                      "the streamed response is too big")
        except HTTPProblem as problem:
            if problem.status == HTTPStatus.BAD_REQUEST:
                sink.broke(f"the runtime's streamed response broke off: {problem.message}")
            raise
        error_type = self.trailers.get(ERROR_TYPE_HEADER.lower())
        if error_type:
            sink.finish(error_type, _decoded_error_body(self.trailers.get(ERROR_BODY_TRAILER.lower(), ""), error_type))
        else:
            sink.finish()


def _decoded_error_body(encoded: str, error_type: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True) or error_body(error_type, error_type)
    except ValueError:
        return error_body(error_type, error_type)


def error_body(message: str, error_type: str) -> bytes:
    """A Lambda-style error payload."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()
