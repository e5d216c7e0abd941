"""Fixtures shared by every test tier: a fake Lambda context, a moto server, the local Lambda."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAMBDASH = str(Path(sys.executable).parent / "lambdash")
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-aws", action="store_true", help="run the tests that need a real AWS account")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-aws"):
        return
    skip = pytest.mark.skip(reason="needs real AWS: pass --run-aws")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip)


@dataclass
class FakeContext:
    """The parts of Lambda's context the handler uses, with a real deadline."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "lambdash"
    memory_limit_in_mb: int = 1024
    timeout: float = 30.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout - time.monotonic()) * 1000))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server on a free loopback port, for the whole session."""
    port = free_port()
    env = {**os.environ, **TEST_CREDENTIALS, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment variables that point boto3 (in this process and in children) at moto."""
    env = {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": moto_url, "AWS_ENDPOINT_URL_STS": moto_url,
           "AWS_ENDPOINT_URL_IAM": moto_url}
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "LAMBDASH_FUNCTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty spill bucket on the moto server."""
    name = f"lambdash-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def bucket_keys(s3: Any, name: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home, config and state dir, and no AWS target or credentials configured."""
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    for name in ("LAMBDASH_FUNCTION", "LAMBDASH_BUCKET", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL", "AWS_PROFILE",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run_lambdash(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The installed `lambdash` in a subprocess, with its output captured."""
    return subprocess.run(
        [LAMBDASH, *args], input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def serving(*extra: str) -> Iterator[str]:
    """`lambdash serve --quiet` on a free port; it must stop cleanly (exit 0) on SIGTERM."""
    port = free_port()
    server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet", *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert status == 0, f"lambdash serve exited {status} on SIGTERM"
