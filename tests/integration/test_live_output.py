"""Live output through the installed command, against a serve that caps streams as AWS does.

Past its first 6 MB, AWS streams a response at about 2 MB/s (``serve --stream-rate-cap``).
A command that writes faster has the rest spilled to the bucket and fetched after
the stream, in order; without a bucket, what cannot arrive before the deadline is
cut, and lambdash says how much and why.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import bucket_keys, run_lambdash, serving

# Both ways: the one-shot in its own process, and handed to the agent.
pytestmark = pytest.mark.usefixtures("one_shot_path")


def test_past_what_the_stream_carries_the_rest_is_spilled_and_every_byte_arrives_in_order(
    home: Path, aws_env: dict[str, str], s3: Any, bucket: str
) -> None:
    with serving("--stream-rate-cap", "--bucket", bucket, "--timeout", "120") as url:
        done = run_lambdash("--endpoint-url", url,
                            'cd "$TMPDIR"; head -c 30000000 /dev/urandom > out; sha256sum < out >&2; cat out; rm out',
                            timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == 30_000_000
    assert hashlib.sha256(done.stdout).hexdigest().encode() in done.stderr
    assert bucket_keys(s3, bucket) == []  # fetched, verified and deleted


def test_without_a_bucket_what_cannot_arrive_before_the_deadline_is_cut_and_said(home: Path) -> None:
    with serving("--stream-rate-cap", "--timeout", "10", "--no-s3") as url:
        done = run_lambdash("--endpoint-url", url, "head -c 60000000 /dev/zero", timeout=120)
    assert done.returncode == 0
    kept = len(done.stdout)
    assert 6_000_000 < kept < 60_000_000
    assert done.stdout == b"\0" * kept
    # Cut where the stream stopped carrying it in time: either the rest was set aside when the backlog could
    # not drain before the deadline, or what was still queued at the end was dropped.
    assert done.stderr.decode() in (
        f"lambdash: warning: stdout was truncated: {60_000_000 - kept} of 60000000 bytes lost because the rest "
        "could not be streamed (what was left to send could not reach the client before the deadline) and no "
        "spill bucket is configured (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)\n",
        f"lambdash: warning: stdout was truncated: {60_000_000 - kept} of 60000000 bytes lost because "
        "the stream could not carry it before the deadline\n",
    )
