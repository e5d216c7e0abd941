"""The local Lambda through boto3: warm reuse, timeouts, concurrency, errors, logs, shutdown."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from lambdash.local.credentials import CredentialPair, pair_for_endpoint
from lambdash.local.function import FunctionConfig
from lambdash.local.sandbox import SANDBOX_MARKER
from lambdash.local.server import LocalLambda
from tests.helpers import Beacon, free_port, state_dir, wait_for_port, wait_until


def lambda_client(local: LocalLambda) -> Any:
    """boto3 for the local Lambda, signing with its credential pair."""
    return client_for(local.endpoint_url, local.credentials)


def client_for(endpoint_url: str, pair: CredentialPair) -> Any:
    return boto3.client(
        "lambda", endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def invoke(client: Any, event: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    raw = client.invoke(FunctionName="lambdash", Payload=json.dumps(event).encode(), **kwargs)
    return raw, json.loads(raw["Payload"].read())


@pytest.fixture
def local() -> Iterator[LocalLambda]:
    with LocalLambda(FunctionConfig(timeout=5, concurrency=4)) as emulator:
        yield emulator


def marker_of(pid: int) -> bytes:
    """The sandbox marker a process carries in its environment."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(f"{SANDBOX_MARKER}=".encode()):
            return entry
    raise AssertionError(f"process {pid} carries no sandbox marker")


