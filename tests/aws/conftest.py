"""The opt-in real-AWS tests' shared fixture: a function deployed for a module, sessions ready, destroyed after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import run_as_caller, wait_until


@pytest.fixture(scope="module")
def deployed() -> Iterator[str]:
    """A function of the module's own, deployed with the caller's AWS settings, and destroyed even on failure."""
    name = f"lambdash-test-{uuid.uuid4().hex[:8]}"
    done = run_as_caller("deploy", "--name", name, "--timeout", "60", timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    # IAM takes a moment before the new role may assume the session role: wait until a session opens.
    wait_until(lambda: run_as_caller("-f", name, "-i", "true").returncode == 0, 120, interval=5,
               message="no session could open on the deployed function")
    try:
        yield name
    finally:
        run_as_caller("destroy", "--name", name, "--yes", timeout=600)
