"""The only module that talks to AWS through boto3.

It builds sessions and clients for a target, invokes the function, and turns
botocore's exceptions into lambdash errors with one line that says what to do.

A command must never run twice because of a retry, so botocore's own retries are
off. Only what Lambda refused before running anything is retried here:
throttling (429) and a connection that could not be opened.
"""

from __future__ import annotations

import base64
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from lambdash.config import Target
from lambdash.errors import ConfigError, TransportError

# Longer than Lambda's maximum function timeout (900 s), so a slow command is
# never abandoned by the client while it still runs.
READ_TIMEOUT_SECONDS = 960
CONNECT_TIMEOUT_SECONDS = 10
RETRY_ATTEMPTS = 8
# Credentials for the local sandbox when the machine has none: it checks no signature.
LOCAL_CREDENTIALS = {"aws_access_key_id": "lambdash-local", "aws_secret_access_key": "lambdash-local"}

_ACCESS_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
    "InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch",
}


@dataclass(frozen=True)
class InvokeResponse:
    """What Lambda answered to one synchronous invoke."""

    payload: bytes
    function_error: str | None
    log_tail: str
    request_id: str
    throttles: int = 0


def make_session(target: Target) -> Any:
    """A boto3 session for the target; the local sandbox gets placeholder credentials if needed."""
    try:
        session = boto3.session.Session(profile_name=target.profile, region_name=target.region)
    except botocore.exceptions.ProfileNotFound:
        raise ConfigError(f"AWS profile {target.profile!r} not found (see `aws configure list-profiles`)") from None
    loopback = target.local or _is_loopback(target.endpoint_url)
    missing_credentials = session.get_credentials() is None
    if loopback and (missing_credentials or session.region_name is None):
        session = boto3.session.Session(
            profile_name=None if missing_credentials else target.profile,
            region_name=session.region_name or "us-east-1",
            **(LOCAL_CREDENTIALS if missing_credentials else {}),
        )
    return session


def _is_loopback(url: str | None) -> bool:
    """Whether an endpoint is on this machine (a local Lambda needs no real credentials or region)."""
    if not url:
        return False
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class LambdaClient:
    """Invoke one function, with errors turned into one-line lambdash errors."""

    def __init__(self, target: Target, *, session: Any = None, client: Any = None) -> None:
        self.target = target
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
        self._client = client

    @property
    def region(self) -> str:
        region: str = self._client.meta.region_name
        return region

    def invoke(
        self, payload: bytes, *, on_throttle: Callable[[int, float], None] | None = None
    ) -> InvokeResponse:
        """Invoke synchronously, retrying only what never reached the function."""
        throttles = 0
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                raw = self._client.invoke(
                    FunctionName=self.function, InvocationType="RequestResponse", LogType="Tail", Payload=payload,
                )
            except botocore.exceptions.ClientError as problem:
                code = problem.response.get("Error", {}).get("Code", "")
                if code in ("TooManyRequestsException", "ThrottlingException") and attempt < RETRY_ATTEMPTS:
                    throttles += 1
                    delay = _backoff(attempt)
                    if on_throttle is not None:
                        on_throttle(attempt, delay)
                    time.sleep(delay)
                    continue
                raise self._client_error(problem, attempt) from None
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as problem:
                # Nothing was sent: the connection itself failed, so a retry cannot run the command twice.
                if attempt < min(RETRY_ATTEMPTS, 3):
                    time.sleep(_backoff(attempt))
                    continue
                raise self._unreachable(problem) from None
            except Exception as problem:
                raise translate(problem, self.function) from None
            log = raw.get("LogResult")
            return InvokeResponse(
                payload=raw["Payload"].read(),
                function_error=raw.get("FunctionError"),
                log_tail=base64.b64decode(log).decode("utf-8", "replace") if log else "",
                request_id=raw.get("ResponseMetadata", {}).get("RequestId", ""),
                throttles=throttles,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def function_configuration(self) -> dict[str, Any]:
        try:
            configuration: dict[str, Any] = self._client.get_function_configuration(FunctionName=self.function)
        except Exception as problem:
            raise translate(problem, self.function) from None
        return configuration

    def _unreachable(self, problem: Exception) -> TransportError:
        where = self.target.endpoint_url or f"Lambda in {self.region}"
        hint = " (is `lambdash serve` running there?)" if self.target.endpoint_url else ""
        return TransportError(f"cannot reach {where}{hint}: {_short(problem)}")

    def _client_error(self, problem: botocore.exceptions.ClientError, attempts: int) -> Exception:
        code = problem.response.get("Error", {}).get("Code", "")
        if code in ("TooManyRequestsException", "ThrottlingException"):
            return TransportError(
                f"Lambda throttled {self.function} on all {attempts} attempts; "
                "try again later or raise its concurrency limit"
            )
        return translate(problem, self.function)


def translate(problem: Exception, function: str) -> Exception:
    """Turn a botocore exception into a lambdash error with a hint; leave others alone."""
    if isinstance(problem, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return ConfigError(
            "no AWS credentials found: run `aws configure`, set AWS_PROFILE, or use --local for the local sandbox"
        )
    if isinstance(problem, botocore.exceptions.NoRegionError):
        return ConfigError("no AWS region: pass --region, set AWS_REGION, or add region to the config file")
    if isinstance(problem, botocore.exceptions.ReadTimeoutError):
        return TransportError(
            f"no answer from {function} within {READ_TIMEOUT_SECONDS} s; the command may still be running"
        )
    if isinstance(problem, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError)):
        return TransportError(f"cannot reach Lambda: {_short(problem)}")
    if isinstance(problem, botocore.exceptions.ClientError):
        error = problem.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "ResourceNotFoundException":
            return TransportError(f"function {function!r} not found: {message}; create it with `lambdash deploy`")
        if code in _ACCESS_DENIED:
            return TransportError(f"access denied: {message}")
        if code in _BAD_CREDENTIALS:
            return ConfigError(f"AWS rejected the credentials ({code}): {message}")
        if code == "RequestTooLargeException":
            return TransportError(f"the request is too large for Lambda: {message}")
        return TransportError(f"{code or 'error'}: {message}")
    return problem


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: up to 0.1 s, 0.2 s, 0.4 s... capped at 5 s."""
    return random.uniform(0, min(5.0, 0.1 * 2 ** (attempt - 1)))


def _short(problem: Exception) -> str:
    return str(problem).splitlines()[0]
