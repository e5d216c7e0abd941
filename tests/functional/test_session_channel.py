"""The handler's side of a session, called in this process with moto (SQS, STS, IAM) in process too.

The handler answers a streamed session request (``respond_streaming``); the test
plays the client: it reads the first record, sends input with the credentials the
handler handed out, and reads what comes back. With moto's IAM enforcement on, those
credentials may send to the session's queue and nowhere else (moto applies the session
role's own policy, not the session policy that narrows it to the one queue, so that
policy is checked as the document STS was given).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.sts.models import sts_backends

import lambdash_handler.app as handler_app
import lambdash_handler.session as handler_session
from lambdash.deploy.settings import DeploySettings
from lambdash_handler.app import respond, respond_streaming
from lambdash_handler.contract import schema_path
from lambdash_handler.contract.records import HEARTBEAT, RESULT, SESSION, STDERR, STDOUT, RecordReader
from lambdash_handler.contract.session import (
    STALE_QUEUE_SECONDS,
    Event,
    Input,
    Signal,
    WindowSize,
    encode_message,
)
from lambdash_handler.session import session_policy, session_queue_arn, sweep_stale_queues
from tests.helpers import FakeContext, closed_loopback_url, wait_until

ACCOUNT = "123456789012"
REGION = "us-east-1"
SESSION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"
REQUEST, RESPONSE = (jsonschema.Draft202012Validator(json.loads(schema_path(name).read_text()))
                     for name in ("request", "response"))


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process; the handler's clients are made afresh for each test, from this environment."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler_session, "_clients", {})
    with mock_aws():
        yield


class HandlerSession:
    """The handler answering one session request in a thread, and the client's view of it."""

    def __init__(self, command: str, *, tty: bool = False, environ: dict[str, str] | None = None,
                 terminal: dict[str, Any] | None = None) -> None:
        self.reader = RecordReader()
        self.kinds: list[bytes] = []  # of every record, in order
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.opened: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.sequence = 0
        self.environ = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "AWS_LAMBDA_FUNCTION_NAME": "lambdash",
                        **(environ or {})}
        event = {"v": 1, "command": command, "stream": True, "session": {"tty": tty, **(terminal or {})}}
        REQUEST.validate(event)
        self.thread = threading.Thread(target=respond_streaming, daemon=True,
                                       args=(event, FakeContext(timeout=60), self._take),
                                       kwargs={"environ": self.environ})
        self.thread.start()

    def _take(self, data: bytes) -> None:
        for kind, payload in self.reader.feed(data):
            self.kinds.append(kind)
            if kind == SESSION:
                self.opened = json.loads(payload)
            elif kind == STDOUT:
                self.stdout += payload
            elif kind == STDERR:
                self.stderr += payload
            elif kind == RESULT:
                self.result = json.loads(payload)

    def opening(self) -> dict[str, Any]:
        """The session's first record; or, when the handler refused, its answer under "refused"."""

        def answered() -> dict[str, Any] | None:
            if self.opened is not None:
                return self.opened
            return {"refused": self.result} if self.result is not None else None

        opened = wait_until(answered, 30, message="the session never opened")
        assert opened is not None
        return opened

    def sqs(self) -> Any:
        assert self.opened is not None
        given = self.opened["credentials"]
        if given is None:  # no session role configured: the client sends with its own credentials
            return boto3.client("sqs", region_name=REGION)
        return boto3.client("sqs", region_name=REGION, aws_access_key_id=given["access_key_id"],
                            aws_secret_access_key=given["secret_access_key"],
                            aws_session_token=given["session_token"])

    def send(self, *events: Event) -> None:
        assert self.opened is not None
        self.sequence += 1
        self.sqs().send_message(QueueUrl=self.opened["queue_url"], MessageBody=encode_message(self.sequence, events),
                                MessageGroupId=self.opened["message_group"],
                                MessageDeduplicationId=str(self.sequence))

    def wait_for_stdout(self, expected: bytes) -> None:
        wait_until(lambda: expected in self.stdout, 30,
                   message=lambda: f"{expected!r} never came (stdout {bytes(self.stdout)!r})")

    def finish(self) -> dict[str, Any]:
        self.thread.join(timeout=60)
        assert self.result is not None
        RESPONSE.validate(self.result)
        return self.result


