"""The contract's JSON schemas hold what the client really sends and what the handler really answers.

Requests are built by the client's own ``RemoteShell`` and answered by the real
handler in this process (``respond``, with a fake Lambda context); the spill
bucket is moto on loopback. Every request and every response is validated
against ``request.schema.json`` and ``response.schema.json``, and a few broken
documents show that the schemas refuse what the handler refuses.
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target
from lambdash.errors import RequestRefused
from lambdash.shell.remote import RemoteShell
from lambdash.terminal import OutputTerminal
from lambdash_handler.app import error_response, respond, respond_streaming
from lambdash_handler.contract import MAX_PROBE_CHECKS, MAX_TIMEOUT_SECONDS, PROTOCOL_VERSION, schema_path
from lambdash_handler.contract.records import RESULT, RecordReader
from tests.helpers import FakeContext, free_port

SCHEMAS = ("request", "response", "inventory", "probe")
# The function's environment as Lambda would give it: the handler never reads the test runner's own.
SANDBOX_ENVIRON = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                   "AWS_LAMBDA_FUNCTION_NAME": "lambdash"}


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_path(name).read_text()))


REQUEST, RESPONSE, INVENTORY, PROBE = (validator(name) for name in SCHEMAS)


def assert_valid_response(response: dict[str, Any]) -> None:
    RESPONSE.validate(response)
    if "inventory" in response:
        INVENTORY.validate(response["inventory"])
    if "probe" in response:
        PROBE.validate(response["probe"])


def answer(event: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The handler's answer to ``event``, after the JSON round trip Lambda makes."""
    response: dict[str, Any] = json.loads(json.dumps(respond(event, FakeContext(timeout=timeout),
                                                             environ=SANDBOX_ENVIRON)))
    return response


