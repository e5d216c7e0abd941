"""Sending a session's input to its queue: SQS SendMessage with the credentials the handler handed out.

The handler says where the queue is (its URL and the SQS endpoint it used, so a
local Lambda's session goes to its own moto on loopback, never to AWS) and with
which credentials to send: short-lived ones that may only send to that queue. A
deployment without a session role hands out none; the user's own are used then.
Every request is SigV4-signed by botocore. A send is retried when it may not have
arrived: the queue is FIFO and the sequence number is the deduplication id, so a
retried message is delivered once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.config import Config

from lambdash.aws.session import CONNECT_TIMEOUT_SECONDS, backoff, first_line, is_loopback, make_session
from lambdash.config import Target
from lambdash.errors import LambdashError, TransportError

SEND_ATTEMPTS = 5
SEND_READ_TIMEOUT_SECONDS = 20
_QUEUE_GONE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_RETRIED = frozenset({"ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError",
                      "InternalFailure", "KmsThrottled"})


class QueueGone(TransportError):
    """The session's queue no longer exists (deleted, or the session is over)."""


@dataclass(frozen=True)
class UplinkAddress:
    """Where a session's input goes, as the handler's first record says."""

    queue_url: str
    endpoint: str
    region: str
    message_group: str
    # Send-only credentials for this queue; None means the user's own.
    credentials: Mapping[str, str] | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> UplinkAddress:
        try:
            credentials = record.get("credentials")
            return cls(queue_url=str(record["queue_url"]), endpoint=str(record["endpoint"]),
                       region=str(record["region"]), message_group=str(record.get("message_group") or "input"),
                       credentials=dict(credentials) if credentials else None)
        except (KeyError, TypeError, ValueError):
            raise TransportError("the function opened a session but did not say where its input goes") from None


def refuse_beyond_this_machine(address: UplinkAddress, target: Target) -> None:
    """A local Lambda's session queue must be on loopback: lambdash sends nothing beyond this machine for it."""
    local = target.local or target.credentials is not None or is_loopback(target.endpoint_url)
    if local and not is_loopback(address.endpoint):
        raise LambdashError(f"the local Lambda's session queue is at {address.endpoint}, beyond this machine; "
                            "lambdash sends nothing there (the local Lambda's own SQS is off with --bucket or "
                            "--no-s3, and sessions need it)")
    if local and address.credentials is None:
        raise LambdashError("the local Lambda opened a session without credentials for its queue; "
                            "lambdash sends nothing with yours")


_shared: list[botocore.session.Session] = []
_shared_lock = threading.Lock()


def _shared_session() -> botocore.session.Session:
    """One botocore session, with none of the user's configuration, for every session's SQS client.

    Its loader keeps SQS's service model once read, so only the first session of a
    process pays for reading it (``prepare`` reads it while the session opens).
    """
    with _shared_lock:
        if not _shared:
            _shared.append(botocore.session.Session(session_vars={"profile": (None, None, None, None)}))
        return _shared[0]


def prepare() -> None:
    """Make a first SQS client ahead (in a thread, while the session opens), so the real one is quick.

    It reads SQS's service model and builds botocore's client class, which the session
    keeps; it sends nothing (its endpoint is never called).
    """
    _shared_session().create_client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                                    aws_access_key_id="unused", aws_secret_access_key="unused")


class QueueSender:
    """Sends one session's messages, in order, to its queue."""

    def __init__(self, address: UplinkAddress, target: Target, *, client: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.address = address
        self._sleep = sleep
        if client is None:
            client = _client(address, target)
        self._client = client

    def send(self, sequence: int, body: str) -> None:
        """Send one message; QueueGone when the queue is no more, TransportError for the rest."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                self._client.send_message(QueueUrl=self.address.queue_url, MessageBody=body,
                                          MessageGroupId=self.address.message_group,
                                          MessageDeduplicationId=str(sequence))
                return
            except botocore.exceptions.ClientError as problem:
                error = problem.response.get("Error", {})
                code, message = str(error.get("Code", "")), str(error.get("Message", ""))
                if code in _QUEUE_GONE:
                    raise QueueGone("the session's queue is gone (deleted, or the session is over); "
                                    "input no longer reaches the command") from None
                if code in _RETRIED and attempt < SEND_ATTEMPTS:
                    self._sleep(backoff(attempt))
                    continue
                raise TransportError(f"input could not be sent to the session's queue ({code}): {message}") from None
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as problem:
                if attempt < SEND_ATTEMPTS:
                    self._sleep(backoff(attempt))
                    continue
                raise TransportError(f"cannot reach the session's queue at {self.address.endpoint}: "
                                     f"{first_line(problem)}") from None
            except botocore.exceptions.BotoCoreError as problem:
                raise TransportError(f"input could not be sent to the session's queue: {first_line(problem)}") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _client(address: UplinkAddress, target: Target) -> Any:
    """An SQS client for the queue: the handed-out credentials, or the user's own, never another endpoint."""
    refuse_beyond_this_machine(address, target)
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=SEND_READ_TIMEOUT_SECONDS, tcp_keepalive=True)
    given = address.credentials
    if given is None:
        session = make_session(target)
        return session.client("sqs", endpoint_url=address.endpoint, region_name=address.region, config=config)
    # Nothing of the user's configuration applies: these credentials, this endpoint, this region.
    return _shared_session().create_client(
        "sqs", region_name=address.region, endpoint_url=address.endpoint, config=config,
        aws_access_key_id=given["access_key_id"], aws_secret_access_key=given["secret_access_key"],
        aws_session_token=given.get("session_token"))
