"""lambdash's own Lambda runtime loop: the Runtime API, standard library only, able to stream.

AWS's Python runtime interface client (awslambdaric) cannot stream a response, so
the function replaces it through ``AWS_LAMBDA_EXEC_WRAPPER`` (``exec-wrapper``,
beside this file), which runs ``python -m handler.runtime``. The loop takes each
invocation from ``/runtime/invocation/next`` and answers it:

- an event with ``"stream": true`` with a streamed response (chunked, with
  ``Lambda-Runtime-Function-Response-Mode: streaming``): the command's output as
  records while it runs (``handler.app.respond_streaming``); a failure after the
  first byte goes in the ``Lambda-Runtime-Function-Error-*`` trailers;
- every other event with exactly the JSON ``handler.app.handle`` returns, as under awslambdaric;
- an event that is not JSON with ``/error`` (``Runtime.UnmarshalError``); a failure
  to start with ``/init/error``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

API_VERSION = "2018-06-01"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"


class RuntimeContext:
    """What Lambda's context object offers a handler, from the /next headers and the environment."""

    def __init__(self, headers: http.client.HTTPMessage, environ: dict[str, str]) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        if not self._deadline_ms:
            return 900_000
        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeAPI:
    """One keep-alive connection to the Runtime API."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.connection = http.client.HTTPConnection(host, int(port))
        self.base = f"/{API_VERSION}/runtime"

    def _connect(self) -> None:
        if self.connection.sock is None:
            self.connection.connect()
            sock: socket.socket = self.connection.sock  # type: ignore[assignment]  # set by connect()
            # Headers and body of a chunk go in one write anyway; no waiting for acks in between.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def next(self) -> tuple[http.client.HTTPMessage, bytes]:
        self._connect()
        self.connection.request("GET", f"{self.base}/invocation/next")
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/invocation/next answered {response.status}: {body[:200]!r}")
        return response.headers, body

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._connect()
        self.connection.request("POST", f"{self.base}/{path}", body=body,
                                headers={"Content-Type": "application/json", **(headers or {})})
        self._finish(path)

    def stream(self, request_id: str, write: Callable[[Callable[[bytes], None]], None]) -> None:
        """A streamed response: ``write`` gets a ``send`` for each piece; a failure goes in the trailers."""
        self._connect()
        path = f"invocation/{request_id}/response"
        connection = self.connection
        connection.putrequest("POST", f"{self.base}/{path}", skip_accept_encoding=True)
        connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}")
        connection.endheaders()

        def send(data: bytes) -> None:
            if data:
                connection.send(b"%x\r\n%s\r\n" % (len(data), data))

        trailers = b""
        try:
            write(send)
        except Exception as problem:
            traceback.print_exc(file=sys.stderr)
            error = json.dumps({"errorType": type(problem).__name__, "errorMessage": str(problem)}).encode()
            trailers = (f"{ERROR_TYPE}: {type(problem).__name__}\r\n".encode()
                        + f"{ERROR_BODY}: ".encode() + base64.b64encode(error) + b"\r\n")
        connection.send(b"0\r\n" + trailers + b"\r\n")
        self._finish(path)

    def _finish(self, path: str) -> None:
        response = self.connection.getresponse()
        body = response.read()
        if response.status >= 300:
            print(f"lambdash runtime: /{path} answered {response.status}: {body[:200]!r}", file=sys.stderr,
                  flush=True)


def error_payload(problem: BaseException, error_type: str) -> bytes:
    return json.dumps({
        "errorType": error_type, "errorMessage": str(problem),
        "stackTrace": traceback.format_exception(problem),
    }).encode()


def serve_forever(api: RuntimeAPI, app: Any, environ: dict[str, str]) -> None:
    """Take invocations until the sandbox is shut down."""
    while True:
        headers, body = api.next()
        context = RuntimeContext(headers, environ)
        request_id = context.aws_request_id
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            event = json.loads(body) if body else {}
        except ValueError as problem:
            api.post(f"invocation/{request_id}/error", error_payload(problem, "Runtime.UnmarshalError"),
                     {ERROR_TYPE: "Runtime.UnmarshalError"})
            continue
        if isinstance(event, dict) and event.get("stream") is True:

            def answer_streaming(send: Callable[[bytes], None], event: Any = event,
                                 context: RuntimeContext = context) -> None:
                app.respond_streaming(event, context, send)

            api.stream(request_id, answer_streaming)
            continue
        try:
            answer = json.dumps(app.handle(event, context)).encode()
        except Exception as problem:  # the handler never raises, but an answer must go back whatever happens
            traceback.print_exc(file=sys.stderr)
            api.post(f"invocation/{request_id}/error", error_payload(problem, type(problem).__name__),
                     {ERROR_TYPE: type(problem).__name__})
            continue
        api.post(f"invocation/{request_id}/response", answer)


def main() -> None:
    environ = dict(os.environ)
    api = RuntimeAPI(environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        from handler import app
    except Exception as problem:
        traceback.print_exc(file=sys.stderr)
        api.post("init/error", error_payload(problem, "Runtime.ImportModuleError"),
                 {ERROR_TYPE: "Runtime.ImportModuleError"})
        sys.exit(1)
    serve_forever(api, app, environ)


if __name__ == "__main__":
    main()
