"""Invoking the lambdash function: one request in, one answer out, never run twice.

A command must never run twice because of a retry, so botocore's own retries are
off. Only what Lambda refused before running anything is retried here:
throttling (429) and a connection that could not be opened.
"""

from __future__ import annotations

import base64
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
from botocore.config import Config

from lambdash.aws.session import (
    BAD_CREDENTIALS_CODES,
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    THROTTLING_CODES,
    backoff,
    first_line,
    local_pair_rejected,
    make_session,
    translate,
)
from lambdash.config import Target
from lambdash.errors import TransportError

RETRY_ATTEMPTS = 8
# How long a connection opened ahead of the next invoke may take (the agent waits meanwhile).
CONNECT_AHEAD_SECONDS = 2.0
# A buffered invoke is silent until the command ends (up to 900 s), and a NAT gateway forgets a connection idle
# for 350 s: TCP keepalive probes after a minute of silence keep it known. botocore's tcp_keepalive alone waits
# the system's idle time first (two hours on Linux and macOS).
KEEPALIVE_IDLE_SECONDS = 60
KEEPALIVE_INTERVAL_SECONDS = 30
KEEPALIVE_PROBES = 5
# What an endpoint without the streaming API answers (LocalStack, RIE, older emulators).
_NO_SUCH_OPERATION = frozenset({"UnknownOperationException", "UnknownOperation", "NotImplemented",
                                "InvalidAction", "UnsupportedOperation"})


class StreamingUnavailable(Exception):
    """The endpoint has no InvokeWithResponseStream; the request never reached the function."""


class _NoSuchOperation(Exception):
    pass


@dataclass(frozen=True)
class StreamEnd:
    """How a response stream ended: InvokeComplete's error, if any, and the log tail."""

    error_code: str | None
    error_details: str | None
    log_tail: str


class StreamedInvoke:
    """An invocation whose response arrives in pieces; ``chunks`` yields them as they come."""

    def __init__(self, raw: Any, function: str, throttles: int) -> None:
        self._raw = raw
        self._function = function
        self.throttles = throttles
        self.request_id: str = raw.get("ResponseMetadata", {}).get("RequestId", "")
        self.end: StreamEnd | None = None

    def chunks(self) -> Iterator[bytes]:
        """The response's bytes as they arrive; ``end`` is set once the stream completes."""
        try:
            for event in self._raw["EventStream"]:
                if "PayloadChunk" in event:
                    yield event["PayloadChunk"].get("Payload", b"")
                elif "InvokeComplete" in event:
                    complete = event["InvokeComplete"]
                    log = complete.get("LogResult")
                    self.end = StreamEnd(
                        complete.get("ErrorCode") or None, complete.get("ErrorDetails") or None,
                        base64.b64decode(log).decode("utf-8", "replace") if log else "",
                    )
        except Exception as problem:
            raise TransportError(
                f"the stream from {self._function} broke: {first_line(problem)}; the command may still be running"
            ) from None

    def close(self) -> None:
        """Stop reading: the connection is dropped (the function goes on)."""
        stream = self._raw.get("EventStream")
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class InvokeResponse:
    """What Lambda answered to one synchronous invoke."""

    payload: bytes
    function_error: str | None
    log_tail: str
    request_id: str
    throttles: int = 0


def probe_idle_connections(client: Any) -> None:
    """Make the client's connections send keepalive probes after ``KEEPALIVE_IDLE_SECONDS`` of silence.

    botocore has no setting for the idle time, so it goes into the socket options its
    connections are opened with (the list its pools share), next to SO_KEEPALIVE.
    """
    options = getattr(getattr(getattr(client, "_endpoint", None), "http_session", None), "_socket_options", None)
    if not isinstance(options, list):
        return
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)  # Linux, macOS
    wanted = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for option, value in ((idle, KEEPALIVE_IDLE_SECONDS),
                          (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL_SECONDS),
                          (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES)):
        if option is not None:
            wanted.append((socket.IPPROTO_TCP, option, value))
    options.extend(option for option in wanted if option not in options)


