"""Input no program could be started with is refused as InvalidRequest, naming the field, never a HandlerError.

The handler is called directly with a fake context (buffered and streamed), and
once through a `lambdash serve` answering a boto3 client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdash.local.credentials import pair_for_endpoint
from lambdash_handler.app import respond, respond_streaming
from lambdash_handler.contract.records import RESULT, RecordReader
from tests.functional.test_handler import SANDBOX_ENVIRON, command, run, stream_bytes
from tests.helpers import FakeContext, serving

BIG_VALUE = "a" * 200_000


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (command("echo \ud800"), "command holds a lone surrogate (U+D800 at character 5)"),
        ({"command": "echo \udfff"}, "command holds a lone surrogate (U+DFFF at character 5)"),
        (command("true", env={"A\ud800": "x"}), "env name 'A\\ud800' holds a lone surrogate"),
        (command("true", env={"A": "x\ud800"}), "env value of A holds a lone surrogate (U+D800 at character 1)"),
        (command("true", cwd="/tmp/\ud800"), "cwd holds a lone surrogate"),
        (command("true", env={"BIG": BIG_VALUE}), "env value of BIG is over 131072 bytes"),
    ],
)
def test_input_no_program_can_take_is_an_invalid_request_naming_the_field(event: Any, message: str) -> None:
    response = run(event)
    if "ok" not in response:  # the legacy shape carries the message in its error
        assert response["error"]["message"].startswith(message)
        return
    assert response["ok"] is False
    assert response["error"]["type"] == "InvalidRequest"
    assert response["error"]["message"].startswith(message)


def test_bytes_that_are_not_utf8_still_round_trip_through_the_command_and_env() -> None:
    # Python carries undecodable bytes as U+DC80..U+DCFF: those are bytes, not lone surrogates.
    response = run(command("printf '%s|' \udcff \"$X\"", env={"X": "caf\udce9"}))
    assert response["ok"] is True, response
    assert stream_bytes(response["stdout"]) == b"\xff|caf\xe9|"


def test_an_environment_too_big_in_all_is_an_invalid_request() -> None:
    # Each variable fits, but together they pass what the kernel lets a program start with.
    many = {f"V{index}": "b" * 100_000 for index in range(80)}
    response = run(command("true", env=many))
    assert response["error"]["type"] == "InvalidRequest"
    assert "more than the kernel lets a program start with (E2BIG)" in response["error"]["message"]


def test_a_streamed_run_with_too_big_an_environment_ends_its_stream_with_the_refusal() -> None:
    sent: list[bytes] = []
    many = {f"V{index}": "b" * 100_000 for index in range(80)}
    respond_streaming({"v": 1, "command": "true", "env": many, "stream": True}, FakeContext(), sent.append,
                      environ=SANDBOX_ENVIRON)
    reader = RecordReader()
    results = [json.loads(payload) for kind, payload in reader.feed(b"".join(sent)) if kind == RESULT]
    assert len(results) == 1
    assert results[0]["ok"] is False
    assert results[0]["error"]["type"] == "InvalidRequest"


def test_a_served_local_lambda_refuses_a_lone_surrogate_by_name(home: Path) -> None:
    with serving() as url:
        pair = pair_for_endpoint(url)
        assert pair is not None
        lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
                           config=Config(retries={"total_max_attempts": 1}))
        answer = lam.invoke(FunctionName="lambdash", Payload=json.dumps(command("true", env={"A": "\ud800"})))
        refused = json.loads(answer["Payload"].read())
        big = lam.invoke(FunctionName="lambdash", Payload=json.dumps(command("true", env={"BIG": BIG_VALUE})))
        too_big = json.loads(big["Payload"].read())
    assert "FunctionError" not in answer
    assert refused["error"]["type"] == "InvalidRequest"
    assert refused["error"]["message"].startswith("env value of A holds a lone surrogate")
    assert too_big["error"]["message"].startswith("env value of BIG is over 131072 bytes")


def test_the_handler_refuses_without_a_traceback_in_its_log(capfd: pytest.CaptureFixture[str]) -> None:
    respond(command("echo \ud800"), FakeContext(), environ=SANDBOX_ENVIRON)
    assert "Traceback" not in capfd.readouterr().err
