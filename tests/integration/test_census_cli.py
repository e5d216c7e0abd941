"""``lambdash census`` in a subprocess against a ``lambdash serve --concurrency 4``: records, throttles, reports."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAMBDASH, free_port, run_lambdash, serving

SERVE_CONCURRENCY = 4
# Holds a sandbox busy long enough for callers to pile up, and prints something the same everywhere.
CPU_COMMAND = "sleep 0.3; cat /proc/cpuinfo | grep -m1 'model name'"


def lambdash(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return run_lambdash(*args, timeout=timeout)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """A `lambdash serve` with room for 4 sandboxes."""
    with serving("--concurrency", str(SERVE_CONCURRENCY), "--timeout", "30") as url:
        yield url


def census_json(served: str, *args: str) -> dict[str, Any]:
    done = lambdash("--endpoint-url", served, "census", "--json", *args)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def first_model_name_line() -> str:
    # The serve's sandboxes run on this machine, so they read this /proc/cpuinfo.
    with open("/proc/cpuinfo") as cpuinfo:
        return next(line for line in cpuinfo if line.startswith("model name"))


def test_twenty_invocations_four_at_a_time(home: Path, served: str) -> None:
    document = census_json(served, "-n", "20", "-c", "4", CPU_COMMAND)

    records = document["records"]
    assert [record["index"] for record in records] == list(range(20))
    assert all(record["error"] is None and record["status"] == 0 for record in records)
    assert {record["stdout"]["text"] for record in records} == {first_model_name_line()}
    summary, = document["summaries"]
    assert (summary["invocations"], summary["answered"], summary["failed"]) == (20, 20, 0)
    assert 1 <= summary["sandboxes"] <= SERVE_CONCURRENCY
    assert sum(summary["invocations_per_sandbox"].values()) == 20
    assert summary["outputs"] == [{
        "stdout": {"text": first_model_name_line()},
        "count": 20,
        "sandbox_ids": list(dict.fromkeys(record["sandbox_id"] for record in records)),
    }]
    assert summary["statuses"] == [{"status": 0, "count": 20}]
    assert summary["cold"] == sum(1 for record in records if record["cold"])
    latency = summary["latency_seconds"]
    assert 0.3 <= latency["min"] <= latency["median"] <= latency["p90"] <= latency["max"]


def test_more_callers_than_sandboxes_are_throttled_and_retried_without_losing_any(home: Path, served: str) -> None:
    document = census_json(served, "-n", "20", "-c", "8", CPU_COMMAND)

    records = document["records"]
    assert [record["index"] for record in records] == list(range(20))
    summary, = document["summaries"]
    assert summary["answered"] + summary["failed"] == 20
    # A call throttled on all 8 attempts is recorded with its error, never dropped or repeated.
    assert all("throttled" in record["error"] for record in records if record["error"] is not None)
    assert len({record["request_id"] for record in records if record["request_id"]}) == summary["answered"]
    assert summary["throttles"] == sum(record["throttles"] for record in records) > 0
    assert summary["throttled_invocations"] == sum(1 for record in records if record["throttles"])
    assert summary["sandboxes"] <= SERVE_CONCURRENCY


def test_the_text_report(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "census", "-n", "4", "-c", "2", "echo hello; exit 3")

    assert done.returncode == 0, "the remote statuses are reported, not returned"
    lines = done.stdout.decode().splitlines()
    assert lines[0] == f"census of `echo hello; exit 3` on lambdash @ {served}: 4 invocations, at most 2 at a time"
    assert lines[2] == "outputs: 1 distinct in 4 answers"
    assert lines[3] == "     4  hello"
    assert lines[4].startswith("        from ")
    assert "exit statuses  3: 4" in lines
    assert any(line.startswith("latency        min ") for line in lines)
    assert done.stderr == b""


def test_several_targets_are_labelled(home: Path, served: str) -> None:
    document = census_json(served, "-f", "lambdash", "--region", "us-east-1", "--region", "eu-west-1",
                           "-n", "3", "-c", "2", "echo hi")

    labels = [f"lambdash (us-east-1) @ {served}", f"lambdash (eu-west-1) @ {served}"]
    assert [summary["target"] for summary in document["summaries"]] == labels
    assert [(record["target"], record["index"]) for record in document["records"]] == [
        (label, index) for label in labels for index in range(3)
    ]
    assert all(summary["outputs"][0]["stdout"] == {"text": "hi\n"} for summary in document["summaries"])


def test_every_invocation_failing_is_an_error(home: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = lambdash("--endpoint-url", nowhere, "census", "--json", "-n", "3", "true")

    assert done.returncode == 255
    document = json.loads(done.stdout)
    assert [record["index"] for record in document["records"]] == [0, 1, 2]
    assert all(record["error"].startswith("cannot reach ") for record in document["records"])
    message = done.stderr.decode().splitlines()
    assert len(message) == 1
    assert message[0].startswith(f"lambdash: error: none of the 3 invocations on lambdash @ {nowhere} got an answer: "
                                 "cannot reach ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "lambdash: error: no command given (usage: lambdash census [-n N] [-c C] COMMAND...)\n"),
        (["-n", "0", "true"], "lambdash: error: argument -n/--invocations: invocations must be from 1 to 10000: 0 "
                              "(see `lambdash census --help`)\n"),
        (["-c", "x", "true"], "lambdash: error: argument -c/--concurrency: not a whole number: 'x' "
                              "(see `lambdash census --help`)\n"),
    ],
)
def test_bad_usage_is_one_line(home: Path, args: list[str], message: str) -> None:
    done = lambdash("census", *args)

    assert done.returncode == 255
    assert done.stderr.decode() == message
    assert done.stdout == b""


def test_a_progress_bar_on_a_terminal(home: Path, served: str) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([LAMBDASH, "--endpoint-url", served, "census", "-n", "6", "-c", "3", "sleep 0.2; echo x"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, timeout=120)
        os.set_blocking(controller, False)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(terminal)
        os.close(controller)

    assert done.returncode == 0
    assert b"6/6 invocations" in shown
    assert shown.endswith(b"\r\x1b[K")
    assert b"     6  x\n" in done.stdout
