"""Sessions on a real AWS account: a deployed function, its queue, and the send-only credentials it hands out.

Opt-in: `scripts/test --run-aws`. It uses the caller's own environment (credentials,
AWS_PROFILE, AWS_REGION), deploys a function of its own, and destroys it, even on
failure (the account's lambdash-session role stays, as destroy leaves it).
"""

from __future__ import annotations

import json
import subprocess

import boto3
import pytest

from lambdash_handler.contract.records import RESULT, SESSION, RecordReader
from tests.helpers import CALLERS_ENVIRON, run_as_caller

pytestmark = pytest.mark.aws


def run_lambdash(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return run_as_caller(*args, stdin=stdin, timeout=timeout)


def test_a_pipe_reaches_a_running_command_and_the_status_comes_back(deployed: str) -> None:
    done = run_lambdash("-f", deployed, "-i", "python3 -c 'import sys; print(sum(map(int, sys.stdin))); exit(3)'",
                        stdin=b"1\n2\n39\n")
    assert done.returncode == 3, done.stderr.decode()
    assert done.stdout == b"42\n"


def test_the_handed_out_credentials_may_send_to_their_queue_only(deployed: str) -> None:
    session = boto3.session.Session(profile_name=CALLERS_ENVIRON.get("AWS_PROFILE"))
    lam = session.client("lambda")
    event = {"v": 1, "command": "sleep 20", "stream": True, "session": {}}
    answer = lam.invoke_with_response_stream(FunctionName=deployed, Payload=json.dumps(event).encode())
    reader = RecordReader()
    opened = None
    for item in answer["EventStream"]:
        for kind, payload in reader.feed(item.get("PayloadChunk", {}).get("Payload", b"")):
            if kind == SESSION:
                opened = json.loads(payload)
            assert kind != RESULT, payload
        if opened:
            break
    assert opened is not None
    given = opened["credentials"]
    sqs = boto3.client("sqs", region_name=opened["region"], aws_access_key_id=given["access_key_id"],
                       aws_secret_access_key=given["secret_access_key"], aws_session_token=given["session_token"])
    sqs.send_message(QueueUrl=opened["queue_url"], MessageBody='{"n":1,"e":[["eof"]]}', MessageGroupId="input",
                     MessageDeduplicationId="1")
    elsewhere = opened["queue_url"].rsplit("/", 1)[0] + "/lambdash-session-0-000000000000.fifo"
    with pytest.raises(sqs.exceptions.ClientError, match=r"AccessDenied|NonExistentQueue"):
        sqs.send_message(QueueUrl=elsewhere, MessageBody="x", MessageGroupId="input", MessageDeduplicationId="1")
    with pytest.raises(sqs.exceptions.ClientError, match="AccessDenied"):
        sqs.list_queues()
    answer["EventStream"].close()
