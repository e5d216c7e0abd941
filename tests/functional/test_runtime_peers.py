"""Checked against parts nobody here wrote: AWS's Runtime Interface Emulator and Node.js runtime client.

- The handler's runtime loop, started through its exec wrapper as Lambda starts it,
  answers buffered invokes under AWS's Runtime Interface Emulator (RIE), the binary
  that ships inside the aws-sam-cli wheel.
- The local Lambda's streaming side of the Runtime API serves AWS's Node.js runtime
  interface client, whose ``awslambda.streamifyResponse`` handler writes as it goes:
  boto3 receives the first line well before the last.

``scripts/test`` fetches both into ``.peers/`` (see ``scripts/_peers.sh``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdash.local.function import FunctionConfig
from lambdash.local.sandbox import stage_task_root
from lambdash.local.server import LocalLambda
from tests.helpers import ROOT, free_port, wait_for_port

PEERS = ROOT / ".peers"
RIE = PEERS / "aws-lambda-rie"
NODE_RIC = PEERS / "node" / "node_modules" / "aws-lambda-ric" / "index.mjs"


def peer(path: Path) -> Path:
    """A peer scripts/test fetched; skipped when it could not (scripts/_peers.sh said why; under CI it fails there)."""
    if not path.exists():
        pytest.skip(f"{path} is missing: scripts/test fetches it, and said why it could not (scripts/_peers.sh)")
    return path


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("Node.js is not installed: the Node.js runtime-client tests need it (scripts/_peers.sh)")
    return found


def lambda_client(endpoint_url: str, key: str = "x", secret: str = "x") -> Any:
    return boto3.client("lambda", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


@pytest.fixture(scope="module")
def rie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """RIE running the handler through its exec wrapper, with the managed runtime's command line after it."""
    task_root = stage_task_root()
    api_port, invoke_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("rie") / "rie.log"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LAMBDA_TASK_ROOT": str(task_root),
           "AWS_LAMBDA_FUNCTION_TIMEOUT": "30", "AWS_REGION": "us-east-1", "TZ": ":UTC",
           "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}
    argv = [str(peer(RIE)), "--runtime-interface-emulator-address", f"127.0.0.1:{invoke_port}",
            "--runtime-api-address", f"127.0.0.1:{api_port}",
            str(task_root / "lambdash_handler" / "exec-wrapper"),
            sys.executable, "-m", "awslambdaric", "lambdash_handler.app.handle"]
    with open(log, "wb") as output:
        emulator = subprocess.Popen(argv, cwd=task_root, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(invoke_port)
        yield f"http://127.0.0.1:{invoke_port}"
    finally:
        emulator.terminate()
        emulator.wait(timeout=15)


def invoke_rie(url: str, event: Any) -> Any:
    # RIE serves one function, named "function", one invocation at a time.
    answer = lambda_client(url).invoke(FunctionName="function", Payload=json.dumps(event).encode())
    return json.loads(answer["Payload"].read())


def test_under_rie_the_runtime_loop_gives_exact_bytes_and_the_status(rie: str) -> None:
    octal = "".join(f"\\{value:03o}" for value in range(256))
    response = invoke_rie(rie, {"v": 1, "command": f"printf '{octal}'; echo err >&2; exit 3"})
    assert response["ok"] is True
    assert response["exit_status"] == 3
    assert base64.b64decode(response["stdout"]["data"]) == bytes(range(256))
    assert base64.b64decode(response["stderr"]["data"]) == b"err\n"


def test_under_rie_it_is_the_handlers_own_runtime_loop_that_answers(rie: str) -> None:
    response = invoke_rie(rie, {"v": 1, "command": "tr '\\0' ' ' < /proc/$PPID/cmdline"})
    command_line = base64.b64decode(response["stdout"]["data"]).decode().split()
    assert command_line == [sys.executable, "-m", "lambdash_handler.runtime"]


def test_under_rie_the_legacy_event_and_a_malformed_one_get_their_answers(rie: str) -> None:
    legacy = invoke_rie(rie, {"command": "echo legacy; exit 2"})
    assert base64.b64decode(legacy["stdout"]) == b"legacy\n"
    assert legacy["error"]["code"] == 2
    refused = invoke_rie(rie, {"v": 1, "command": 5})
    assert refused["ok"] is False
    assert refused["error"]["message"] == "command must be a string, not a number"


def test_under_rie_a_timeout_keeps_the_partial_output(rie: str) -> None:
    response = invoke_rie(rie, {"v": 1, "command": "echo partial; sleep 30", "timeout": 1})
    assert response["timed_out"] is True
    assert base64.b64decode(response["stdout"]["data"]) == b"partial\n"


# --- the streaming Runtime API of the local Lambda, with AWS's Node.js runtime interface client -----------------

NODE_HANDLERS = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const lines = awslambda.streamifyResponse(async (event, responseStream, context) => {
  for (let i = 1; i <= 3; i++) {
    if (i > 1) await sleep(300);
    responseStream.write(`line ${i}\\n`);
  }
  responseStream.end();
});
export const fails = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.write("before the failure\\n");
  await sleep(100);
  const problem = new Error("it broke after one line");
  problem.name = "MidStreamError";
  throw problem;
});
"""


@pytest.fixture
def node_function(tmp_path: Path) -> Iterator[LocalLambda]:
    (tmp_path / "handlers.mjs").write_text(NODE_HANDLERS)
    config = FunctionConfig(task_root=tmp_path, handler="handlers.lines", runtime="awslambdaric",
                            runtime_command=(node(), str(peer(NODE_RIC))))
    with LocalLambda(config) as local:
        yield local


def node_client(local: LocalLambda) -> Any:
    return lambda_client(local.endpoint_url, local.credentials.access_key_id, local.credentials.secret_access_key)


def test_a_node_streaming_handlers_lines_reach_boto3_as_they_are_written(node_function: LocalLambda) -> None:
    started = time.monotonic()
    answer = node_client(node_function).invoke_with_response_stream(FunctionName="lambdash", Payload=b"{}")
    arrivals = []
    for event in answer["EventStream"]:
        if "PayloadChunk" in event:
            arrivals.append((time.monotonic() - started, event["PayloadChunk"]["Payload"]))
        else:
            assert event["InvokeComplete"].get("ErrorCode") is None
    assert b"".join(payload for _, payload in arrivals) == b"line 1\nline 2\nline 3\n"
    first = next(at for at, payload in arrivals if b"line 1" in payload)
    last = next(at for at, payload in arrivals if b"line 3" in payload)
    assert last - first > 0.45, "the lines arrived together, not as they were written"


def test_a_buffered_invoke_of_a_streamed_response_gets_the_bytes_joined(node_function: LocalLambda) -> None:
    answer = node_client(node_function).invoke(FunctionName="lambdash", Payload=b"{}")
    assert "FunctionError" not in answer
    assert answer["Payload"].read() == b"line 1\nline 2\nline 3\n"


def test_a_failure_after_the_first_byte_ends_the_stream_with_the_error(tmp_path: Path) -> None:
    (tmp_path / "handlers.mjs").write_text(NODE_HANDLERS)
    config = FunctionConfig(task_root=tmp_path, handler="handlers.fails", runtime="awslambdaric",
                            runtime_command=(node(), str(peer(NODE_RIC))))
    with LocalLambda(config) as local:
        answer = node_client(local).invoke_with_response_stream(FunctionName="lambdash", Payload=b"{}")
        events = list(answer["EventStream"])
    assert events[0] == {"PayloadChunk": {"Payload": b"before the failure\n"}}
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "MidStreamError"
    assert complete["ErrorDetails"] == "it broke after one line"
