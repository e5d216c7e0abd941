"""lambdash's own Lambda runtime loop: the Runtime API, standard library only, able to stream.

AWS's Python runtime interface client (awslambdaric) cannot stream a response, so
the function replaces it through ``AWS_LAMBDA_EXEC_WRAPPER`` (``exec-wrapper``,
beside this file), which runs ``python -m lambdash_handler.runtime``. The loop takes each
invocation from ``/runtime/invocation/next`` and answers it:

- an event with ``"stream": true`` with a streamed response (chunked, with
  ``Lambda-Runtime-Function-Response-Mode: streaming``): the command's output as
  records while it runs (``app.respond_streaming``); a failure after the
  first byte goes in the ``Lambda-Runtime-Function-Error-*`` trailers;
- every other event with exactly the JSON ``app.handle`` returns, as under awslambdaric;
- an event that is not JSON with ``/error`` (``Runtime.UnmarshalError``); a failure
  to start with ``/init/error``.

A connection to the Runtime API that breaks does not end the loop (a new runtime
would cost a cold start): ``/next`` and a buffered answer are sent once more on a new
connection, and a streamed answer cut off is followed by an error for its invocation.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from .http_head import parse_head, read_head

API_VERSION = "2018-06-01"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
# The error type of an invocation whose streamed response lost its connection to the Runtime API.
STREAM_BROKEN = "Runtime.ResponseStreamBroken"
# The connection's send buffer (the kernel doubles it for its own bookkeeping).
SEND_BUFFER_BYTES = 512 * 1024


class RuntimeContext:
    """What Lambda's context object offers a handler, from the /next headers and the environment."""

    def __init__(self, headers: dict[str, str], environ: dict[str, str]) -> None:
        """``headers``: the /next answer's, names lower-cased."""
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id", "")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn", "")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
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
    """One keep-alive HTTP/1.1 connection to the Runtime API, spoken directly on a socket.

    The Runtime API is on loopback and answers every call with a small body, so a
    dozen lines of HTTP are all it takes (the head is read by ``http_head``, as the
    HTTP check reads its own); http.client's header parsing alone would cost more
    than the rest of a warm ``true``.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.base = f"/{API_VERSION}/runtime"
        self._socket: socket.socket | None = None
        self._reader: Any = None

    def _connection(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.create_connection(self.address)
            # Each request goes out in one write; no waiting for acks in between.
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A bounded send buffer: what is handed to the socket but not yet on its way counts
            # against the deadline (streaming's IN_FLIGHT_ALLOWANCE_BYTES), so keep it known.
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            self._reader = self._socket.makefile("rb")
        return self._socket

    def _request(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> None:
        lines = [f"{method} {self.base}/{path} HTTP/1.1", f"Host: {self.address[0]}:{self.address[1]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self._connection().sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def _response(self) -> tuple[int, dict[str, str], bytes]:
        """The status, the headers (names lower-cased) and the body of the answer to the last request."""
        reader = self._reader
        raw_head = read_head(reader.readline)
        if not raw_head:
            self.close()
            raise ConnectionError("the Runtime API closed the connection")
        head = parse_head(raw_head)
        headers = head.headers
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(reader.readline().split(b";")[0], 16):
                parts.append(reader.read(size))
                reader.readline()
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            body = b"".join(parts)
        else:
            body = reader.read(int(headers.get("content-length") or 0))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return head.status, headers, body

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None

    def next(self) -> tuple[dict[str, str], bytes]:
        """The next invocation's headers and event; a broken connection is opened again and asked once more.

        A runtime that died here would cost its sandbox a cold start.
        """
        try:
            return self._next()
        except OSError as problem:
            self._broken("/invocation/next", problem)
            return self._next()

    def _next(self) -> tuple[dict[str, str], bytes]:
        self._request("GET", "invocation/next", {}, None)
        status, headers, body = self._response()
        if status != 200:
            raise RuntimeError(f"/invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        """POST an answer; on a broken connection, once more on a new one (a second answer is refused, and logged)."""
        for attempt in (1, 2):
            try:
                self._request("POST", path, {"Content-Type": "application/json", **(headers or {})}, body)
                self._finish(path)
                return
            except OSError as problem:
                self._broken(f"/{path}", problem, retrying=attempt == 1)

    def stream(self, request_id: str, write: Callable[[Callable[[bytes], None]], None]) -> None:
        """A streamed response: ``write`` gets a ``send`` for each piece; a failure goes in the trailers.

        When the connection breaks, what is left is not sent: the invocation is
        answered with an error instead, on a new connection, if Lambda still takes one
        (nothing runs when not even the response's head could be sent).
        """
        path = f"invocation/{request_id}/response"
        try:
            self._request("POST", path, {
                "Lambda-Runtime-Function-Response-Mode": "streaming",
                "Content-Type": "application/octet-stream",
                "Transfer-Encoding": "chunked",
                "Trailer": f"{ERROR_TYPE}, {ERROR_BODY}",
            }, None)
            self._send_stream(path, write)
        except OSError as problem:
            self._broken(f"/{path}", problem)
            failure = ConnectionError(f"the streamed response broke: {problem}")
            self.post(f"invocation/{request_id}/error", error_payload(failure, STREAM_BROKEN),
                      {ERROR_TYPE: STREAM_BROKEN})

    def _send_stream(self, path: str, write: Callable[[Callable[[bytes], None]], None]) -> None:
        """The body of a streamed response, in chunks, then its end; OSError when the connection broke."""
        connection = self._connection()
        broken: list[OSError] = []

        def send(data: bytes) -> None:
            if broken:
                raise broken[0]
            if data:
                try:
                    connection.sendall(b"%x\r\n%s\r\n" % (len(data), data))
                except OSError as problem:
                    broken.append(problem)
                    raise

        trailers = b""
        try:
            write(send)
        except Exception as problem:
            if broken:
                raise broken[0] from None
            traceback.print_exc(file=sys.stderr)
            error = json.dumps({"errorType": type(problem).__name__, "errorMessage": str(problem)}).encode()
            trailers = (f"{ERROR_TYPE}: {type(problem).__name__}\r\n".encode()
                        + f"{ERROR_BODY}: ".encode() + base64.b64encode(error) + b"\r\n")
        if broken:  # the app went on without the stream (its output spilled, or lost and counted)
            raise broken[0]
        connection.sendall(b"0\r\n" + trailers + b"\r\n")
        self._finish(path)

    def _broken(self, what: str, problem: OSError, *, retrying: bool = False) -> None:
        """Drop a connection that broke (the next request opens another), and say so in the log."""
        self.close()
        then = "; trying again on a new connection" if retrying else ""
        print(f"lambdash runtime: the connection to the Runtime API broke on {what} "
              f"({type(problem).__name__}: {problem}){then}", file=sys.stderr, flush=True)

    def _finish(self, path: str) -> None:
        status, _, body = self._response()
        if status >= 300:
            print(f"lambdash runtime: /{path} answered {status}: {body[:200]!r}", file=sys.stderr, flush=True)


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
        # Each invocation's own trace id, or none, as AWS's runtime clients do: never the last one's.
        trace = headers.get("lambda-runtime-trace-id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
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
        from . import app
    except Exception as problem:
        traceback.print_exc(file=sys.stderr)
        api.post("init/error", error_payload(problem, "Runtime.ImportModuleError"),
                 {ERROR_TYPE: "Runtime.ImportModuleError"})
        sys.exit(1)
    serve_forever(api, app, environ)


if __name__ == "__main__":
    main()
