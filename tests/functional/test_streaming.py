"""Live output through the local Lambda and boto3: the handler's runtime loop, streamed and buffered.

The same commands run three ways: streamed through the handler's own runtime loop
(``invoke_with_response_stream``), buffered through it (``invoke``), and buffered
under AWS's awslambdaric alone (``runtime="awslambdaric"``). What comes back must be
the same bytes, statuses and facts every way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdash.local.function import FunctionConfig
from lambdash.local.server import LocalLambda
from lambdash_handler.contract.records import RESULT, STDERR, STDOUT, RecordReader


@dataclass
class Answer:
    stdout: bytes
    stderr: bytes
    result: dict[str, Any]
    arrivals: list[tuple[float, bytes, bytes]]


@pytest.fixture(scope="module", params=["lambdash", "awslambdaric"])
def local(request: pytest.FixtureRequest) -> Iterator[LocalLambda]:
    with LocalLambda(FunctionConfig(timeout=20, concurrency=4, runtime=request.param)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def streaming_local() -> Iterator[LocalLambda]:
    """The handler's own runtime loop only: awslambdaric alone cannot stream (the fallback tests cover it)."""
    with LocalLambda(FunctionConfig(timeout=20, concurrency=4)) as emulator:
        yield emulator


def client(local: LocalLambda) -> Any:
    pair = local.credentials
    return boto3.client("lambda", endpoint_url=local.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


def buffered(local: LocalLambda, event: Any) -> Answer:
    answer = client(local).invoke(FunctionName="lambdash", Payload=json.dumps(event).encode())
    result = json.loads(answer["Payload"].read())
    if "stdout" in result and isinstance(result["stdout"], dict):
        return Answer(stream_bytes(result["stdout"]), stream_bytes(result["stderr"]), result, [])
    return Answer(b"", b"", result, [])


def streamed(local: LocalLambda, event: dict[str, Any]) -> Answer:
    started = time.monotonic()
    answer = client(local).invoke_with_response_stream(FunctionName="lambdash",
                                                       Payload=json.dumps({**event, "stream": True}).encode())
    reader = RecordReader()
    out, err, result, arrivals = b"", b"", None, []
    for event_ in answer["EventStream"]:
        for kind, payload in reader.feed(event_.get("PayloadChunk", {}).get("Payload", b"")):
            arrivals.append((time.monotonic() - started, kind, payload))
            if kind == STDOUT:
                out += payload
            elif kind == STDERR:
                err += payload
            elif kind == RESULT:
                result = json.loads(payload)
    assert result is not None, "the stream ended without its result record"
    # What the stream could not carry in time was spilled (the local Lambda has its own S3): fetch it.
    out += spilled_rest(result.get("stdout", {}))
    err += spilled_rest(result.get("stderr", {}))
    return Answer(out, err, result, arrivals)


def spilled_rest(stream: dict[str, Any]) -> bytes:
    if "s3" not in stream:
        return b""
    with urllib.request.urlopen(stream["s3"]["get_url"], timeout=60) as response:
        rest: bytes = response.read()
    assert hashlib.sha256(rest).hexdigest() == stream["s3"]["sha256"]
    return rest


def stream_bytes(stream: dict[str, Any]) -> bytes:
    data = base64.b64decode(stream.get("data", ""))
    return zlib.decompress(data) if stream.get("encoding") == "zlib+base64" else data


def ways(local: LocalLambda) -> list[Any]:
    """Buffered always; streamed where the function runs the streaming loop."""
    kinds: list[Any] = [buffered]
    if local.config.runtime == "lambdash":
        kinds.append(streamed)
    return kinds


def command(text: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "command": text, **fields}


def test_all_256_byte_values_and_stderr_apart_come_back_the_same_every_way(local: LocalLambda) -> None:
    octal = "".join(f"\\{value:03o}" for value in range(256))
    for way in ways(local):
        answer = way(local, command(f"printf '{octal}'; printf 'to stderr' >&2; exit 7"))
        assert answer.stdout == bytes(range(256))
        assert answer.stderr == b"to stderr"
        assert answer.result["exit_status"] == 7


def test_twenty_megabytes_of_stdout_every_way(local: LocalLambda) -> None:
    text = "head -c 20000000 /dev/zero | tr '\\0' y"
    expected = hashlib.sha256(b"y" * 20_000_000).hexdigest()
    for way in ways(local):
        answer = way(local, command(text))
        assert len(answer.stdout) == 20_000_000
        assert hashlib.sha256(answer.stdout).hexdigest() == expected
        assert answer.result["truncated"] is False


@pytest.mark.parametrize(("text", "exit_status", "signal"), [("exit 0", 0, None), ("exit 3", 3, None),
                                                               ("kill -9 $$", None, 9), ("kill -15 $$", None, 15)])
def test_exit_statuses_and_signals_every_way(local: LocalLambda, text: str, exit_status: int | None,
                                            signal: int | None) -> None:
    for way in ways(local):
        result = way(local, command(text)).result
        assert (result["exit_status"], result["signal"]) == (exit_status, signal)


def test_a_timeout_keeps_the_partial_output_every_way(local: LocalLambda) -> None:
    for way in ways(local):
        answer = way(local, command("echo partial; sleep 30", timeout=1))
        assert answer.stdout == b"partial\n"
        assert answer.result["timed_out"] is True
        assert answer.result["signal"] == 9


def test_a_background_child_does_not_hold_the_answer_every_way(local: LocalLambda) -> None:
    for way in ways(local):
        started = time.monotonic()
        answer = way(local, command("sleep 300 & echo done"))
        assert time.monotonic() - started < 10
        assert answer.stdout == b"done\n"


def test_the_legacy_2015_event_gets_the_legacy_shape(local: LocalLambda) -> None:
    result = buffered(local, {"command": "echo hi; exit 2"}).result
    assert base64.b64decode(result["stdout"]) == b"hi\n"
    assert result["error"]["code"] == 2


@pytest.mark.parametrize(("event", "message"), [
    ({"v": 1}, "command is missing"),
    ({"v": 1, "command": 5}, "command must be a string, not a number"),
    ({"v": 1, "command": "ls", "timeout": "5"}, "timeout must be a number, not a string"),
    ({"v": 1, "command": "ls", "cwd": "/no/such/dir"}, "cwd does not exist: /no/such/dir"),
    ({"v": 1, "command": "ls", "env": []}, "env must be an object, not an array"),
    ({"v": 2, "command": "ls"}, "unknown protocol version 2"),
    ({"v": 1, "command": "ls", "colour": 1}, "unknown field 'colour'"),
    ({"v": 1, "op": "format", "command": "ls"}, "unknown op 'format'"),
])
def test_every_malformed_event_class_gets_a_structured_refusal_every_way(local: LocalLambda, event: dict[str, Any],
                                                                          message: str) -> None:
    for way in ways(local):
        result = way(local, event).result
        assert result["ok"] is False
        assert result["error"]["type"] == "InvalidRequest"
        assert result["error"]["message"].startswith(message)


def test_streamed_bytes_are_the_buffered_bytes(streaming_local: LocalLambda) -> None:
    local = streaming_local
    for text in ("seq 1 50000", "printf 'a\\0b\\377'; echo oops >&2; exit 4",
                 "seq 1 300 | sed 's/^/line /'; printf 'caf\\351\\n' >&2"):
        live, whole = streamed(local, command(text)), buffered(local, command(text))
        assert (live.stdout, live.stderr, live.result["exit_status"]) == \
            (whole.stdout, whole.stderr, whole.result["exit_status"])


def test_output_arrives_while_the_command_runs(streaming_local: LocalLambda) -> None:
    answer = streamed(streaming_local, command("for i in 1 2 3; do echo $i; sleep 0.5; done"))
    lines = [(at, payload) for at, kind, payload in answer.arrivals if kind == STDOUT]
    assert [payload for _, payload in lines] == [b"1\n", b"2\n", b"3\n"]
    assert lines[-1][0] - lines[0][0] > 0.8, "the lines came together, not as they were written"


def test_a_line_of_one_stream_is_never_split_by_the_other(streaming_local: LocalLambda) -> None:
    answer = streamed(streaming_local, command("printf 'out-start '; echo err-line >&2; sleep 0.3; echo out-end; "
                                               "printf 'prompt: '; sleep 0.5; echo answered"))
    pieces = [(kind, payload) for _, kind, payload in answer.arrivals if kind in (STDOUT, STDERR)]
    # The unfinished stdout line waits for its end while stderr writes, so stderr comes first, whole.
    assert pieces[0] == (STDERR, b"err-line\n")
    assert answer.stdout == b"out-start out-end\nprompt: answered\n"
    # A line left unfinished while the other stream is quiet (a prompt) still goes out before its end.
    assert (STDOUT, b"prompt: ") in pieces