def test_the_credentials_handed_out_may_send_to_this_sessions_queue_and_nowhere_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    iam, sqs = boto3.client("iam", region_name=REGION), boto3.client("sqs", region_name=REGION)

    @set_initial_no_auth_action_count(6)
    def enforced() -> None:
        # Unchecked, the six calls that set the account up: the function's identity and the session role as deploy
        # makes it, and a queue that is not a session's.
        iam.create_user(UserName="function")
        key = iam.create_access_key(UserName="function")["AccessKey"]
        iam.put_user_policy(UserName="function", PolicyName="function", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:*", "sts:AssumeRole"],
                                                    "Resource": "*"}]}))
        settings = DeploySettings(name="lambdash", region=REGION, account=ACCOUNT)
        # moto reads a trust policy's principal literally (not "any principal of the account") and skips ArnLike,
        # so the trust here names the function's identity; deploy's own is checked in tests/unit/deploy.
        iam.create_role(RoleName="lambdash-session", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/function"}}]}))
        (name, document), = settings.inline_policies("lambdash-session").items()
        iam.put_role_policy(RoleName="lambdash-session", PolicyName=name, PolicyDocument=json.dumps(document))
        elsewhere = sqs.create_queue(QueueName="orders")["QueueUrl"]

        # The handler's own calls are the function's (its role's, on Lambda).
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        session = HandlerSession("cat", environ={"LAMBDASH_SESSION_ROLE": SESSION_ROLE})
        opened = session.opening()
        assert opened.get("event") == "open", opened
        with pytest.raises(session.sqs().exceptions.ClientError, match="AccessDenied"):
            session.sqs().send_message(QueueUrl=elsewhere, MessageBody="x")
        session.send(Input(b"sent with the handed-out credentials\n"))
        session.wait_for_stdout(b"sent with the handed-out credentials\n")
        session.send(Input(b""), Signal("TERM"))
        result = session.finish()
        assert result["signal"] == 15
        assert result["session"]["messages"] == 2

        (assumed,) = sts_backends[ACCOUNT]["aws"].assumed_roles
        assert assumed.role_arn == SESSION_ROLE
        lasts = assumed.expiration.timestamp() - time.time()
        assert 800 < lasts <= 900  # 15 minutes, STS's least
        assert json.loads(assumed.policy) == session_policy(session_queue_arn(result["session"]["queue"], REGION))
        assert opened["queue_url"].endswith("/" + result["session"]["queue"])

    enforced()


def test_a_terminal_without_a_pty_gets_the_handlers_line_discipline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pty() -> tuple[int, int]:
        raise OSError("out of pty devices")  # as on Lambda

    monkeypatch.setattr(os, "openpty", no_pty)
    session = HandlerSession("while read line; do echo \"got $line\"; done; echo bye", tty=True)
    assert session.opening()["event"] == "open"
    session.send(Input(b"ab\x7fc\r"))
    session.wait_for_stdout(b"got ac\r\n")
    session.send(Input(b"\x04"))  # Ctrl-D on an empty line: the end of input
    result = session.finish()
    assert result["exit_status"] == 0
    assert result["session"]["pty"] is False
    assert bytes(session.stdout) == b"ab\b \bc\r\ngot ac\r\nbye\r\n"

    interrupted = HandlerSession("trap 'echo caught INT; exit 3' INT; echo ready; while :; do sleep 0.1; done",
                                 tty=True)
    assert interrupted.opening()["event"] == "open"
    interrupted.wait_for_stdout(b"ready\r\n")
    interrupted.send(Input(b"half a line\x03"))  # Ctrl-C: SIGINT for the process group, and the line is dropped
    assert interrupted.finish()["exit_status"] == 3
    assert bytes(interrupted.stdout) == b"ready\r\nhalf a line^C\r\ncaught INT\r\n"


def test_a_silent_session_keeps_its_stream_alive_with_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler_app, "HEARTBEAT_SECONDS", 0.1)  # Lambda's 10 s, shortened
    session = HandlerSession('echo ready; read line; echo "got $line"')
    assert session.opening()["event"] == "open"
    session.wait_for_stdout(b"ready\n")
    wait_until(lambda: HEARTBEAT in session.kinds[session.kinds.index(STDOUT):], 30,
               message=lambda: f"no heartbeat while it waited for input: {session.kinds}")
    session.send(Input(b"x\n"))
    result = session.finish()
    assert result["exit_status"] == 0
    assert bytes(session.stdout) == b"ready\ngot x\n"
    assert session.kinds[-1] == RESULT


