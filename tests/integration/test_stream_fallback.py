"""Falling back from streaming to a buffered invoke: once, only when nothing ran, and remembered.

Every command here reports to a beacon on loopback, so "it ran exactly once" is
counted, not assumed.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target
from lambdash.local.function import FunctionConfig
from lambdash.local.sandbox import stage_task_root
from lambdash.local.server import LocalLambda
from lambdash.shell.remote import RemoteShell
from tests.helpers import Beacon, run_lambdash, serving


class Collected:
    """A LiveOutput that keeps what it is given."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, name: str, data: bytes) -> None:
        self.data[name] += data


@pytest.fixture(scope="module")
def local() -> Iterator[LocalLambda]:
    with LocalLambda(FunctionConfig(timeout=30)) as emulator:
        yield emulator


class _NoStreamingEndpoint(ThreadingHTTPServer):
    """An endpoint with Lambda's Invoke API but not the streaming one (as LocalStack or RIE answer)."""

    daemon_threads = True

    def __init__(self, local: LocalLambda, answer: tuple[int, str]) -> None:
        super().__init__(("127.0.0.1", 0), _NoStreamingHandler)
        self.answer = answer
        self.calls: Counter[str] = Counter()
        pair = local.credentials
        self.lambda_ = boto3.client("lambda", endpoint_url=local.endpoint_url, region_name="us-east-1",
                                    aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
                                    config=Config(retries={"total_max_attempts": 1}))


class _NoStreamingHandler(BaseHTTPRequestHandler):
    server: _NoStreamingEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "response-streaming-invocations" in self.path:
            self.server.calls["streaming"] += 1
            status, code = self.server.answer
            payload = json.dumps({"message": "Unknown operation"}).encode()
            self.send_response(status)
            self.send_header("x-amzn-ErrorType", code)
        else:
            self.server.calls["buffered"] += 1
            payload = self.server.lambda_.invoke(FunctionName="lambdash", Payload=body)["Payload"].read()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.mark.parametrize("answer", [(404, "UnknownOperationException"), (501, "NotImplemented"),
                                    (400, "UnknownOperation")])
def test_an_endpoint_without_streaming_gets_one_buffered_invoke_and_is_remembered(
    local: LocalLambda, beacon: Beacon, answer: tuple[int, str]
) -> None:
    endpoint = _NoStreamingEndpoint(local, answer)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{endpoint.server_address[1]}"
        done = run_lambdash("--endpoint-url", url, f"{beacon.command('once')}; echo ran")
        assert (done.returncode, done.stdout, done.stderr) == (0, b"ran\n", b"")
        assert beacon.messages == ["once"]
        assert endpoint.calls == {"streaming": 1, "buffered": 1}
        # The same shell remembers: the next command goes buffered straight away.
        shell = RemoteShell(LambdaClient(Target(function="lambdash", endpoint_url=url, region="us-east-1")))
        live = Collected()
        shell.run(beacon.command("twice"), live=live)
        shell.run(f"{beacon.command('thrice')}; echo out", live=live)
        assert beacon.messages == ["once", "twice", "thrice"]
        assert endpoint.calls == {"streaming": 2, "buffered": 3}
        assert shell.streaming is False
    finally:
        endpoint.shutdown()
        endpoint.server_close()


def test_a_function_without_the_streaming_loop_answers_whole_and_that_answer_is_the_result(beacon: Beacon) -> None:
    with serving("--runtime", "awslambdaric") as url:
        done = run_lambdash("--endpoint-url", url, f"{beacon.command('once')}; echo ran; echo err >&2; exit 5")
    assert (done.returncode, done.stdout, done.stderr) == (5, b"ran\n", b"err\n")
    assert beacon.messages == ["once"]


def older_handler(root: Path) -> Path:
    """A copy of the handler as it was before streaming: it refuses a request with a ``stream`` field."""
    task_root = root / "older"
    shutil.copytree(stage_task_root() / "lambdash_handler", task_root / "lambdash_handler")
    request = task_root / "lambdash_handler" / "request.py"
    text = request.read_text()
    known = re.search(r"known = \{[^}]*\}", text)
    assert known is not None
    assert '"stream", ' in known[0]
    request.write_text(text.replace(known[0], known[0].replace('"stream", ', "")))
    return task_root


def test_an_older_handler_refusing_the_stream_field_gets_the_request_again_buffered(
    tmp_path: Path, beacon: Beacon
) -> None:
    config = FunctionConfig(task_root=older_handler(tmp_path), runtime="awslambdaric")
    with LocalLambda(config) as local:
        shell = RemoteShell(LambdaClient(Target(function="lambdash", endpoint_url=local.endpoint_url,
                                                credentials=local.credentials)))
        live = Collected()
        result = shell.run(f"{beacon.command('once')}; echo ran", live=live)
        out = io.BytesIO()
        result.stdout.write_to(out, "stdout")
    assert out.getvalue() == b"ran\n"
    assert live.data["stdout"] == b""  # nothing was streamed: the whole answer came buffered
    assert beacon.messages == ["once"]
    assert shell.streaming is False
