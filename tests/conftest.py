"""Fixtures and hooks shared by every test tier; the helpers tests import are in ``tests/helpers``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    HERMETIC_SETTINGS,
    TEST_CREDENTIALS,
    AwsCallRecorder,
    Beacon,
    free_port,
    from_the_callers_shell,
    hermetic_environment,
    run_lambdash,
    state_dir,
    wait_for_port,
)
from tests.helpers.iam import documented, violations


@pytest.fixture(scope="session", autouse=True)
def hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same clean environment for fixtures shared by a module or the session (they start before ``home``)."""
    path = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if from_the_callers_shell(name):
                patch.delenv(name)
        for name, value in hermetic_environment(path).items():
            patch.setenv(name, value)
        yield path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-aws", action="store_true", help="run the tests that need a real AWS account")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-aws"):
        return
    skip = pytest.mark.skip(reason="needs real AWS: pass --run-aws")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip)


def moto_server(**settings: str) -> Iterator[str]:
    """A moto server on a free loopback port, with these MOTO_* settings; its URL while it runs."""
    port = free_port()
    env = {**os.environ, **TEST_CREDENTIALS, **settings}
    env.pop("AWS_ENDPOINT_URL", None)
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


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server on a free loopback port, for the whole session, with AWS's managed IAM policies loaded."""
    yield from moto_server(MOTO_IAM_LOAD_MANAGED_POLICIES="true")


@pytest.fixture(scope="session")
def stock_moto_url() -> Iterator[str]:
    """A moto server as `moto_server` starts by default: no AWS managed IAM policies, as a newcomer meets it."""
    yield from moto_server()


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    """A loopback listener a sandbox's command reaches to say it ran (it cannot write the host's files)."""
    with Beacon() as listening:
        yield listening


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment variables that point boto3 (in this process and in children) at moto."""
    env = {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": moto_url, "AWS_ENDPOINT_URL_STS": moto_url,
           "AWS_ENDPOINT_URL_IAM": moto_url}
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


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, hermetic_session: Path) -> Path:
    """Every test runs as a user with a private, empty home and nothing configured.

    Whatever the caller's shell sets (a region, a profile, a lambdash function or
    config file, XDG directories, NO_COLOR, a pager) is gone; the AWS config and
    credentials files are the home's own, absent ones. Any AWS call nothing points
    elsewhere goes to a closed loopback port, never to a real endpoint. The
    lambdash config file is ``home/.config/lambdash/config.toml`` and the state
    dir ``home/.local/state/lambdash``.
    """
    path = tmp_path_factory.mktemp("home")
    for name, value in hermetic_environment(path).items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if from_the_callers_shell(name) and name not in HERMETIC_SETTINGS:
            monkeypatch.delenv(name)
    # The same user started the shared `lambdash serve`s (``serving``): their kept credential pairs come along.
    kept = state_dir(hermetic_session) / "local-credentials"
    if kept.exists():
        state_dir(path).mkdir(parents=True, mode=0o700)
        shutil.copy2(kept, state_dir(path) / "local-credentials")
    return path


@pytest.fixture(params=["direct", "agent"])
def one_shot_path(request: pytest.FixtureRequest, home: Path, tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's one-shots run in their own process, then again handed to the agent.

    For the agent, LAMBDASH_AGENT is set, XDG_RUNTIME_DIR is the test's own, and the
    agent is started before the test (so its first one-shot goes through it too) and
    stopped after it. The same assertions must hold both ways.
    """
    if request.param == "direct":
        yield "direct"
        return
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
    monkeypatch.setenv("LAMBDASH_AGENT", "300")
    started = run_lambdash("agent", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield "agent"
    finally:
        run_lambdash("agent", "stop")


@pytest.fixture(autouse=True)
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsCallRecorder]:
    """Every AWS call lambdash makes in this process during the test, held to the permissions it documents.

    The deployer's calls are held to the README's table of what the deployer needs,
    a user's to what a user of the function needs, the handler's to the function's
    role (see ``tests/helpers/iam.py``); one that needs more fails the test.
    """
    recorder = AwsCallRecorder()
    recorder.install(monkeypatch)
    yield recorder
    problems = violations(recorder.calls, documented())
    assert not problems, "AWS calls that need permissions the README does not list:\n" + "\n".join(problems)
