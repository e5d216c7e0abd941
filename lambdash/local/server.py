"""The local Lambda: Lambda's Invoke API on loopback, backed by a pool of sandboxes.

Any Lambda client works against it unchanged (boto3, the AWS CLI with
``--endpoint-url``). It hosts one function; other names get the 404 that Lambda
gives. Past the concurrency limit callers get a 429, as Lambda throttles.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from handler.constants import LAMBDA_REQUEST_LIMIT_BYTES
from lambdash.local.function import FunctionConfig, function_configuration
from lambdash.local.http import read_body, report_unless_disconnected, send_json
from lambdash.local.sandbox import InvokeOutcome, SandboxPool, Throttled, encode_log_tail

_FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/(?P<what>invocations|configuration/?)$")


class LocalLambda:
    """A Lambda emulator hosting one function. Use as a context manager, or start() and close()."""

    def __init__(
        self,
        config: FunctionConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_invoke: Callable[[InvokeOutcome], None] | None = None,
    ) -> None:
        self.config = config or FunctionConfig()
        self._workdir = Path(tempfile.mkdtemp(prefix="lambdash-local-"))
        self.pool = SandboxPool(self.config, self._workdir)
        self.on_invoke = on_invoke
        self._server = _InvokeAPIServer((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="invoke-api",
                                        daemon=True)
        self._async_lock = threading.Lock()
        self._async_threads: set[threading.Thread] = set()

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalLambda:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and kill every sandbox. Safe to call twice."""
        if self._server.closing:
            return
        self._server.closing = True
        self._server.shutdown()
        self._server.server_close()
        self.pool.close()
        import shutil

        shutil.rmtree(self._workdir, ignore_errors=True)

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
            while not self._server.closing:
                try:
                    self._report(self.pool.invoke(payload))
                    break
                except Throttled:
                    time.sleep(0.1)
            with self._async_lock:
                self._async_threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="async-invoke", daemon=True)
        with self._async_lock:
            self._async_threads.add(thread)
        thread.start()

    def _report(self, outcome: InvokeOutcome) -> None:
        if self.on_invoke is not None:
            self.on_invoke(outcome)


class _InvokeAPIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], local: LocalLambda) -> None:
        super().__init__(address, _InvokeAPIHandler)
        self.local = local
        self.closing = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        report_unless_disconnected(client_address)


class _InvokeAPIHandler(BaseHTTPRequestHandler):
    server: _InvokeAPIServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would hold the second one back.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _error(self, status: int, kind: str, message: str, extra: dict[str, str] | None = None) -> None:
        body = {"Type": "User", "message": message, **(extra or {})}
        send_json(self, status, body, {"x-amzn-ErrorType": kind, "x-amzn-RequestId": _request_id()})

    def _route(self) -> tuple[str, str] | None:
        parts = urlsplit(self.path)
        match = _FUNCTION_PATH.match(parts.path)
        if match is None:
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"Unknown operation {parts.path}")
            return None
        local = self.server.local
        qualifier = parse_qs(parts.query).get("Qualifier", ["$LATEST"])[0]
        if not local.owns(match["name"]) or qualifier != "$LATEST":
            shown = unquote(match["name"])
            arn = shown if shown.startswith("arn:") else local.config.arn.rsplit(":", 1)[0] + ":" + shown
            self._error(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Function not found: {arn}")
            return None
        return match["what"].rstrip("/"), qualifier

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        if route[0] != "configuration":
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
            return
        send_json(self, HTTPStatus.OK, function_configuration(self.server.local.config))

    def do_POST(self) -> None:
        body = read_body(self)
        route = self._route()
        if route is None:
            return
        if route[0] != "invocations":
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
            return
        if len(body) > LAMBDA_REQUEST_LIMIT_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestTooLargeException",
                        f"Request must be smaller than {LAMBDA_REQUEST_LIMIT_BYTES} bytes "
                        "for the InvokeFunction operation")
            return
        if body:
            try:
                json.loads(body)
            except ValueError:
                self._error(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException",
                            "Could not parse request body into json: the payload is not valid JSON")
                return
        payload = body or b"{}"
        local = self.server.local
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            send_json(self, HTTPStatus.NO_CONTENT, b"", {"x-amzn-RequestId": _request_id()})
            return
        if invocation_type == "Event":
            local.invoke_async(payload)
            send_json(self, HTTPStatus.ACCEPTED, b"", {"x-amzn-RequestId": _request_id()})
            return
        if invocation_type != "RequestResponse":
            self._error(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException",
                        f"Unsupported invocation type {invocation_type}")
            return
        try:
            outcome = local.pool.invoke(payload, self.headers.get("X-Amz-Client-Context"))
        except Throttled:
            self._error(HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.",
                        {"Reason": "ConcurrentInvocationLimitExceeded"})
            return
        local._report(outcome)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": outcome.request_id}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = outcome.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = encode_log_tail(outcome.log)
        send_json(self, HTTPStatus.OK, outcome.payload, headers)


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
