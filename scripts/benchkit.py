"""What the benchmark scripts share: a clean environment, free loopback ports, a `lambdash serve` in the background."""

from __future__ import annotations

import operator
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_TARGET = re.compile(r"(<=|>=|<|>)\s*([0-9.]+)")
LAMBDASH = str(Path(sys.executable).parent / "lambdash")
_CALLERS_PREFIXES = ("AWS_", "LAMBDASH_", "XDG_")


def isolate_environment() -> None:
    """Measure as a user with nothing configured, whatever the caller's shell sets.

    The state dir (where serve keeps its credential pair, and the client finds it)
    is a fresh temporary one, and an AWS call nothing points elsewhere goes to a
    closed loopback port: a benchmark never sends anything beyond 127.0.0.0/8.
    """
    for name in list(os.environ):
        if name.startswith(_CALLERS_PREFIXES):
            del os.environ[name]
    home = Path(tempfile.mkdtemp(prefix="lambdash-bench-"))
    os.environ.update({
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    })


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listening on 127.0.0.1:{port} after {timeout:g} s")


@contextmanager
def background(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """A server process listening on ``port``, stopped with SIGTERM afterwards."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def served(extra: list[str] | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """`lambdash serve --quiet [extra]` on a free port; yields its endpoint URL."""
    port = free_port()
    with background([LAMBDASH, "serve", "--port", str(port), "--quiet", *(extra or [])], port, env) as url:
        yield url


def lambda_client(endpoint_url: str, pair: Any, *, pool: int = 10) -> Any:
    """boto3's Lambda client for a local Lambda, signing with its credential pair, never retrying."""
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=endpoint_url, region_name="us-east-1",
                        aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
                        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=pool, read_timeout=60))


# A whole process that invokes the lambdash function with `true` through boto3 and nothing else: argv is the
# endpoint URL and the local Lambda's credential pair. What a one-shot is measured against.
BARE_BOTO3_INVOKE = """
import json, sys, boto3
from botocore.config import Config
client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2],
                      aws_secret_access_key=sys.argv[3], config=Config(retries={"total_max_attempts": 1}))
answer = client.invoke(FunctionName="lambdash", Payload=json.dumps({"v": 1, "command": "true"}).encode())
json.loads(answer["Payload"].read())
"""


def alternating(actions: dict[str, list[str]], repeat: int, env: dict[str, dict[str, str]] | None = None
                ) -> dict[str, float]:
    """The median wall time of each command line, run in turn (the order reversed every round) so noise hits all."""
    samples: dict[str, list[float]] = {label: [] for label in actions}
    for round_number in range(repeat):
        order = list(actions) if round_number % 2 else list(reversed(actions))
        for label in order:
            started = time.perf_counter()
            subprocess.run(actions[label], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           env={**os.environ, **(env or {}).get(label, {})})
            samples[label].append(time.perf_counter() - started)
    return {label: statistics.median(times) for label, times in samples.items()}


def against_target(value: float, limit: str) -> str:
    """``(target LIMIT)``, marked ``MISSED`` when ``value`` does not meet a numeric limit such as ``<= 1.3x``."""
    found = _TARGET.search(limit)
    if found is None:
        return f"(target {limit})"
    compare = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}[found.group(1)]
    met = compare(round(value, 2), float(found.group(2)))
    return f"(target {limit})" if met else f"(target {limit}: MISSED)"
