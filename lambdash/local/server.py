"""The local Lambda: Lambda's Invoke API on loopback, backed by a pool of sandboxes.

Any Lambda client works against it unchanged (boto3, the AWS CLI with
``--endpoint-url``). It hosts one function; other names get the 404 that Lambda
gives. Past the concurrency limit callers get a 429, as Lambda throttles. It
answers only requests signed (SigV4) with its own credential pair, and never a
browser. Both ``Invoke`` and ``InvokeWithResponseStream`` are served; a streamed
response goes out as AWS event-stream messages in HTTP chunks, each as the
function writes it.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from lambdash.local.credentials import CredentialPair, stored_pair
from lambdash.local.eventstream import invoke_complete, payload_chunk
from lambdash.local.function import FunctionConfig, function_configuration
from lambdash.local.http import GuardedRequestHandler, GuardedServer, HTTPProblem, parse_json_event, send_json
from lambdash.local.s3 import EmbeddedS3
from lambdash.local.sandbox import InvokeOutcome, Sandbox, SandboxPool, Throttled, encode_log_tail
from lambdash.local.signature import check_signature
from lambdash_handler.contract import ENV_BUCKET, LAMBDA_REQUEST_LIMIT_BYTES

_FUNCTION_PATH = re.compile(
    r"^/(?P<api>2015-03-31|2021-11-15)/functions/(?P<name>[^/]+)/"
    r"(?P<what>invocations|configuration/?|response-streaming-invocations)$"
)
# A request's body (at most 6 MB) must have come within this long of its head.
BODY_SECONDS = 30.0
# AWS streams the first 6 MB of a response at full speed, then about 2 MB/s.
STREAM_FULL_SPEED_BYTES = 6 * 1024 * 1024
STREAM_CAPPED_BYTES_PER_SECOND = 2 * 1024 * 1024


class LocalLambda:
    """A Lambda emulator hosting one function. Use as a context manager, or start() and close().

    ``credentials`` is the pair requests must be signed with (a random one when
    None). ``check_signatures=False`` exists for the benchmark that measures what
    the check costs; nothing a user runs turns it off. ``cap_stream_rate`` slows
    streamed responses past 6 MB to AWS's 2 MB/s. ``embedded_s3`` gives the
    sandboxes an S3 on loopback with a spill bucket, unless the function has a
    bucket of its own or the environment names an S3 endpoint (they win). ``on_notice``
    takes the one-line warnings of the local Lambda itself (the embedded S3 restarted).
    """

    def __init__(
        self,
        config: FunctionConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: CredentialPair | None = None,
        check_signatures: bool = True,
        cap_stream_rate: bool = False,
        embedded_s3: bool = True,
        on_invoke: Callable[[InvokeOutcome], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or FunctionConfig()
        self.credentials = credentials or CredentialPair.random()
        self.check_signatures = check_signatures
        self.cap_stream_rate = cap_stream_rate
        wanted = embedded_s3 and ENV_BUCKET not in self.config.environment and "AWS_ENDPOINT_URL_S3" not in os.environ
        self.s3 = EmbeddedS3(self.config.region, notice=on_notice) if wanted else None
        self.pool = SandboxPool(self.config, self.s3.sandbox_environment() if self.s3 else None)
        if self.s3 is not None:
            self.s3.start_on_first_use(self.pool.spawner.run)
        self.on_invoke = on_invoke
        self._server = _InvokeAPIServer((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="invoke-api",
                                        daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return self._server.port

    def keep_credentials(self) -> None:
        """Accept the pair kept for this host and port (made and kept the first time), as ``lambdash serve`` does.

        Clients that read the same state dir then find it by the endpoint URL alone.
        """
        self.credentials = stored_pair(self.host, self.port)

    @property
    def endpoint_url(self) -> str:
        host = self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> LocalLambda:
        self._server.listen()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and kill every sandbox. Safe to call twice."""
        if self._server.closed:
            return
        self._server.close()
        self.pool.close()
        if self.s3 is not None:
            self.s3.close()

    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def owns(self, name: str) -> bool:
        """Whether ``name`` (a name, a partial ARN or a full ARN) is the hosted function."""
        name = unquote(name)
        if name.startswith("arn:"):
            parts = name.split(":")
            return len(parts) >= 7 and parts[5] == "function" and parts[6] == self.config.name
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name
            return parts[2] == self.config.name
        return parts[0] == self.config.name

    def invoke_async(self, payload: bytes) -> None:
        """An Event invocation: queued, retried while throttled, never reported back."""

        def run() -> None:
            while not self._server.closed:
                try:
                    self.report(self.pool.invoke(payload))
                    return
                except Throttled:
                    time.sleep(0.1)

        threading.Thread(target=run, name="async-invoke", daemon=True).start()

    def report(self, outcome: InvokeOutcome) -> None:
        if self.on_invoke is not None:
            self.on_invoke(outcome)


