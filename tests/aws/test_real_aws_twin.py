"""A twin on a real AWS account: deploy --like, run in it, drift, follow, destroy. Opt-in: `scripts/test --run-aws`.

The function the twin is like is itself a lambdash function this module deploys, so
the test needs no permission beyond deploy's (and lambda:GetFunctionConfiguration and
lambda:GetLayerVersion). Everything it made is destroyed, even on failure.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import run_as_caller

pytestmark = pytest.mark.aws


def run_lambdash(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    return run_as_caller(*args, timeout=timeout)


@pytest.fixture(scope="module")
def original() -> Iterator[str]:
    name = f"lambdash-twin-src-{uuid.uuid4().hex[:8]}"
    done = run_lambdash("deploy", "--name", name, "--arch", "x86_64", "--memory", "512", "--timeout", "60")
    assert done.returncode == 0, done.stderr.decode()
    try:
        yield name
    finally:
        run_lambdash("destroy", "--like", name, "--yes")
        run_lambdash("destroy", "--name", name, "--yes")


def test_a_twin_runs_where_its_function_runs_and_follows_it(original: str) -> None:
    twin = f"lambdash-like-{original}"
    done = run_lambdash("deploy", "--like", original)
    assert done.returncode == 0, done.stderr.decode()
    assert f"  limits       x86_64, memory 512 MB, timeout 60 s, /tmp 512 MB: as {original}".encode() \
        in done.stdout.splitlines()

    ran = run_lambdash("-f", twin, "uname -m; echo $AWS_LAMBDA_FUNCTION_MEMORY_SIZE", timeout=120)
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout == b"x86_64\n512\n"

    again = run_lambdash("deploy", "--like", original)
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == b"no change: everything is up to date"

    assert run_lambdash("deploy", "--name", original, "--arch", "x86_64", "--memory", "1024",
                        "--timeout", "60").returncode == 0
    status = run_lambdash("status", "--like", original, timeout=120)
    assert status.returncode == 0, status.stderr.decode()
    assert status.stdout.splitlines()[-1] == b"  - memory 512 MB -> 1024 MB"

    assert run_lambdash("deploy", "--like", original).returncode == 0
    status = run_lambdash("status", "--like", original, timeout=120)
    assert status.stdout.splitlines()[-1] == b"like drift    none: the twin still matches the function it is like"

    removed = run_lambdash("destroy", "--like", original, "--yes")
    assert removed.returncode == 0, removed.stderr.decode()
    still = run_lambdash("-f", original, "echo still here", timeout=120)
    assert (still.returncode, still.stdout) == (0, b"still here\n")


def test_a_twin_of_function_latest_deploys(original: str) -> None:
    """``--like NAME:$LATEST``: its tags record the function's own ARN (a Lambda tag value holds no ``$``)."""
    like = f"{original}:$LATEST"
    done = run_lambdash("deploy", "--like", like)
    assert done.returncode == 0, done.stderr.decode()
    again = run_lambdash("deploy", "--like", like)
    assert again.stdout.splitlines()[-1] == b"no change: everything is up to date"
    assert run_lambdash("status", "--like", like, timeout=120).returncode == 0
    removed = run_lambdash("destroy", "--like", like, "--yes")
    assert removed.returncode == 0, removed.stderr.decode()