def marked_processes(marker: bytes) -> list[int]:
    """Processes anywhere on the machine that carry this sandbox's marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_warm_sandbox_is_reused(local: LocalLambda) -> None:
    client = lambda_client(local)
    _, first = invoke(client, {"v": 1, "command": "echo $AWS_LAMBDA_FUNCTION_NAME $AWS_LAMBDA_FUNCTION_MEMORY_SIZE"})
    _, second = invoke(client, {"v": 1, "command": "true"})
    assert base64.b64decode(first["stdout"]["data"]) == b"lambdash 1024\n"
    assert first["sandbox"]["cold"] is True
    assert second["sandbox"]["id"] == first["sandbox"]["id"]
    assert second["sandbox"]["cold"] is False
    assert second["sandbox"]["invocations"] == 2


def test_the_sandbox_has_lambdas_environment(local: LocalLambda) -> None:
    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "AWS_REGION",
             "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_EXECUTION_ENV", "TMPDIR"]
    script = "; ".join(f'echo "{name}=${name}"' for name in names)
    script += '; test -f "$LAMBDA_TASK_ROOT/lambdash_handler/app.py" && echo "APP=found"'
    _, response = invoke(lambda_client(local), {"v": 1, "command": script})
    seen = dict(line.split("=", 1) for line in base64.b64decode(response["stdout"]["data"]).decode().splitlines())
    assert seen["_HANDLER"] == "lambdash_handler.app.handle"
    assert seen["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/lambdash"
    assert seen["AWS_REGION"] == "us-east-1"
    assert (seen["LAMBDA_TASK_ROOT"], seen["TMPDIR"], seen["APP"]) == ("/var/task", "/tmp", "found")
    assert all(seen[name] for name in names)


def test_a_frozen_sandbox_is_stopped_between_invocations(local: LocalLambda) -> None:
    _, response = invoke(lambda_client(local), {"v": 1, "command": "true"})
    pid = response["sandbox"]["pid"]
    deadline = time.monotonic() + 5
    state = ""
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
        if state == "T":
            break
        time.sleep(0.05)
    assert state == "T"  # stopped by SIGSTOP, as Lambda freezes an idle sandbox


def test_a_timeout_gives_lambdas_error_and_replaces_the_sandbox(tmp_path: Path) -> None:
    # The real handler always answers before its deadline, so a handler that hangs plays the part.
    (tmp_path / "slow.py").write_text(
        "import os, time\n"
        "def handle(event, context):\n"
        "    if event.get('hang'):\n"
        "        time.sleep(30)\n"
        "    return {'pid': os.getpid()}\n"
    )
    with LocalLambda(FunctionConfig(timeout=1, task_root=tmp_path, handler="slow.handle")) as local:
        client = lambda_client(local)
        _, before = invoke(client, {})
        raw, error = invoke(client, {"hang": True})
        assert raw["FunctionError"] == "Unhandled"
        assert "Task timed out after 1.00 seconds" in error["errorMessage"]
        _, after = invoke(client, {})
        assert after["pid"] != before["pid"]


def test_concurrent_invocations_get_their_own_sandboxes_up_to_the_limit(local: LocalLambda) -> None:
    client = lambda_client(local)
    responses: list[dict[str, Any]] = []
    throttled: list[str] = []

    def call() -> None:
        try:
            responses.append(invoke(client, {"v": 1, "command": "sleep 1"})[1])
        except botocore.exceptions.ClientError as problem:
            throttled.append(problem.response["Error"]["Code"])

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(responses) == 4
    assert len({response["sandbox"]["id"] for response in responses}) == 4
    assert throttled == ["TooManyRequestsException"] * 2


def test_a_crashing_handler_sets_the_function_error_header(tmp_path: Path) -> None:
    (tmp_path / "crash.py").write_text("def handle(event, context):\n    raise RuntimeError('boom')\n")
    with LocalLambda(FunctionConfig(task_root=tmp_path, handler="crash.handle")) as local:
        raw, error = invoke(lambda_client(local), {})
    assert raw["FunctionError"] == "Unhandled"
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "boom"


def test_a_handler_that_cannot_be_imported_reports_the_init_error(tmp_path: Path) -> None:
    with LocalLambda(FunctionConfig(task_root=tmp_path, handler="missing.handle")) as local:
        raw, error = invoke(lambda_client(local), {})
    assert raw["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"


def test_log_type_tail_returns_the_invocations_log(local: LocalLambda) -> None:
    raw, response = invoke(lambda_client(local), {"v": 1, "command": "exit 3"}, LogType="Tail")
    log = base64.b64decode(raw["LogResult"]).decode()
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {response['request_id']} Version: $LATEST"
    logged = json.loads(lines[1])
    assert logged["exit_status"] == 3
    assert logged["command"] == "exit 3"
    assert lines[-2] == f"END RequestId: {response['request_id']}"
    assert lines[-1].startswith(f"REPORT RequestId: {response['request_id']}\tDuration: ")
    assert len(raw["LogResult"]) <= 4096 * 4 // 3 + 4


def test_other_function_names_are_not_found(local: LocalLambda) -> None:
    client = lambda_client(local)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke(FunctionName="someone-else", Payload=b"{}")
    assert "Function not found: arn:aws:lambda:us-east-1:000000000000:function:someone-else" in str(raised.value)


def test_full_arn_and_event_invocations_work(local: LocalLambda, beacon: Beacon) -> None:
    client = lambda_client(local)
    raw = client.invoke(FunctionName=local.config.arn, Payload=b'{"v": 1, "command": "true"}')
    assert json.loads(raw["Payload"].read())["exit_status"] == 0
    event = json.dumps({"v": 1, "command": beacon.command()}).encode()
    queued = client.invoke(FunctionName="lambdash", InvocationType="Event", Payload=event)
    assert queued["StatusCode"] == 202
    wait_until(lambda: beacon.messages == ["ran"], 10, message="the queued Event invocation never ran")


def test_a_non_json_payload_is_rejected_as_lambda_does(local: LocalLambda) -> None:
    client = lambda_client(local)
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="lambdash", Payload=b"not json")


def test_the_aws_cli_works_against_it(local: LocalLambda, tmp_path: Path) -> None:
    aws = str(Path(sys.executable).parent / "aws")  # the test extra installs it beside lambdash
    out = tmp_path / "out.json"
    version = subprocess.run([aws, "--version"], capture_output=True, text=True).stdout
    # Version 2 reads --payload as base64 unless told otherwise; version 1 takes it raw.
    raw_payload = [] if version.startswith("aws-cli/1.") else ["--cli-binary-format", "raw-in-base64-out"]

    def invoke_with_cli(payload: str) -> dict[str, Any]:
        done = subprocess.run(
            [aws, "lambda", "invoke", "--endpoint-url", local.endpoint_url, "--function-name", "lambdash",
             *raw_payload, "--payload", payload, str(out)],
            env={**os.environ, "AWS_ACCESS_KEY_ID": local.credentials.access_key_id,
                 "AWS_SECRET_ACCESS_KEY": local.credentials.secret_access_key, "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(out.read_text())
        return answer

    assert base64.b64decode(invoke_with_cli('{"v": 1, "command": "echo cli"}')["stdout"]["data"]) == b"cli\n"
    # The 2015 client's event: it prints only stdout and stderr, so a cut is told at the end of stderr.
    legacy = invoke_with_cli('{"command": "head -c 7000000 /dev/urandom"}')
    lost = 7_000_000 - len(base64.b64decode(legacy["stdout"]))
    assert lost > 0
    assert base64.b64decode(legacy["stderr"]) == (
        b"lambdash: stdout was cut to fit the response: %d of 7000000 bytes lost "
        b"(a current lambdash client gets it all, through S3)\n" % lost
    )


def test_serve_stops_on_sigterm_and_leaves_no_orphans(tmp_path: Path) -> None:
    port = free_port()
    lambdash = Path(sys.executable).parent / "lambdash"
    server = subprocess.Popen(
        [str(lambdash), "serve", "--port", str(port), "--concurrency", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        pair = pair_for_endpoint(url)
        assert pair is not None, "serve keeps its credential pair in the state dir"
        client = client_for(url, pair)
        _, response = invoke(client, {"v": 1, "command": "sleep 300 >/dev/null 2>&1 &", "keep_background": True})
        assert response["exit_status"] == 0
        marker = marker_of(response["sandbox"]["pid"])
        assert len(marked_processes(marker)) >= 2, "the sandbox and its kept background job should be running"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    assert server.returncode == 0
    assert marked_processes(marker) == []


@pytest.mark.parametrize(("given", "ending"), [(True, signal.SIGHUP), (False, signal.SIGTERM)],
                         ids=["pair-given-SIGHUP", "pair-kept-SIGTERM"])
def test_serve_says_how_to_call_it_logs_each_invocation_and_stops_on_sighup_or_sigterm(
    home: Path, given: bool, ending: signal.Signals
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    given_pair = CredentialPair("AKIDGIVENPAIR", "given-secret")
    options = ["--access-key-id", given_pair.access_key_id, "--secret-access-key", given_pair.secret_access_key]
    lambdash = Path(sys.executable).parent / "lambdash"
    server = subprocess.Popen([str(lambdash), "serve", "--port", str(port), *(options if given else [])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        pair = given_pair if given else pair_for_endpoint(url)
        assert pair is not None, "serve keeps its credential pair in the state dir"
        _, response = invoke(client_for(url, pair), {"v": 1, "command": "echo logged"})
        assert response["exit_status"] == 0
    finally:
        server.send_signal(ending)
        _, err = server.communicate(timeout=15)
    assert server.returncode == 0
    lines = err.decode().splitlines()
    how = ("AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... (the pair given) aws" if given else
           f"AWS_SHARED_CREDENTIALS_FILE={state_dir(home) / 'local-credentials'} aws "
           f"--profile lambdash-local-127.0.0.1-{port}")
    assert lines[:3] == [
        f"lambdash: local Lambda serving function 'lambdash' at {url} (timeout 300 s, 1024 MB, up to 10 "
        "sandboxes); it answers only requests signed with its credential pair",
        f"lambdash: try: lambdash --endpoint-url {url} uname -a",
        f"lambdash: AWS CLI: {how} --region us-east-1 --endpoint-url {url} lambda invoke --function-name lambdash "
        """--payload '{"v": 1, "command": "uname -a"}' out.json (version 2 also wants --cli-binary-format """
        "raw-in-base64-out)",
    ]
    # Without --quiet, each invocation's log follows, as Lambda's LogType Tail gives it.
    log = lines[3:-1]
    assert log[0].startswith("START RequestId: ")
    assert any('"command": "echo logged"' in line for line in log)
    assert log[-1].startswith("REPORT RequestId: ")
    assert lines[-1] == "lambdash: stopping; every sandbox is killed"