class InProcessLambda:
    """Stands in for boto3's Lambda client: the real handler answers each invoke, in this process."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, LogType: str, Payload: bytes) -> dict[str, Any]:
        request = json.loads(Payload)
        self.requests.append(request)
        response = answer(request)
        self.responses.append(response)
        return {"Payload": io.BytesIO(json.dumps(response).encode()), "StatusCode": 200,
                "ResponseMetadata": {"RequestId": str(uuid.uuid4())}}


@pytest.fixture
def lambda_service() -> Iterator[InProcessLambda]:
    service = InProcessLambda()
    yield service
    assert service.requests, "the client sent nothing"
    for request in service.requests:
        REQUEST.validate(request)
    for response in service.responses:
        assert_valid_response(response)


def shell_on(service: InProcessLambda, bucket: str | None = None) -> RemoteShell:
    return RemoteShell(LambdaClient(Target(function="lambdash", region="us-east-1"), client=service), bucket=bucket)


def test_the_schemas_are_valid_draft_2020_12() -> None:
    for name in SCHEMAS:
        schema = json.loads(schema_path(name).read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_request_schema_holds_the_contracts_limits() -> None:
    properties = json.loads(schema_path("request").read_text())["$defs"]["request"]["properties"]
    assert properties["v"]["const"] == PROTOCOL_VERSION
    assert properties["timeout"]["oneOf"][1]["maximum"] == MAX_TIMEOUT_SECONDS
    assert properties["checks"]["maxItems"] == MAX_PROBE_CHECKS


# --- (a) what the client sends -----------------------------------------------------------------


def test_a_plain_run(lambda_service: InProcessLambda) -> None:
    assert shell_on(lambda_service).run("echo hi").stdout.read("stdout") == b"hi\n"


def test_a_run_with_stdin(lambda_service: InProcessLambda) -> None:
    assert shell_on(lambda_service).run("cat", stdin=b"\x00\xffbytes").stdout.read("stdout") == b"\x00\xffbytes"


def test_a_run_with_its_state_carried_in_and_out(lambda_service: InProcessLambda) -> None:
    result = shell_on(lambda_service).run(
        "cd /tmp; export CHANGED=yes", cwd="/", env={"GIVEN": "1", "PATH_UNSET": None}, capture_state=True,
        keep_background=True, timeout=10, shell="bash")
    assert result.state is not None
    assert (result.state.cwd, result.state.env["CHANGED"]) == ("/tmp", "yes")
    assert set(lambda_service.requests[0]) >= {"cwd", "env", "capture_state", "keep_background", "timeout", "shell"}


def test_a_run_starting_with_the_last_status(lambda_service: InProcessLambda) -> None:
    result = shell_on(lambda_service).run("echo $?", capture_state=True, last_status=4, shell="bash")
    assert result.stdout.read("stdout") == b"4\n"
    assert lambda_service.requests[0]["last_status"] == 4


def test_a_run_for_a_terminal_gets_its_size_and_type_under_the_env_given(lambda_service: InProcessLambda) -> None:
    shell = shell_on(lambda_service)
    shown_on = OutputTerminal(columns=100, lines=30, term="xterm-256color")
    result = shell.run("echo $COLUMNS $LINES $TERM", terminal=shown_on)
    assert result.stdout.read("stdout") == b"100 30 xterm-256color\n"
    result = shell.run("echo $COLUMNS; export LINES=5", env={"COLUMNS": "50"}, capture_state=True, terminal=shown_on)
    assert result.stdout.read("stdout") == b"50\n"
    # The terminal's own variables are not the user's: only what the user changed comes back.
    assert result.state is not None
    assert result.state.env == {"COLUMNS": "50", "LINES": "5"}


class OlderLambda(InProcessLambda):
    """A handler from before a field: it refuses it, as parse_request refuses any unknown one."""

    def __init__(self, field: str = "last_status", named: str | None = None) -> None:
        super().__init__()
        self.field = field
        # The field its refusal names: the field itself, unless told.
        self.named = named or field

    def invoke(self, **call: Any) -> dict[str, Any]:
        request = json.loads(call["Payload"])
        if self.field not in request:
            return super().invoke(**call)
        self.requests.append(request)
        refusal = {**error_response("InvalidRequest", f"unknown field {self.named!r}", "invalid"),
                   "request_id": "r", "sandbox": {"id": "s"}}
        return {"Payload": io.BytesIO(json.dumps(refusal).encode()), "StatusCode": 200,
                "ResponseMetadata": {"RequestId": str(uuid.uuid4())}}


@pytest.mark.parametrize(("field", "options"), [
    ("last_status", {"capture_state": True, "last_status": 1}),
    ("terminal", {"terminal": OutputTerminal(columns=100, lines=30, term="xterm")}),
])
def test_a_handler_older_than_a_field_is_asked_again_without_it(field: str, options: dict[str, Any]) -> None:
    older = OlderLambda(field)
    shell = shell_on(older)
    first = shell.run("echo ran", **options)
    second = shell.run("echo again", **options)
    assert (first.stdout.read("stdout"), second.stdout.read("stdout")) == (b"ran\n", b"again\n")
    # Refused once; the shell then remembers the handler does not know it.
    assert [field in request for request in older.requests] == [True, False, False]


def test_an_inventory_from_a_handler_older_than_redaction_keys_is_asked_again_without_one() -> None:
    older = OlderLambda("redact_key")
    inventory = shell_on(older).inventory(redact_key="00" * 16)
    INVENTORY.validate(inventory)  # the whole inventory, without keyed redaction
    assert ["redact_key" in request for request in older.requests] == [True, False]


@pytest.mark.parametrize("named", ["colour", "last_status"])
def test_a_refusal_the_shell_cannot_meet_by_leaving_a_field_out_is_the_error_and_is_not_retried(
    named: str
) -> None:
    older = OlderLambda("terminal", named=named)
    with pytest.raises(RequestRefused) as raised:
        shell_on(older).run("echo ran", terminal=OutputTerminal(columns=100, lines=30, term="xterm"))
    assert raised.value.message == f"the function refused the request: unknown field {named!r}"
    assert len(older.requests) == 1


def test_a_command_and_stdin_too_big_for_the_request_go_through_the_bucket(
        lambda_service: InProcessLambda, s3: Any, bucket: str) -> None:
    script = "# " + "x" * 6_300_000 + "\nwc -c\n"
    result = shell_on(lambda_service, bucket).run(script, stdin=b"y" * 4_600_000)
    assert result.stdout.read("stdout").strip() == b"4600000"
    ops = [request.get("op", "run") for request in lambda_service.requests]
    assert ops == ["presign_upload", "presign_upload", "run"]
    assert {"command_key", "command_sha256", "stdin_key", "stdin_sha256"} <= set(lambda_service.requests[-1])


def test_a_probe(lambda_service: InProcessLambda) -> None:
    document = shell_on(lambda_service).probe([f"127.0.0.1:{free_port()}"], timeout=1.0)
    assert document["checks"][0]["verdict"] == "refused"


def test_an_inventory(lambda_service: InProcessLambda) -> None:
    inventory = shell_on(lambda_service).inventory(redact_key="ab" * 16)
    assert inventory["schema"] == "lambdash.inventory"
    assert lambda_service.requests[0]["redact_key"] == "ab" * 16


# --- (b) what the handler answers --------------------------------------------------------------


@pytest.mark.parametrize("event", [
    pytest.param({"v": 1, "command": "echo out; echo err >&2; exit 3"}, id="small-run"),
    pytest.param({"v": 1, "command": "kill -9 $$"}, id="signal"),
    pytest.param({"v": 1, "command": "echo started; sleep 5", "timeout": 0.5}, id="timeout"),
    pytest.param({"v": 1, "command": "yes lambdash | head -c 2000000"}, id="compressed"),
    pytest.param({"v": 1, "command": "head -c 100000 /dev/zero", "output": {"inline_limit": 1000,
                                                                               "compress": False}}, id="cut"),
    pytest.param({"v": 1, "command": 5}, id="invalid"),
    pytest.param({"v": 1, "command": "ls", "cwd": "/no/such/dir"}, id="cwd-missing"),
    pytest.param([1, 2], id="not-an-object"),
    pytest.param({"command": "echo legacy; exit 2"}, id="legacy"),
    pytest.param({"command": "kill -9 $$"}, id="legacy-signal"),
    pytest.param({"command": "true"}, id="legacy-ok"),
    pytest.param({"v": 1, "op": "probe", "checks": ["127.0.0.1:1", "dns:nothing.invalid@127.0.0.1:1"],
                  "timeout": 1}, id="probe"),
    pytest.param({"v": 1, "op": "inventory"}, id="inventory"),
    pytest.param({"v": 1, "op": "presign_upload"}, id="presign-without-a-bucket"),
])
def test_the_handlers_answers_are_valid(event: Any) -> None:
    response = answer(event)
    assert_valid_response(response)
    if response.get("ok", True):  # accepted (a legacy answer has no "ok"): so the request was valid
        REQUEST.validate(event)


def test_a_state_the_shell_could_not_report_is_a_valid_answer() -> None:
    response = answer({"v": 1, "command": "exec true", "capture_state": True})
    assert response["state"] is None
    assert response["state_error"] == ("the shell did not report its cwd and environment (did the command exec, "
                                       "or end its shell?)")
    assert_valid_response(response)


def test_a_spilled_run_and_a_presigned_upload_are_valid(s3: Any, bucket: str) -> None:
    spilled = answer({"v": 1, "command": "head -c 7000000 /dev/urandom", "output": {"bucket": bucket}})
    assert "s3" in spilled["stdout"]
    assert_valid_response(spilled)
    assert_valid_response(answer({"v": 1, "op": "presign_upload", "output": {"bucket": bucket}}))


def test_a_streamed_runs_result_record_is_valid() -> None:
    sent = bytearray()
    respond_streaming({"v": 1, "command": "echo streamed", "stream": True}, FakeContext(), sent.extend,
                      environ=SANDBOX_ENVIRON)
    results = [payload for kind, payload in RecordReader().feed(bytes(sent)) if kind == RESULT]
    assert len(results) == 1
    result = json.loads(results[0])
    assert result["stdout"]["streamed"] == len(b"streamed\n")
    assert_valid_response(result)


def test_a_full_screen_program_stopped_is_a_valid_answer_both_ways() -> None:
    event = {"v": 1, "command": "printf 'shown\\033[?1049hdrawn'; sleep 30", "terminal": {"columns": 80, "lines": 24}}
    buffered = answer(event)
    sent = bytearray()
    streamed = respond_streaming({**event, "stream": True}, FakeContext(), sent.extend, environ=SANDBOX_ENVIRON)
    for response in (buffered, streamed):
        assert_valid_response(response)
        assert response["full_screen"] == "it switched to the terminal's alternate screen (ESC[?1049h)"
        assert (response["signal"], response["stdout"]["size"]) == (9, len(b"shown"))
    assert base64.b64decode(buffered["stdout"]["data"]) == b"shown"
    REQUEST.validate(event)


# --- (c) what they refuse ----------------------------------------------------------------------


@pytest.mark.parametrize("event", [
    pytest.param({"v": 1, "command": "ls", "colour": 1}, id="unknown-field"),
    pytest.param({"v": 2, "command": "ls"}, id="unknown-version"),
    pytest.param({"v": 1, "op": "format", "command": "ls"}, id="unknown-op"),
    pytest.param({"v": 1}, id="no-command"),
    pytest.param({"v": 1, "command": "ls", "command_key": "lambdash/in/x"}, id="command-and-command-key"),
    pytest.param({"v": 1, "command": "ls\0"}, id="nul-in-command"),
    pytest.param({"v": 1, "command": "ls", "timeout": 901}, id="timeout-too-long"),
    pytest.param({"v": 1, "command": "ls", "timeout": True}, id="timeout-boolean"),
    pytest.param({"v": 1, "command": "ls", "stdin": "not base64!"}, id="stdin-not-base64"),
    pytest.param({"v": 1, "command": "ls", "env": {"A=B": "1"}}, id="bad-variable-name"),
    pytest.param({"v": 1, "command": "ls", "shell": "zsh"}, id="unknown-shell"),
    pytest.param({"v": 1, "command": "ls", "output": {"inline_limit": -1}}, id="negative-inline-limit"),
    pytest.param({"v": 1, "op": "probe"}, id="probe-without-checks"),
    pytest.param({"v": 1, "op": "probe", "checks": ["127.0.0.1:1"] * (MAX_PROBE_CHECKS + 1)}, id="too-many-checks"),
    pytest.param({"v": 1, "op": "inventory", "redact_key": "abc"}, id="short-redact-key"),
    pytest.param({"v": 1, "command": "ls", "terminal": {"columns": 0, "lines": 24}}, id="terminal-without-columns"),
    pytest.param({"v": 1, "command": "ls", "terminal": {"columns": 80}}, id="terminal-without-lines"),
    pytest.param({"v": 1, "command": "ls", "terminal": {"columns": 80, "lines": 24, "term": "x\ty"}},
                 id="terminal-type-not-printable"),
    pytest.param({"v": 1, "command": "ls", "terminal": {"columns": 80, "lines": 24, "colour": 1}},
                 id="terminal-unknown-field"),
    pytest.param({"v": 1, "command": "ls", "last_status": 1}, id="last-status-without-capture-state"),
    pytest.param({"v": 1, "command": "ls", "capture_state": True, "last_status": 256}, id="last-status-too-big"),
])
def test_a_request_the_handler_refuses_does_not_validate(event: dict[str, Any]) -> None:
    assert not REQUEST.is_valid(event)
    response = answer(event)
    assert (response["ok"], response["error"]["type"]) == (False, "InvalidRequest")


def small_run() -> dict[str, Any]:
    return answer({"v": 1, "command": "echo hi"})


@pytest.mark.parametrize("damage", [
    pytest.param(lambda response: response.pop("exit_status"), id="no-exit-status"),
    pytest.param(lambda response: response.update(ok=False), id="not-ok-with-a-result"),
    pytest.param(lambda response: response.update(v=2), id="another-version"),
    pytest.param(lambda response: response["stdout"].update(s3={"bucket": "b"}), id="inline-and-half-spilled"),
    pytest.param(lambda response: response["stdout"].update(data="not base64!"), id="data-not-base64"),
    pytest.param(lambda response: response["stdout"].update(lost=-1), id="negative-loss"),
    pytest.param(lambda response: response["sandbox"].pop("id"), id="no-sandbox-id"),
    pytest.param(lambda response: response.update(colour=1), id="unknown-field"),
])
def test_a_damaged_response_does_not_validate(damage: Any) -> None:
    response = small_run()
    assert RESPONSE.is_valid(response)
    damage(response)
    assert not RESPONSE.is_valid(response)


def test_a_damaged_error_or_legacy_response_does_not_validate() -> None:
    refusal = answer({"v": 1, "command": 5})
    refusal["error"]["type"] = "Oops"
    assert not RESPONSE.is_valid(refusal)
    legacy = answer({"command": "true"})
    legacy["error"] = {"code": 0}
    assert not RESPONSE.is_valid(legacy)
