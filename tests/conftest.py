"""Fixtures shared by every test tier: a fake Lambda context, a moto server, the local Lambda."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The environment pytest was started in, before any fixture cleaned it: only the opt-in real-AWS tests use it.
CALLERS_ENVIRON: Mapping[str, str] = dict(os.environ)
LAMBDASH = str(Path(sys.executable).parent / "lambdash")
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# The settings of the caller's shell that change what lambdash or boto3 do; tests never see them.
_CALLERS_PREFIXES = ("AWS_", "LAMBDASH_", "XDG_", "BOTO_")
_CALLERS_NAMES = frozenset({"NO_COLOR", "PAGER", "TERM_PROGRAM"})
HERMETIC_SETTINGS = frozenset({
    "HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL",
})


def _from_the_callers_shell(name: str) -> bool:
    return name.startswith(_CALLERS_PREFIXES) or name in _CALLERS_NAMES


@functools.cache
def closed_loopback_url() -> str:
    """An endpoint on loopback where nothing listens: a stray AWS call fails at once, on this machine."""
    return f"http://127.0.0.1:{free_port()}"


def hermetic_environment(home: Path) -> dict[str, str]:
    """The variables that make a process see ``home`` as an empty home with nothing configured."""
    return {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        # botocore would otherwise ask the EC2 metadata service (a link-local address) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": closed_loopback_url(),
    }


def clean_environ(home: Path) -> dict[str, str]:
    """This process's environment without the caller's settings, for servers shared by several tests."""
    env = {name: value for name, value in os.environ.items() if not _from_the_callers_shell(name)}
    env.update(hermetic_environment(home))
    return env


@pytest.fixture(scope="session", autouse=True)
def hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same clean environment for fixtures shared by a module or the session (they start before ``home``)."""
    path = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if _from_the_callers_shell(name):
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


def bucket_keys(s3: Any, name: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])]


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
        if _from_the_callers_shell(name) and name not in HERMETIC_SETTINGS:
            monkeypatch.delenv(name)
    # The same user started the shared `lambdash serve`s (``serving``): their kept credential pairs come along.
    kept = state_dir(hermetic_session) / "local-credentials"
    if kept.exists():
        state_dir(path).mkdir(parents=True, mode=0o700)
        shutil.copy2(kept, state_dir(path) / "local-credentials")
    return path


def config_file(home: Path) -> Path:
    """Where lambdash reads its config file for a user with this home and no XDG settings."""
    return home / ".config" / "lambdash" / "config.toml"


def state_dir(home: Path) -> Path:
    """Where lambdash keeps history, the audit log and serve's credentials for this home."""
    return home / ".local" / "state" / "lambdash"


def run_lambdash(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
                 timeout: float = 120, base_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed `lambdash` in a subprocess, with its output captured.

    It runs in this process's (hermetic) environment, or ``base_env``, with ``env`` on top.
    """
    return subprocess.run(
        [LAMBDASH, *args], input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout,
        env={**(os.environ if base_env is None else base_env), **(env or {})},
    )


def run_as_caller(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The installed lambdash with the caller's own AWS settings (the opt-in real-AWS tests alone use it)."""
    return run_lambdash(*args, stdin=stdin, timeout=timeout, base_env=CALLERS_ENVIRON)


@contextmanager
def serving(*extra: str) -> Iterator[str]:
    """`lambdash serve --quiet` on a free port; it must stop cleanly (exit 0) on SIGTERM.

    It keeps its credential pair in the state dir of whoever starts it: a test's own
    home, or (for a server a whole module shares) the session's, which ``home``
    copies into every test's.
    """
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


def still_running(pids: set[int]) -> set[int]:
    """Those of ``pids`` that are still processes, not gone and not zombies."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def embedded_s3_children(parent: int) -> set[int]:
    """The living embedded S3 (moto) children of ``parent`` (of anyone, with 0)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"lambdash.local.s3" in cmdline and stat[0] != "Z" and (parent == 0 or int(stat[1]) == parent):
            found.add(int(entry))
    return found
