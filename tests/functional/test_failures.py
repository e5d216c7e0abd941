"""Each way a one-shot can fail on lambdash's side: the exact line on stderr and exit 255."""

from __future__ import annotations

import base64
import io
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from lambdash.aws.invoke import RETRY_ATTEMPTS, LambdaClient
from lambdash.cli import main
from lambdash.config import Target
from lambdash.errors import FunctionError, LambdashError, TransportError
from lambdash.local.eventstream import invoke_complete, payload_chunk
from lambdash.shell.remote import RemoteShell
from lambdash.terminal import Terminal
from lambdash_handler.contract.records import PREAMBLE, STDOUT, encode_record
from tests.helpers import TEST_CREDENTIALS, config_file, free_port
from tests.helpers.servers import running, url_of


def run_main(*argv: str) -> tuple[int, str, bytes]:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    terminal = Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr, stdin_isatty=True)
    status = main(list(argv), terminal)
    return status, stderr.getvalue().decode(), stdout.getvalue()


def stubbed_shell() -> tuple[RemoteShell, Stubber]:
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    stubber = Stubber(client)
    stubber.activate()
    lambda_client = LambdaClient(Target(function="shell", region="eu-west-1"), client=client, sleep=lambda _: None)
    return RemoteShell(lambda_client), stubber


def expected_invoke() -> dict[str, Any]:
    return {"FunctionName": "shell", "InvocationType": "RequestResponse", "LogType": "Tail", "Payload": ANY}


def test_no_credentials(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Against AWS itself: botocore finds no credentials before it sends anything.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    status, stderr, _ = run_main("-f", "shell", "--region", "eu-west-1", "true")
    assert status == 255
    assert stderr == (
        "lambdash: error: no AWS credentials found: run `aws configure`, set AWS_PROFILE, "
        "or use --local for the local sandbox\n"
    )


def test_an_unknown_profile_names_it_and_where_profiles_are_read_from(home: Path) -> None:
    status, stderr, _ = run_main("-f", "shell", "--profile", "nobody", "true")
    assert status == 255
    assert stderr == (
        f"lambdash: error: AWS profile 'nobody' not found in {home}/.aws/config or {home}/.aws/credentials "
        "(`aws configure list-profiles` lists the profiles there)\n"
    )


def test_an_unreachable_endpoint(home: Path) -> None:
    port = free_port()
    status, stderr, _ = run_main("-f", "shell", "--endpoint-url", f"http://127.0.0.1:{port}", "true")
    assert status == 255
    assert stderr.startswith(
        f"lambdash: error: cannot reach http://127.0.0.1:{port} (is `lambdash serve` running there?): "
        f'Could not connect to the endpoint URL: "http://127.0.0.1:{port}/2021-11-15/functions/shell/'
        'response-streaming-invocations"'
    )
    assert stderr.count("\n") == 1


def test_a_bad_config_file(home: Path) -> None:
    config = config_file(home)
    config.parent.mkdir(parents=True)
    config.write_text('function = "a"\ncolour = "red"\n')
    status, stderr, _ = run_main("true")
    assert status == 255
    assert stderr == (f"lambdash: error: {config}: unknown setting 'colour' "
                      "(known: function, region, profile, bucket, agent, local_notice)\n")


def test_function_not_found() -> None:
    shell, stubber = stubbed_shell()
    stubber.add_client_error("invoke", "ResourceNotFoundException", "Function not found: arn:x", 404,
                             expected_params=expected_invoke())
    with pytest.raises(TransportError) as raised:
        shell.run("true")
    assert raised.value.message == (
        "function 'shell' not found: Function not found: arn:x; create it with `lambdash deploy`"
    )


def test_access_denied() -> None:
    shell, stubber = stubbed_shell()
    stubber.add_client_error(
        "invoke", "AccessDeniedException",
        "User: arn:aws:iam::1:user/u is not authorized to perform: lambda:InvokeFunction", 403,
        expected_params=expected_invoke(),
    )
    with pytest.raises(TransportError) as raised:
        shell.run("true")
    assert raised.value.message == (
        "access denied: User: arn:aws:iam::1:user/u is not authorized to perform: lambda:InvokeFunction"
    )


def test_throttled_after_retries_and_never_more() -> None:
    shell, stubber = stubbed_shell()
    for _ in range(RETRY_ATTEMPTS):
        stubber.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", 429,
                                 expected_params=expected_invoke())
    with pytest.raises(TransportError) as raised:
        shell.run("true")
    assert raised.value.message == (
        f"Lambda throttled shell on all {RETRY_ATTEMPTS} attempts; try again later or raise its concurrency limit"
    )
    stubber.assert_no_pending_responses()