class LambdaClient:
    """Invoke one function, with errors turned into one-line lambdash errors."""

    def __init__(
        self, target: Target, *, session: Any = None, client: Any = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.target = target
        self._sleep = sleep
        self.function = target.function
        if client is None:
            session = session or make_session(target)
            config = Config(
                retries={"total_max_attempts": 1},
                read_timeout=READ_TIMEOUT_SECONDS,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                tcp_keepalive=True,
                max_pool_connections=64,
            )
            try:
                client = session.client("lambda", endpoint_url=target.endpoint_url, config=config)
            except botocore.exceptions.NoRegionError:
                raise translate(botocore.exceptions.NoRegionError(), target.function) from None
            probe_idle_connections(client)
        self._client = client

    @property
    def region(self) -> str:
        region: str = self._client.meta.region_name
        return region

    def sharing(self, target: Target) -> LambdaClient:
        """A client for ``target`` (reached as this one is: region, profile, endpoint), on this one's connections."""
        return LambdaClient(target, client=self._client, sleep=self._sleep)

    def forget_connections(self) -> None:
        """Let go of the pooled connections, as another process forked from this one uses them now.

        Closing our copy of a socket sends nothing while the other process holds it
        (not even TLS's close_notify), and the client opens new connections as it needs.
        """
        self._client.close()

    def settle_connections(self) -> None:
        """Read what the server sent on the idle connections since they were opened, so a live one is used.

        A TLS 1.3 server sends session tickets once the handshake is done; left unread,
        they make urllib3 take the connection for a dropped one and open another. No
        application data waits on an idle connection, so reading takes only those; a
        connection the server has closed meanwhile is closed here, and reopened on use.
        """
        url = self._client.meta.endpoint_url
        try:
            http = self._client._endpoint.http_session
            pool = http._get_connection_manager(url).connection_from_url(url)
            idle = [connection for connection in list(pool.pool.queue) if connection is not None]
        except Exception:  # as for connect_ahead: an optimisation only
            return
        for connection in idle:
            sock = getattr(connection, "sock", None)
            if sock is None:
                continue
            timeout = sock.gettimeout()
            sock.setblocking(False)
            try:
                sock.recv(1)  # the end of the stream (or data nobody asked for): it cannot be used
                alive = False
            except (ssl.SSLWantReadError, BlockingIOError):
                alive = True  # nothing for the application: it is ready
            except OSError:
                alive = False
            finally:
                sock.settimeout(timeout)
            if not alive:
                connection.close()

    def connect_ahead(self) -> None:
        """Open a connection to the endpoint now, so the next invoke skips the TCP and TLS handshakes.

        It reaches into botocore's HTTP session (there is no public way to open a
        connection without a request); where that fails, or a proxy is in the way,
        nothing is done and the next invoke connects as usual.
        """
        url = self._client.meta.endpoint_url
        try:
            http = self._client._endpoint.http_session
            if http._proxy_config.proxy_url_for(url):
                return
            pool = http._get_connection_manager(url).connection_from_url(url)
            http._setup_ssl_cert(pool, url, http._verify)
            connection = pool._get_conn()
            connection.timeout = CONNECT_AHEAD_SECONDS  # the agent waits for it: a dead endpoint must not hold it up
            connection.connect()
            pool._put_conn(connection)
        except Exception:  # a connection made ahead is an optimisation, never a failure
            return

    def invoke(
        self, payload: bytes, *, on_throttle: Callable[[int, float], None] | None = None
    ) -> InvokeResponse:
        """Invoke synchronously, retrying only what never reached the function."""
        raw, throttles = self._with_retries(self._client.invoke, payload, on_throttle)
        log = raw.get("LogResult")
        return InvokeResponse(
            payload=raw["Payload"].read(),
            function_error=raw.get("FunctionError"),
            log_tail=base64.b64decode(log).decode("utf-8", "replace") if log else "",
            request_id=raw.get("ResponseMetadata", {}).get("RequestId", ""),
            throttles=throttles,
        )

    def invoke_streaming(
        self, payload: bytes, *, on_throttle: Callable[[int, float], None] | None = None
    ) -> StreamedInvoke:
        """Invoke with response streaming (InvokeWithResponseStream); the answer comes as it is written.

        StreamingUnavailable when the endpoint has no streaming API (nothing ran then).
        """
        try:
            raw, throttles = self._with_retries(self._client.invoke_with_response_stream, payload, on_throttle)
        except _NoSuchOperation as problem:
            raise StreamingUnavailable(str(problem)) from None
        return StreamedInvoke(raw, self.function, throttles)

    def _with_retries(self, call: Callable[..., Any], payload: bytes,
                      on_throttle: Callable[[int, float], None] | None) -> tuple[Any, int]:
        """One call, retried only while what was refused never reached the function."""
        throttles = 0
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                raw = call(FunctionName=self.function, InvocationType="RequestResponse", LogType="Tail",
                           Payload=payload)
            except botocore.exceptions.ClientError as problem:
                code = problem.response.get("Error", {}).get("Code", "")
                if code in THROTTLING_CODES and attempt < RETRY_ATTEMPTS:
                    throttles += 1
                    delay = backoff(attempt)
                    if on_throttle is not None:
                        on_throttle(attempt, delay)
                    self._sleep(delay)
                    continue
                status = problem.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in _NO_SUCH_OPERATION or (status in (404, 501) and code != "ResourceNotFoundException"):
                    raise _NoSuchOperation(f"{code or status}: {problem}") from None
                raise self._client_error(problem, attempt) from None
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as problem:
                # Nothing was sent: the connection itself failed, so a retry cannot run the command twice.
                if attempt < min(RETRY_ATTEMPTS, 3):
                    self._sleep(backoff(attempt))
                    continue
                raise self._unreachable(problem) from None
            except Exception as problem:
                raise translate(problem, self.function) from None
            return raw, throttles
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, problem: Exception) -> TransportError:
        where = self.target.endpoint_url or f"Lambda in {self.region}"
        hint = " (is `lambdash serve` running there?)" if self.target.endpoint_url else ""
        return TransportError(f"cannot reach {where}{hint}: {first_line(problem)}")

    def _client_error(self, problem: botocore.exceptions.ClientError, attempts: int) -> Exception:
        code = problem.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            return TransportError(
                f"Lambda throttled {self.function} on all {attempts} attempts; "
                "try again later or raise its concurrency limit"
            )
        if code in BAD_CREDENTIALS_CODES:
            rejected = local_pair_rejected(code, self.target)
            if rejected is not None:
                return rejected
        return translate(problem, self.function)
