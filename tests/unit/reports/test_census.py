"""Tests for lambdash/reports/census.py's pure half: the summary, its JSON and its report, on hand-made records.

Also the fan-out helper in lambdash/concurrency.py (every item exactly once, at most C at
a time) and the expansion of repeated -f/--region into targets.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from lambdash.concurrency import map_concurrently
from lambdash.config import Target
from lambdash.errors import UsageError
from lambdash.reports.census import (
    InvocationRecord,
    Latency,
    OutputGroup,
    StatusCount,
    census_to_json,
    latency_of,
    nearest_rank,
    record_to_json,
    render_report,
    summarize,
)
from lambdash.shell.targets import expand_targets

CPU_A = b"model name\t: Intel(R) Xeon(R) Processor @ 2.90GHz\n"
CPU_B = b"model name\t: AMD EPYC\n"


def answered(index: int, sandbox: str, stdout: bytes, *, duration: float = 1.0, cold: bool = False,
             status: int = 0, throttles: int = 0, **extra: Any) -> InvocationRecord:
    return InvocationRecord(
        index=index, target="local", duration=duration, throttles=throttles, sandbox_id=sandbox, cold=cold,
        sandbox_invocations=1, status=status, exit_status=extra.pop("exit_status", status), stdout=stdout,
        stderr=b"", request_id=f"req-{index}", **extra,
    )


def failed(index: int, message: str, *, duration: float = 9.0, throttles: int = 0) -> InvocationRecord:
    return InvocationRecord(index=index, target="local", duration=duration, throttles=throttles, error=message)


# Resolving a target reads the config file; this one never exists.
NO_CONFIG = {"LAMBDASH_CONFIG": "/nonexistent/lambdash/config.toml"}
THROTTLED = "Lambda throttled lambdash on all 8 attempts; try again later or raise its concurrency limit"

RECORDS = [
    answered(0, "s1", CPU_A, duration=0.5, cold=True),
    answered(1, "s2", CPU_B, duration=0.4, cold=True),
    answered(2, "s1", CPU_A, duration=0.1),
    answered(3, "s3", CPU_A, duration=0.3, cold=True, throttles=2),
    answered(4, "s2", CPU_B, duration=0.2, status=1),
    answered(5, "s1", CPU_A, duration=0.6, status=124, exit_status=None, timed_out=True),
    answered(6, "s3", b"", duration=0.9, status=137, exit_status=None, signal=9),
    failed(7, THROTTLED, throttles=7),
]


def test_outputs_are_counted_with_the_sandboxes_that_gave_them() -> None:
    summary = summarize(RECORDS, "local")

    assert summary.outputs == (
        OutputGroup(CPU_A, 4, ("s1", "s3")),
        OutputGroup(CPU_B, 2, ("s2",)),
        OutputGroup(b"", 1, ("s3",)),
    )


def test_sandboxes_cold_starts_and_reuse() -> None:
    summary = summarize(RECORDS, "local")

    assert (summary.invocations, summary.answered, summary.failed) == (8, 7, 1)
    assert summary.sandboxes == 3
    assert summary.cold == 3
    assert summary.invocations_per_sandbox == {"s1": 3, "s2": 2, "s3": 2}


def test_exit_statuses_are_counted_with_their_meaning() -> None:
    assert summarize(RECORDS, "local").statuses == (
        StatusCount(0, 4),
        StatusCount(1, 1),
        StatusCount(124, 1, timed_out=True),
        StatusCount(137, 1, signal=9),
    )


def test_failures_are_grouped_by_message_and_throttles_counted_on_every_record() -> None:
    summary = summarize(RECORDS, "local")

    assert [(group.message, group.count) for group in summary.errors] == [(THROTTLED, 1)]
    assert summary.throttles == 9
    assert summary.throttled_invocations == 2


def test_latency_is_over_answered_invocations_only() -> None:
    # The failed record's 9 s is the retry loop giving up, not a latency.
    assert summarize(RECORDS, "local").latency == Latency(minimum=0.1, median=0.4, p90=0.9, maximum=0.9)


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([2.0], Latency(2.0, 2.0, 2.0, 2.0)),
        ([4.0, 1.0], Latency(1.0, 2.5, 4.0, 4.0)),
        ([float(n) for n in range(1, 11)], Latency(1.0, 5.5, 9.0, 10.0)),
        ([float(n) for n in range(20, 0, -1)], Latency(1.0, 10.5, 18.0, 20.0)),
    ],
)
def test_latency_median_and_nearest_rank_p90(durations: list[float], expected: Latency) -> None:
    assert latency_of(durations) == expected


def test_nearest_rank_is_always_a_measured_value() -> None:
    values = [0.1, 0.2, 0.3]

    assert [nearest_rank(values, fraction) for fraction in (0.0, 0.33, 0.34, 0.9, 1.0)] == [0.1, 0.1, 0.2, 0.3, 0.3]


def test_a_census_with_no_answers() -> None:
    summary = summarize([failed(0, "boom"), failed(1, "boom")], "fn (eu-west-1)")

    assert summary.latency is None
    assert summary.outputs == ()
    assert summary.sandboxes == 0
    assert summary.statuses == ()
    assert [(group.message, group.count) for group in summary.errors] == [("boom", 2)]


def test_json_has_every_record_and_a_summary_per_target() -> None:
    other = [answered(0, "x1", b"\xff\xfe", duration=0.25)]
    document = census_to_json("uname -m", count=8, concurrency=4, results=[
        (summarize(RECORDS, "local"), RECORDS),
        (summarize(other, "fn (us-east-1)"), other),
    ])

    assert document["schema"] == "lambdash.census"
    assert document["schema_version"] == 1
    assert (document["command"], document["invocations"], document["concurrency"]) == ("uname -m", 8, 4)
    assert [summary["target"] for summary in document["summaries"]] == ["local", "fn (us-east-1)"]
    assert len(document["records"]) == 9
    local = document["summaries"][0]
    assert local["statuses"] == [
        {"status": 0, "count": 4},
        {"status": 1, "count": 1},
        {"status": 124, "count": 1, "timed_out": True},
        {"status": 137, "count": 1, "signal": 9},
    ]
    assert local["latency_seconds"] == {"min": 0.1, "median": 0.4, "p90": 0.9, "max": 0.9}
    assert local["outputs"][0] == {"stdout": {"text": CPU_A.decode()}, "count": 4, "sandbox_ids": ["s1", "s3"]}
    assert document["summaries"][1]["outputs"][0]["stdout"] == {"base64": "//4="}


def test_a_record_in_json() -> None:
    assert record_to_json(answered(3, "s3", b"hi\n", duration=0.3, cold=True, throttles=2)) == {
        "index": 3, "target": "local", "sandbox_id": "s3", "cold": True, "sandbox_invocations": 1,
        "status": 0, "exit_status": 0, "signal": None, "timed_out": False,
        "stdout": {"size": 3, "lost": 0, "text": "hi\n"}, "stderr": {"size": 0, "lost": 0, "text": ""},
        "duration_seconds": 0.3, "request_id": "req-3", "throttles": 2, "error": None,
    }
    assert record_to_json(failed(7, "boom"))["stdout"] is None


def test_the_report() -> None:
    report = render_report(summarize(RECORDS, "local"), command="uname -m", concurrency=4, color=False)

    assert report == (
        "census of `uname -m` on local: 8 invocations, at most 4 at a time\n"
        "\n"
        "outputs: 3 distinct in 7 answers\n"
        "     4  model name\t: Intel(R) Xeon(R) Processor @ 2.90GHz\n"
        "        from 2 sandboxes: s1, s3\n"
        "     2  model name\t: AMD EPYC\n"
        "        from 1 sandbox: s2\n"
        "     1  (empty)\n"
        "        from 1 sandbox: s3\n"
        "\n"
        "failures: 1 invocation got no answer\n"
        f"     1  {THROTTLED}\n"
        "\n"
        "sandboxes      3 distinct; 3 of 7 invocations started cold; each served 2 to 3\n"
        "exit statuses  0: 4, 1: 1, 124 (timed out): 1, 137 (signal 9): 1\n"
        "latency        min 0.100 s, median 0.400 s, p90 0.900 s, max 0.900 s\n"
        "throttles      9 retries after 429, in 2 invocations\n"
    )


def test_the_report_escapes_control_characters_and_cuts_long_outputs() -> None:
    long_output = "".join(f"line {n}\n" for n in range(10)).encode()
    records = [answered(0, "s1", b"\x1b[2Jred\n"), answered(1, "s1", long_output)]

    report = render_report(summarize(records, "local"), command="x", concurrency=1, color=False)

    assert "\\x1b[2Jred" in report
    assert "\x1b" not in report
    assert "line 5\n" in report
    assert "line 6" not in report
    assert "... (4 more lines; --json has them all)" in report


def test_map_concurrently_runs_each_item_once_and_at_most_c_at_a_time() -> None:
    lock = threading.Lock()
    running = peak = 0
    seen: list[int] = []

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            seen.append(item)
        time.sleep(0.01)
        with lock:
            running -= 1
        return item * item

    finished: list[int] = []
    results = map_concurrently(work, range(30), concurrency=4, on_result=lambda index, _: finished.append(index))

    assert results == [item * item for item in range(30)]
    assert sorted(seen) == list(range(30))
    assert sorted(finished) == list(range(30))
    assert 1 <= peak <= 4


def test_map_concurrently_raises_what_the_work_raised() -> None:
    def work(item: int) -> int:
        if item == 3:
            raise KeyError("three")
        return item

    with pytest.raises(KeyError, match="three"):
        map_concurrently(work, range(5), concurrency=2)


def test_repeated_functions_and_regions_are_their_cross_product() -> None:
    targets = expand_targets(["a", "b"], ["x", "y"], environ=NO_CONFIG).targets

    assert [target.label for target in targets] == ["a (x)", "a (y)", "b (x)", "b (y)"]


def test_a_repeated_target_runs_once() -> None:
    assert expand_targets(["a", "a"], ["x"], environ=NO_CONFIG).targets == (Target(function="a", region="x"),)


def test_with_nothing_configured_the_local_sandbox_is_the_one_target() -> None:
    target_set = expand_targets([], [], environ=NO_CONFIG)

    assert target_set.targets == (Target(local=True),)
    assert target_set.defaulted


def test_several_regions_need_a_function() -> None:
    with pytest.raises(UsageError, match="several --region need a function"):
        expand_targets([], ["x", "y"], environ=NO_CONFIG)
    targets = expand_targets([], ["x", "y"], environ={**NO_CONFIG, "LAMBDASH_FUNCTION": "f"}).targets
    assert [target.label for target in targets] == ["f (x)", "f (y)"]