def test_a_throttle_then_success_runs_the_command_once() -> None:
    shell, stubber = stubbed_shell()
    stubber.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", 429,
                             expected_params=expected_invoke())
    payload = {"v": 1, "ok": True, "exit_status": 0, "signal": None, "timed_out": False,
               "stdout": {"size": 2, "encoding": "base64", "data": "b2s=", "lost": 0},
               "stderr": {"size": 0, "encoding": "base64", "data": "", "lost": 0}, "request_id": "r"}
    stubber.add_response("invoke", invoke_response(payload), expected_params=expected_invoke())
    result = shell.run("true")
    assert result.stdout.data == b"ok"
    assert result.throttles == 1
    stubber.assert_no_pending_responses()


def invoke_response(payload: Any, function_error: str | None = None, log: str = "") -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response: dict[str, Any] = {
        "StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body)),
        "LogResult": base64.b64encode(log.encode()).decode(),
    }
    if function_error:
        response["FunctionError"] = function_error
    return response


def test_a_crash_on_lambdas_side_shows_the_last_log_lines() -> None:
    shell, stubber = stubbed_shell()
    log = "START RequestId: r1\n" + "".join(f"line {n}\n" for n in range(10)) + "END RequestId: r1\nREPORT x\n"
    stubber.add_response(
        "invoke",
        invoke_response({"errorMessage": "Task timed out after 3.00 seconds", "errorType": "Sandbox.Timedout"},
                        function_error="Unhandled", log=log),
        expected_params=expected_invoke(),
    )
    with pytest.raises(FunctionError) as raised:
        shell.run("sleep 10")
    assert raised.value.message.startswith(
        "the function failed (Sandbox.Timedout): Task timed out after 3.00 seconds [request "
    )
    assert raised.value.details == ["line 7", "line 8", "line 9", "END RequestId: r1", "REPORT x"]


def test_a_function_that_is_not_lambdash() -> None:
    shell, stubber = stubbed_shell()
    stubber.add_response("invoke", invoke_response({"statusCode": 200}), expected_params=expected_invoke())
    with pytest.raises(LambdashError) as raised:
        shell.run("true")
    assert raised.value.message == (
        "shell does not answer like a lambdash handler (protocol version 1); redeploy it with `lambdash deploy`"
    )


def test_main_prints_details_under_the_error_line(tmp_path: Path) -> None:
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda

    (tmp_path / "boom.py").write_text("def handle(event, context):\n    raise KeyError('x')\n")
    with LocalLambda(FunctionConfig(task_root=tmp_path, handler="boom.handle")) as local:
        local.keep_credentials()
        status, stderr, _ = run_main("--endpoint-url", local.endpoint_url, "true")
    lines = stderr.splitlines()
    assert status == 255
    assert lines[0].startswith("lambdash: error: the function failed (KeyError): 'x' [request ")
    # The last lines of the function's log (LogType Tail) follow, ending with Lambda's REPORT line.
    assert len(lines) == 6
    assert all(line.startswith("  | ") for line in lines[1:])
    assert lines[-1].startswith("  | REPORT RequestId: ")


# --- a response stream that goes wrong --------------------------------------------------------------------------


class _CannedStreamEndpoint(ThreadingHTTPServer):
    """An endpoint whose response-streaming invoke answers the same event-stream messages every time."""

    daemon_threads = True

    def __init__(self, messages: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _CannedStreamHandler)
        self.messages = messages


class _CannedStreamHandler(BaseHTTPRequestHandler):
    server: _CannedStreamEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        assert "response-streaming-invocations" in self.path
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("x-amzn-RequestId", "r-stream")
        self.send_header("Content-Length", str(len(self.server.messages)))
        self.end_headers()
        self.wfile.write(self.server.messages)


SHOWN = payload_chunk(PREAMBLE + encode_record(STDOUT, b"shown\n"))


@pytest.mark.parametrize(("messages", "stdout", "error"), [
    pytest.param(SHOWN + payload_chunk(encode_record(b"x")) + invoke_complete(), b"shown\n",
                 "the stream from shell is damaged: unknown record b'x' of 0 bytes", id="damaged"),
    pytest.param(SHOWN + invoke_complete(), b"shown\n",
                 "the stream from shell ended before the command's result; it may still be running [request r-stream]",
                 id="no-result"),
    pytest.param(invoke_complete(), b"",
                 "shell answered something that is not JSON (0 bytes): it is probably not a lambdash function; name "
                 "one with -f, or make one with `lambdash deploy`", id="empty-taken-as-a-buffered-answer"),
])
def test_a_stream_that_goes_wrong_keeps_what_it_showed_and_ends_in_one_line(
    monkeypatch: pytest.MonkeyPatch, messages: bytes, stdout: bytes, error: str
) -> None:
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with running(_CannedStreamEndpoint(messages)) as endpoint:
        status, stderr, out = run_main("-f", "shell", "--endpoint-url", url_of(endpoint), "true")
    assert (status, out, stderr) == (255, stdout, f"lambdash: error: {error}\n")
