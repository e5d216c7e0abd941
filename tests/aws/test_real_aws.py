"""End to end on a real AWS account: deploy, run, spill, destroy. Opt-in: `scripts/test --run-aws`.

It uses the caller's own environment, as pytest was started with (credentials,
AWS_PROFILE, AWS_REGION), a function name of its own, and destroys everything it
made, even on failure.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import CALLERS_ENVIRON, run_as_caller

pytestmark = pytest.mark.aws


def run_lambdash(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return run_as_caller(*args, timeout=timeout)


@pytest.fixture(scope="module")
def deployed() -> Iterator[str]:
    name = f"lambdash-test-{uuid.uuid4().hex[:8]}"
    done = run_lambdash("deploy", "--name", name, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    try:
        yield name
    finally:
        run_lambdash("destroy", "--name", name, "--yes", timeout=600)


def test_a_command_runs_with_exact_bytes_and_status(deployed: str) -> None:
    octal = "".join(f"\\{value:03o}" for value in range(256))
    done = run_lambdash("-f", deployed, f"printf '{octal}'; exit 7")
    assert done.returncode == 7
    assert done.stdout == bytes(range(256))


def test_big_output_spills_through_the_deployed_bucket(deployed: str) -> None:
    done = run_lambdash("-f", deployed, "head -c 20000000 /dev/urandom > /tmp/o; sha256sum /tmp/o >&2; cat /tmp/o",
                        timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout) == 20_000_000
    assert hashlib.sha256(done.stdout).hexdigest().encode() in done.stderr


def test_a_second_deploy_changes_nothing(deployed: str) -> None:
    done = run_lambdash("deploy", "--name", deployed, timeout=600)
    assert done.returncode == 0
    assert b"no change" in done.stdout + done.stderr


@pytest.mark.skipif(not CALLERS_ENVIRON.get("AWS_REGION") and not CALLERS_ENVIRON.get("AWS_DEFAULT_REGION"),
                    reason="needs AWS_REGION")
def test_inventory_of_the_deployed_function(deployed: str) -> None:
    done = run_lambdash("-f", deployed, "inventory", "--json", timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert b'"schema": "lambdash.inventory"' in done.stdout


def test_output_streams_and_equals_a_buffered_run(deployed: str) -> None:
    """Through InvokeWithResponseStream: the first line arrives before the command ends, bytes as buffered."""
    import time

    from tests.helpers import LAMBDASH

    started = time.monotonic()
    running = subprocess.Popen([LAMBDASH, "-f", deployed, "echo first; sleep 4; echo last"],
                               stdout=subprocess.PIPE, env=dict(CALLERS_ENVIRON))
    assert running.stdout is not None
    assert running.stdout.readline() == b"first\n"
    first_at = time.monotonic() - started
    rest = running.stdout.read()
    assert running.wait(timeout=120) == 0
    assert rest == b"last\n"
    assert time.monotonic() - started - first_at > 3, "the first line came only at the end"
    command = "seq 1 200000; printf '\\377' >&2"
    streamed = run_lambdash("-f", deployed, command)
    buffered = run_lambdash("-f", deployed, "--no-stream", command)
    assert (streamed.returncode, streamed.stdout, streamed.stderr) == \
        (buffered.returncode, buffered.stdout, buffered.stderr)


def test_a_script_over_the_argument_limit_runs_whole(deployed: str) -> None:
    script = b"n=0\n" + b"n=$((n + 1))  # padding\n" * 10_000 + b'echo "$n"\n'
    done = run_as_caller("-f", deployed, stdin=script)
    assert (done.returncode, done.stdout) == (0, b"10000\n"), done.stderr.decode()


def test_probe_reaches_the_aws_endpoints_from_the_function(deployed: str) -> None:
    import json

    done = run_lambdash("-f", deployed, "probe", "--json", "aws:sts", "aws:s3", timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    sts, s3 = json.loads(done.stdout)["checks"]
    assert sts["verdict"] == "reachable at a public address"
    assert f"lambdash-{deployed}-role" in sts["facts"]["identity"]["arn"]
    assert s3["ok"]
