"""The handler called directly with a fake context: real commands, real spool files, S3 on moto."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lambdash_handler.app as handler_app
from lambdash_handler.app import respond, respond_streaming
from lambdash_handler.contract import LAMBDA_RESPONSE_LIMIT_BYTES
from lambdash_handler.contract.records import HEARTBEAT, RESULT, STDERR, STDOUT, RecordReader
from tests.helpers import FakeContext, bucket_keys, still_running, wait_until

# The function's environment as Lambda would give it: the handler never reads the test runner's own.
SANDBOX_ENVIRON = {
    "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
    "AWS_LAMBDA_FUNCTION_NAME": "lambdash",
}


def run(event: Any, timeout: float = 30.0, environ: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    response = respond(event, FakeContext(timeout=timeout), environ=SANDBOX_ENVIRON if environ is None else environ,
                       **kwargs)
    # Whatever the handler returns must survive the JSON round trip Lambda makes.
    encoded = json.dumps(response)
    assert len(encoded) <= LAMBDA_RESPONSE_LIMIT_BYTES
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def command(text: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "command": text, **fields}


def stream_bytes(stream: dict[str, Any]) -> bytes:
    data = base64.b64decode(stream["data"])
    return zlib.decompress(data) if stream["encoding"] == "zlib+base64" else data


class Streamed:
    """``respond_streaming`` answering one event in a thread, and the records it has sent so far, in order."""

    def __init__(self, event: dict[str, Any], timeout: float = 30.0) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self._reader = RecordReader()
        self._thread = threading.Thread(target=respond_streaming, daemon=True,
                                        args=({**event, "stream": True}, FakeContext(timeout=timeout), self._take),
                                        kwargs={"environ": SANDBOX_ENVIRON})
        self._thread.start()

    def _take(self, data: bytes) -> None:
        self.records.extend(self._reader.feed(data))

    def kinds(self) -> list[bytes]:
        return [kind for kind, _ in list(self.records)]

    def finish(self) -> dict[str, Any]:
        """The result record, once the answer has ended (it is the last record)."""
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the streamed answer never ended"
        assert self.records[-1][0] == RESULT
        result: dict[str, Any] = json.loads(self.records[-1][1])
        return result

    def output(self, kind: bytes) -> bytes:
        return b"".join(payload for each, payload in self.records if each == kind)


@pytest.mark.parametrize("status", [0, 1, 7, 255])
def test_exit_status_is_reported(status: int) -> None:
    response = run(command(f"exit {status}"))
    assert response["ok"] is True
    assert response["exit_status"] == status
    assert response["signal"] is None


def test_a_command_killed_by_a_signal_reports_the_signal() -> None:
    response = run(command("kill -9 $$"))
    assert response["exit_status"] is None
    assert response["signal"] == 9


def test_all_256_byte_values_round_trip_exactly() -> None:
    every_byte = bytes(range(256))
    octal = "".join(f"\\{value:03o}" for value in range(256))
    response = run(command(f"printf '{octal}'"))
    assert stream_bytes(response["stdout"]) == every_byte


def test_non_utf8_output_is_returned_as_bytes() -> None:
    response = run(command(r"printf '\377\376caf\351\n' >&2"))
    assert stream_bytes(response["stderr"]) == b"\xff\xfecaf\xe9\n"


def test_stderr_is_kept_apart_from_stdout() -> None:
    response = run(command("echo out; echo err >&2; echo out2"))
    assert stream_bytes(response["stdout"]) == b"out\nout2\n"
    assert stream_bytes(response["stderr"]) == b"err\n"


def test_stdin_bytes_reach_the_command() -> None:
    data = bytes(range(256)) * 4
    response = run(command("cat", stdin=base64.b64encode(data).decode()))
    assert stream_bytes(response["stdout"]) == data


def test_cwd_and_environment_go_in_and_come_back(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    response = run(command(
        'echo "$GREETING"; cd sub; export ADDED=1; unset GREETING; exit 3',
        cwd=str(tmp_path), env={"GREETING": "hello"}, capture_state=True,
    ))
    assert stream_bytes(response["stdout"]) == b"hello\n"
    assert response["exit_status"] == 3
    # The overlay is complete relative to the sandbox: GREETING is gone, OLDPWD serves `cd -`.
    assert response["state"] == {"cwd": str(tmp_path / "sub"), "env": {"ADDED": "1", "OLDPWD": str(tmp_path)}}


def test_unsetting_a_sandbox_variable_comes_back_as_null() -> None:
    response = run(command("unset SANDBOX_VARIABLE", capture_state=True),
                   environ={**SANDBOX_ENVIRON, "SANDBOX_VARIABLE": "x"})
    assert response["state"]["env"] == {"SANDBOX_VARIABLE": None}


def test_timeout_kills_the_group_and_keeps_partial_output() -> None:
    started = time.monotonic()
    response = run(command("echo partial; sleep 30; echo never", timeout=1))
    assert time.monotonic() - started < 10
    assert response["timed_out"] is True
    assert response["signal"] == 9
    assert stream_bytes(response["stdout"]) == b"partial\n"


def test_the_lambda_deadline_stops_a_command_that_never_ends() -> None:
    response = run(command("echo begun; sleep 60"), timeout=2.5)
    assert response["timed_out"] is True
    assert response["time_limit"]["kind"] == "deadline"
    assert stream_bytes(response["stdout"]) == b"begun\n"


def test_a_streamed_command_that_falls_silent_keeps_its_stream_alive_with_heartbeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handler_app, "HEARTBEAT_SECONDS", 0.1)  # Lambda's 10 s, shortened
    go_on = tmp_path / "go-on"
    streamed = Streamed(command(f"echo before; until [ -e {go_on} ]; do sleep 0.05; done; echo after >&2"))

    def heartbeat_after_before() -> bool:
        kinds = streamed.kinds()
        return STDOUT in kinds and HEARTBEAT in kinds[kinds.index(STDOUT):]

    wait_until(heartbeat_after_before, message=lambda: f"no heartbeat while it was silent: {streamed.records}")
    go_on.touch()
    result = streamed.finish()
    assert result["exit_status"] == 0
    # Heartbeats are empty and fall between the output records, which keep their order.
    assert all(payload == b"" for kind, payload in streamed.records if kind == HEARTBEAT)
    assert [record for record in streamed.records[:-1] if record[0] != HEARTBEAT] == [
        (STDOUT, b"before\n"), (STDERR, b"after\n")]


def test_without_a_pidfd_a_streamed_command_ends_with_its_output_its_status_and_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "pidfd_open")  # an older kernel, or not Linux: the handler looks for the exit instead
    ended = Streamed(command("printf 'out\\nlast'; echo err >&2; exit 3"))
    result = ended.finish()
    assert (result["exit_status"], result["timed_out"]) == (3, False)
    assert (ended.output(STDOUT), ended.output(STDERR)) == (b"out\nlast", b"err\n")
    cut = Streamed(command("echo partial; sleep 30; echo never", timeout=1))
    result = cut.finish()
    assert (result["timed_out"], result["signal"]) == (True, 9)
    assert cut.output(STDOUT) == b"partial\n"


def test_a_background_child_holding_stdout_does_not_delay_the_response() -> None:
    # The child would hold stdout open for 300 s; the response comes when the shell exits.
    response = run(command("sleep 300 & echo done"))
    assert stream_bytes(response["stdout"]) == b"done\n"
    assert response["exit_status"] == 0


def test_background_children_are_killed_unless_kept(tmp_path: Path) -> None:
    killed, kept = tmp_path / "killed", tmp_path / "kept"
    response = run(command(f"sleep 60 & echo $! > {killed}"))
    assert response["exit_status"] == 0
    pid = int(killed.read_text())
    wait_until(lambda: not still_running({pid}), message=f"the background sleep {pid} outlived its command")
    run(command(f"sleep 60 & echo $! > {kept}", keep_background=True))
    kept_pid = int(kept.read_text())
    try:
        assert still_running({kept_pid}) == {kept_pid}
    finally:
        os.kill(kept_pid, 9)


def test_response_carries_the_sandbox_identity() -> None:
    first = run(command("true"))
    second = run(command("true"))
    assert first["sandbox"]["id"] == second["sandbox"]["id"]
    assert second["sandbox"]["cold"] is False
    assert second["sandbox"]["invocations"] == first["sandbox"]["invocations"] + 1
    assert second["request_id"]
    assert second["memory"]["handler_peak_kib"] > 0
    assert second["timings"]["handler_ms"] >= second["timings"]["command_ms"]


def test_one_structured_log_line_per_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    context = FakeContext()
    respond(command("exit 4"), context, environ=SANDBOX_ENVIRON)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["request_id"] == context.aws_request_id
    assert lines[0]["command"] == "exit 4"
    assert lines[0]["exit_status"] == 4
    assert lines[0]["sandbox_id"]
    assert lines[0]["duration_ms"] > 0


def test_compressible_output_comes_back_compressed_inline() -> None:
    response = run(command("yes lambdash | head -c 20000000"))
    assert response["stdout"]["encoding"] == "zlib+base64"
    assert stream_bytes(response["stdout"]) == b"lambdash\n" * (20_000_000 // 9) + b"lambdash\n"[: 20_000_000 % 9]


def test_big_output_spills_to_s3(s3: Any, bucket: str) -> None:
    response = run(command("head -c 20000000 /dev/urandom; echo small >&2", output={"bucket": bucket}))
    spilled = response["stdout"]["s3"]
    assert spilled["size"] == 20_000_000
    assert spilled["bucket"] == bucket
    head = s3.head_object(Bucket=bucket, Key=spilled["key"])
    assert head["ServerSideEncryption"] == "AES256"
    body = urllib.request.urlopen(spilled["get_url"]).read()
    assert len(body) == 20_000_000
    assert hashlib.sha256(body).hexdigest() == spilled["sha256"]
    assert stream_bytes(response["stderr"]) == b"small\n"
    assert response["truncated"] is False
    urllib.request.urlopen(urllib.request.Request(spilled["delete_url"], method="DELETE"))
    assert bucket_keys(s3, bucket) == []


def test_without_a_bucket_output_is_cut_and_the_loss_is_reported() -> None:
    response = run(command("head -c 10000000 /dev/urandom"))
    stdout = response["stdout"]
    kept = len(stream_bytes(stdout))
    assert stdout["size"] == 10_000_000
    assert stdout["lost"] == 10_000_000 - kept
    assert 4_000_000 < kept < 4_718_592
    assert response["truncated"] is True


def test_the_inline_limit_can_be_lowered() -> None:
    response = run(command("head -c 5000 /dev/urandom", output={"inline_limit": 1000}))
    assert response["stdout"]["lost"] == 4000


def test_stdin_can_come_from_the_spill_bucket(s3: Any, bucket: str) -> None:
    upload = run({"v": 1, "op": "presign_upload", "output": {"bucket": bucket}})["upload"]
    data = bytes(range(256)) * 1000
    request = urllib.request.Request(upload["put_url"], data=data, method="PUT", headers=upload["headers"])
    urllib.request.urlopen(request)
    response = run(command("sha256sum", stdin_key=upload["key"], output={"bucket": bucket}))
    assert stream_bytes(response["stdout"]).split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert bucket_keys(s3, bucket) == []


def test_the_legacy_2015_event_gets_the_legacy_shape() -> None:
    response = run({"command": "echo hi; echo oops >&2; exit 2"})
    assert base64.b64decode(response["stdout"]) == b"hi\n"
    assert base64.b64decode(response["stderr"]) == b"oops\n"
    assert response["error"]["code"] == 2
    assert run({"command": "true"})["error"] is None


def test_the_legacy_shape_tells_what_was_cut_at_the_end_of_stderr() -> None:
    response = run({"command": "head -c 7000000 /dev/zero; echo oops >&2"})
    stdout, stderr = base64.b64decode(response["stdout"]), base64.b64decode(response["stderr"])
    assert stdout == bytes(len(stdout))
    lost = 7_000_000 - len(stdout)
    assert lost > 0
    assert stderr == (
        b"oops\nlambdash: stdout was cut to fit the response: %d of 7000000 bytes lost "
        b"(a current lambdash client gets it all, through S3)\n" % lost
    )
    assert len(json.dumps(response)) <= LAMBDA_RESPONSE_LIMIT_BYTES


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], "event must be a JSON object, not an array"),
        ("ls", "event must be a JSON object, not a string"),
        ({"v": 1}, "command is missing"),
        ({}, "command is missing"),
        ({"v": 1, "command": 5}, "command must be a string, not a number"),
        ({"command": None}, "command must be a string, not null"),
        ({"v": 1, "command": "ls", "timeout": "5"}, "timeout must be a number, not a string"),
        ({"v": 1, "command": "ls", "timeout": True}, "timeout must be a number, not a boolean"),
        ({"v": 1, "command": "ls", "timeout": 0}, "timeout must be more than 0"),
        ({"v": 1, "command": "ls", "timeout": 901}, "timeout must be more than 0 and at most 900"),
        ({"v": 1, "command": "ls", "stdin": "not base64!"}, "stdin is not valid base64"),
        ({"v": 1, "command": "ls", "cwd": "/no/such/dir"}, "cwd does not exist: /no/such/dir"),
        ({"v": 1, "command": "ls", "env": []}, "env must be an object, not an array"),
        ({"v": 1, "command": "ls", "env": {"A": 1}}, "env['A'] must be a string, not a number"),
        ({"v": 1, "command": "ls", "output": {"inline_limit": -1}}, "output.inline_limit must not be negative"),
        ({"v": 2, "command": "ls"}, "unknown protocol version 2"),
        ({"v": 1, "command": "ls", "colour": 1}, "unknown field 'colour'"),
        ({"v": 1, "op": "format", "command": "ls"}, "unknown op 'format'"),
    ],
)
def test_malformed_events_get_a_structured_error(event: Any, message: str) -> None:
    response = run(event)
    assert response["ok"] is False
    assert response["error"]["type"] == "InvalidRequest"
    assert response["error"]["message"].startswith(message)
    assert response["request_id"]


_SAFE_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _SAFE_TEXT,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["v", "op", "command", "env", "cwd", "timeout", "stdin", "output", "x"]),
                      children, max_size=5),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=_JSON)
def test_any_json_value_gets_a_structured_response(event: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    response = run(event, timeout=5)
    if "ok" in response:
        assert isinstance(response["ok"], bool)
        if not response["ok"]:
            assert response["error"]["message"]
    else:  # the legacy shape
        assert set(response) == {"stdout", "stderr", "error"}


def test_refusals_a_client_can_recover_from_carry_their_own_code() -> None:
    assert run(command("ls", cwd="/no/such/dir"))["error"]["code"] == "cwd_missing"
    assert run({"v": 1, "command": 5})["error"]["code"] == "invalid"