class _InvokeAPIServer(GuardedServer):
    def __init__(self, address: tuple[str, int], local: LocalLambda) -> None:
        # Bound now, listening from start(): a client never connects before the credentials are settled.
        super().__init__(address, _InvokeAPIHandler, listen=False)
        self.local = local


class _InvokeAPIHandler(GuardedRequestHandler):
    server: _InvokeAPIServer

    def send_problem(self, problem: HTTPProblem) -> None:
        body = {"Type": "User", "message": problem.message}
        if problem.error_type == "TooManyRequestsException":
            body["Reason"] = "ConcurrentInvocationLimitExceeded"
        send_json(self, problem.status, body, {"x-amzn-ErrorType": problem.error_type, "x-amzn-RequestId": _new_id()})

    def do_GET(self) -> None:
        self._serve(self._get)

    def do_POST(self) -> None:
        self._serve(self._post)

    def do_PUT(self) -> None:
        self._serve(self._unknown)

    def do_DELETE(self) -> None:
        self._serve(self._unknown)

    def _serve(self, route: Callable[[bytes], None]) -> None:
        """Guards and the signature first, for every method and path, before any byte of the body; then the route.

        What the head alone can tell is checked before the body is read: everything, when
        the head declares the body's SHA-256; else all but the signature, which covers the
        body's hash and is checked once the (bounded) body has come.
        """
        body: bytes | None = None
        try:
            self.refuse_browsers_and_strangers()
            self._check_signature(None)
            self.server.connections.expect(self.connection, BODY_SECONDS)
            body = self.read_body(LAMBDA_REQUEST_LIMIT_BYTES)
            self.server.connections.busy(self.connection)
            self._check_signature(body)
            route(body)
        except HTTPProblem as problem:
            if body is None:
                self.close_connection = True  # its body is not read
            self.send_problem(problem)

    def _check_signature(self, body: bytes | None) -> None:
        local = self.server.local
        if not local.check_signatures:
            return
        refusal = check_signature(local.credentials, method=self.command, target=self.path,
                                  headers=self.headers.items(), body=body)
        if refusal is not None:
            raise HTTPProblem(HTTPStatus.FORBIDDEN, refusal.code, refusal.message)

    def _function_route(self) -> tuple[str, str]:
        """(what, api) for a path naming the hosted function; HTTPProblem otherwise."""
        parts = urlsplit(self.path)
        match = _FUNCTION_PATH.match(parts.path)
        if match is None:
            raise HTTPProblem(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"Unknown operation {parts.path}")
        local = self.server.local
        qualifier = parse_qs(parts.query).get("Qualifier", ["$LATEST"])[0]
        if not local.owns(match["name"]) or qualifier != "$LATEST":
            shown = unquote(match["name"])
            arn = shown if shown.startswith("arn:") else local.config.arn.rsplit(":", 1)[0] + ":" + shown
            raise HTTPProblem(HTTPStatus.NOT_FOUND, "ResourceNotFoundException",
                              f"Function not found: {arn}; this local Lambda serves only {local.config.name}")
        return match["what"].rstrip("/"), match["api"]

    def _unknown(self, body: bytes) -> None:
        raise HTTPProblem(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"Unknown operation {self.path}")

    def _get(self, body: bytes) -> None:
        what, api = self._function_route()
        if what != "configuration" or api != "2015-03-31":
            raise HTTPProblem(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
        send_json(self, HTTPStatus.OK, function_configuration(self.server.local.config))

    def _post(self, body: bytes) -> None:
        what, api = self._function_route()
        if (what, api) not in (("invocations", "2015-03-31"), ("response-streaming-invocations", "2021-11-15")):
            raise HTTPProblem(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
        if body:
            parse_json_event(body)
        payload = body or b"{}"
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            send_json(self, HTTPStatus.NO_CONTENT, b"", {"x-amzn-RequestId": _new_id()})
            return
        streaming = what == "response-streaming-invocations"
        if invocation_type == "Event" and not streaming:
            self.server.local.invoke_async(payload)
            send_json(self, HTTPStatus.ACCEPTED, b"", {"x-amzn-RequestId": _new_id()})
            return
        if invocation_type != "RequestResponse":
            raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException",
                              f"Unsupported invocation type {invocation_type}")
        if streaming:
            self._invoke_streaming(payload)
        else:
            self._invoke(payload)

    def _acquire(self) -> Sandbox:
        try:
            return self.server.local.pool.acquire()
        except Throttled:
            raise HTTPProblem(HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.") from None

    def _invoke(self, payload: bytes) -> None:
        local = self.server.local
        sandbox = self._acquire()
        invocation = local.pool.new_invocation(payload, self.headers.get("X-Amz-Client-Context"))
        outcome = local.pool.run(sandbox, invocation)
        local.report(outcome)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": outcome.request_id}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = outcome.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = encode_log_tail(outcome.log)
        send_json(self, HTTPStatus.OK, outcome.payload, headers)

    def _invoke_streaming(self, payload: bytes) -> None:
        local = self.server.local
        sandbox = self._acquire()
        writer = _EventWriter(self.wfile, capped=local.cap_stream_rate)
        invocation = local.pool.new_invocation(payload, self.headers.get("X-Amz-Client-Context"),
                                               consumer=writer.payload)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        self.send_header("x-amzn-RequestId", invocation.request_id)
        # boto3 hands out events as they arrive only from a chunked response.
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        outcome = local.pool.run(sandbox, invocation)
        local.report(outcome)
        error_code = error_details = None
        if outcome.function_error:
            error_code, error_details = _error_fields(outcome.payload)
        log = encode_log_tail(outcome.log) if self.headers.get("X-Amz-Log-Type") == "Tail" else None
        writer.finish(invoke_complete(error_code, error_details, log))
        if writer.disconnected:
            self.close_connection = True


class _EventWriter:
    """Writes a streamed response to the client: one event-stream message per HTTP chunk, flushed at once.

    A client that goes away does not stop the function: what it sends then is dropped.
    """

    def __init__(self, out: io.BufferedIOBase, *, capped: bool) -> None:
        self.out = out
        self.capped = capped
        self.sent = 0
        self.disconnected = False
        self._capped_since: float | None = None
        self._lock = threading.Lock()

    def payload(self, data: bytes) -> bool:
        if data:
            self._pace(len(data))
            self._chunk(payload_chunk(data))
        return True

    def finish(self, complete: bytes) -> None:
        self._chunk(complete)
        self._write(b"0\r\n\r\n")

    def _pace(self, size: int) -> None:
        """After the first 6 MB, no faster than AWS's 2 MB/s (only when asked to)."""
        self.sent += size
        if not self.capped or self.sent <= STREAM_FULL_SPEED_BYTES:
            return
        now = time.monotonic()
        if self._capped_since is None:
            self._capped_since = now
        due = self._capped_since + (self.sent - STREAM_FULL_SPEED_BYTES) / STREAM_CAPPED_BYTES_PER_SECOND
        if due > now:
            time.sleep(due - now)

    def _chunk(self, message: bytes) -> None:
        self._write(f"{len(message):x}\r\n".encode() + message + b"\r\n")

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self.disconnected:
                return
            try:
                self.out.write(data)
                self.out.flush()
            except OSError:
                self.disconnected = True


def _error_fields(payload: bytes) -> tuple[str, str]:
    """ErrorCode and ErrorDetails for InvokeComplete, from a Lambda error payload."""
    try:
        error = json.loads(payload)
    except ValueError:
        return "Unhandled", payload.decode("utf-8", "replace")
    if not isinstance(error, dict):
        return "Unhandled", payload.decode("utf-8", "replace")
    return str(error.get("errorType") or "Unhandled"), str(error.get("errorMessage") or "")


def _new_id() -> str:
    return str(uuid.uuid4())