def test_without_a_pidfd_a_session_ends_with_its_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open")  # an older kernel, or not Linux: the handler looks for the exit instead
    session = HandlerSession('read line; echo "got $line"; exit 7')
    assert session.opening()["event"] == "open"
    session.send(Input(b"x\n"))
    result = session.finish()
    assert (result["exit_status"], result["timed_out"]) == (7, False)
    assert bytes(session.stdout) == b"got x\n"


def test_a_pseudo_terminal_has_the_clients_size_and_term_and_follows_its_resizes() -> None:
    try:
        os.close(os.openpty()[0])
    except OSError:
        pytest.skip("this machine gives no pseudo-terminal")
    session = HandlerSession('echo "$TERM"; stty size; read line; stty size; test -t 0 && echo a terminal', tty=True,
                             terminal={"rows": 30, "columns": 100, "term": "xterm-256color"})
    assert session.opening()["event"] == "open"
    session.wait_for_stdout(b"xterm-256color\r\n30 100\r\n")
    session.send(WindowSize(40, 120), Input(b"\r"))
    session.wait_for_stdout(b"40 120\r\n")
    result = session.finish()
    assert result["exit_status"] == 0
    assert result["session"]["pty"] is True
    assert bytes(session.stdout).endswith(b"a terminal\r\n")


def test_sqs_out_of_reach_fails_fast_with_the_vpc_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", closed_loopback_url())
    session = HandlerSession("cat")
    result = session.finish()
    assert result["ok"] is False
    assert result["error"]["code"] == "session_unreachable"
    assert result["error"]["message"].startswith(f"the function cannot reach SQS ({closed_loopback_url()})")
    assert "VPC endpoints for SQS and STS (com.amazonaws.us-east-1.sqs, com.amazonaws.us-east-1.sts) or a NAT " \
           "gateway; `lambdash probe aws:sqs aws:sts` checks the route" in result["error"]["message"]
    assert "\n" not in result["error"]["message"]


def test_a_session_needs_a_streamed_invocation() -> None:
    response = respond({"v": 1, "command": "cat", "session": {}}, FakeContext())
    assert response["error"]["code"] == "session_needs_stream"


def test_queues_older_than_any_session_are_swept_and_the_others_kept() -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    urls = [sqs.create_queue(QueueName=f"lambdash-session-{index}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for index in range(3)]
    sqs.create_queue(QueueName="orders")
    assert sweep_stale_queues(sqs, time.time()) == []
    later = time.time() + STALE_QUEUE_SECONDS + 1
    assert sorted(sweep_stale_queues(sqs, later, keep="lambdash-session-1.fifo")) == [
        "lambdash-session-0.fifo", "lambdash-session-2.fifo"]
    assert sorted(url.rsplit("/", 1)[-1] for url in sqs.list_queues()["QueueUrls"]) == [
        "lambdash-session-1.fifo", "orders"]
    assert urls[1] in sqs.list_queues()["QueueUrls"]
