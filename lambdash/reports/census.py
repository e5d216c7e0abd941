"""Census: one command fanned out over many invocations, and a survey of the sandboxes that answered.

``take_census`` runs the same command N times, at most C at a time, and returns
exactly one ``InvocationRecord`` per invocation: an invocation that lambdash could
not get an answer for (throttled past every retry, a transport failure...) is a
record with its ``error``, never a missing or repeated one. ``summarize`` turns the
records of one target into the survey people read: each distinct output with the
sandboxes that gave it, how many sandboxes answered and how many started cold, the
exit statuses, latency percentiles and the throttles that were retried. Everything
after ``take_census`` is pure, so the arithmetic is tested on hand-made records.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdash.concurrency import map_concurrently
from lambdash.errors import LambdashError
from lambdash.shell.remote import RemoteShell, text_or_base64
from lambdash.terminal import BOLD, DIM, RED, Painter

CENSUS_SCHEMA = "lambdash.census"
CENSUS_SCHEMA_VERSION = 1
DEFAULT_INVOCATIONS = 10
# The default concurrency is min(N, this): enough to see several sandboxes without
# tripping an account's default burst limits.
DEFAULT_MAX_CONCURRENCY = 10

# How much of each distinct output the text report shows; --json has all of it.
OUTPUT_LINES_SHOWN = 6
SANDBOX_IDS_SHOWN = 8
LABEL_WIDTH = 15



@dataclass(frozen=True)
class InvocationRecord:
    """One invocation of the census command, as the client saw it.

    ``duration`` is the client-side wall time of the call in seconds, including any
    throttle backoff. When ``error`` is set lambdash got no usable answer, and the
    fields that come from the answer are None.
    """

    index: int
    target: str
    duration: float
    throttles: int = 0
    sandbox_id: str | None = None
    cold: bool | None = None
    sandbox_invocations: int | None = None
    status: int | None = None
    exit_status: int | None = None
    signal: int | None = None
    timed_out: bool = False
    stdout: bytes | None = None
    stderr: bytes | None = None
    stdout_lost: int = 0
    stderr_lost: int = 0
    request_id: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None


# --- taking a census -------------------------------------------------------------------


def take_census(
    shell: RemoteShell,
    command: str,
    *,
    target: str,
    count: int,
    concurrency: int,
    timeout: float | None = None,
    shell_name: str = "sh",
    on_record: Callable[[InvocationRecord], None] | None = None,
    on_throttle: Callable[[], None] | None = None,
) -> list[InvocationRecord]:
    """Run ``command`` ``count`` times, at most ``concurrency`` at a time; one record per invocation, in order.

    ``on_record`` is called as each invocation finishes and ``on_throttle`` each
    time a throttled call is retried (both from worker threads, for a progress bar).
    """

    def invoke(index: int) -> InvocationRecord:
        return invoke_once(shell, command, index=index, target=target, timeout=timeout, shell_name=shell_name,
                           on_throttle=on_throttle)

    def finished(_: int, record: InvocationRecord) -> None:
        if on_record is not None:
            on_record(record)

    return map_concurrently(invoke, range(count), concurrency=concurrency, on_result=finished)


def invoke_once(
    shell: RemoteShell,
    command: str,
    *,
    index: int,
    target: str,
    timeout: float | None = None,
    shell_name: str = "sh",
    on_throttle: Callable[[], None] | None = None,
) -> InvocationRecord:
    """One invocation as a record; lambdash's own failure becomes the record's ``error``."""
    throttles = 0

    # The client's retry loop calls this, in this thread, before each retry after a 429. It
    # also counts the throttles of a call that finally fails, which result.throttles cannot.
    def throttled(_attempt: int, _delay: float) -> None:
        nonlocal throttles
        throttles += 1
        if on_throttle is not None:
            on_throttle()

    started = time.monotonic()
    try:
        result = shell.run(command, timeout=timeout, shell=shell_name, on_throttle=throttled)
        stdout, stderr = result.stdout.read("stdout"), result.stderr.read("stderr")
    except LambdashError as problem:
        return InvocationRecord(index=index, target=target, duration=time.monotonic() - started,
                                throttles=throttles, error=problem.message)
    except Exception as problem:  # one invocation's failure, whatever it is, is that invocation's record
        return InvocationRecord(index=index, target=target, duration=time.monotonic() - started,
                                throttles=throttles, error=f"unexpected {type(problem).__name__}: {problem}")
    sandbox = result.sandbox
    return InvocationRecord(
        index=index,
        target=target,
        duration=time.monotonic() - started,
        throttles=throttles,
        sandbox_id=_optional_str(sandbox.get("id")),
        cold=sandbox.get("cold") if isinstance(sandbox.get("cold"), bool) else None,
        sandbox_invocations=sandbox.get("invocations") if isinstance(sandbox.get("invocations"), int) else None,
        status=result.status,
        exit_status=result.exit_status,
        signal=result.signal,
        timed_out=result.timed_out,
        stdout=stdout,
        stderr=stderr,
        stdout_lost=result.stdout.lost,
        stderr_lost=result.stderr.lost,
        request_id=result.request_id or None,
    )


def _optional_str(value: Any) -> str | None:
    return str(value) if value is not None else None


# --- the summary -----------------------------------------------------------------------


@dataclass(frozen=True)
class OutputGroup:
    """One distinct stdout, how many invocations printed it, and which sandboxes (first-seen order)."""

    stdout: bytes
    count: int
    sandbox_ids: tuple[str, ...]


@dataclass(frozen=True)
class ErrorGroup:
    """One distinct lambdash failure and how many invocations it ended."""

    message: str
    count: int


@dataclass(frozen=True)
class StatusCount:
    """How many invocations ended with one lambdash exit status (124 timed out, 128+N signal N)."""

    status: int
    count: int
    timed_out: bool = False
    signal: int | None = None


@dataclass(frozen=True)
class Latency:
    """Client-side wall time per answered invocation, in seconds.

    The median of an even count is the mean of the middle two; p90 is the
    nearest-rank percentile, so it is always one of the measured times.
    """

    minimum: float
    median: float
    p90: float
    maximum: float


@dataclass(frozen=True)
class CensusSummary:
    """The survey of one target's records."""

    target: str
    invocations: int
    answered: int
    failed: int
    outputs: tuple[OutputGroup, ...]
    errors: tuple[ErrorGroup, ...]
    sandboxes: int
    cold: int
    invocations_per_sandbox: Mapping[str, int]
    statuses: tuple[StatusCount, ...]
    latency: Latency | None
    throttles: int
    throttled_invocations: int


def summarize(records: Sequence[InvocationRecord], target: str) -> CensusSummary:
    """The survey of one target's records: outputs, sandboxes, statuses, latency and throttles."""
    answered = [record for record in records if record.answered]
    outputs: dict[bytes, list[InvocationRecord]] = {}
    for record in answered:
        outputs.setdefault(record.stdout or b"", []).append(record)
    # Most common output first; a tie keeps the order the outputs first appeared in.
    groups = sorted(
        (OutputGroup(stdout, len(group), _distinct_sandboxes(group)) for stdout, group in outputs.items()),
        key=lambda group: -group.count,
    )
    errors = Counter(record.error for record in records if record.error is not None)
    per_sandbox = Counter(record.sandbox_id for record in answered if record.sandbox_id is not None)
    statuses: Counter[tuple[int, bool, int | None]] = Counter(
        (record.status, record.timed_out, record.signal) for record in answered if record.status is not None
    )
    return CensusSummary(
        target=target,
        invocations=len(records),
        answered=len(answered),
        failed=len(records) - len(answered),
        outputs=tuple(groups),
        errors=tuple(ErrorGroup(message, count) for message, count in errors.most_common()),
        sandboxes=len(per_sandbox),
        cold=sum(1 for record in answered if record.cold),
        invocations_per_sandbox=dict(per_sandbox),
        statuses=tuple(
            StatusCount(status, count, timed_out, signal)
            for (status, timed_out, signal), count in sorted(statuses.items(), key=lambda item: item[0][0])
        ),
        latency=latency_of([record.duration for record in answered]),
        throttles=sum(record.throttles for record in records),
        throttled_invocations=sum(1 for record in records if record.throttles),
    )


def _distinct_sandboxes(records: Sequence[InvocationRecord]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(record.sandbox_id for record in records if record.sandbox_id is not None))


def latency_of(durations: Sequence[float]) -> Latency | None:
    """Min, median, nearest-rank p90 and max; None when nothing was measured."""
    if not durations:
        return None
    ordered = sorted(durations)
    return Latency(
        minimum=ordered[0],
        median=statistics.median(ordered),
        p90=nearest_rank(ordered, 0.9),
        maximum=ordered[-1],
    )


def nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values: the smallest value with ``fraction`` of them at or below it."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# --- JSON ------------------------------------------------------------------------------


def census_to_json(
    command: str, *, count: int, concurrency: int, results: Sequence[tuple[CensusSummary, Sequence[InvocationRecord]]]
) -> dict[str, Any]:
    """The whole census for ``--json``: every record of every target, and a summary per target."""
    return {
        "schema": CENSUS_SCHEMA,
        "schema_version": CENSUS_SCHEMA_VERSION,
        "command": command,
        "invocations": count,
        "concurrency": concurrency,
        "summaries": [summary_to_json(summary) for summary, _ in results],
        "records": [record_to_json(record) for _, records in results for record in records],
    }


def record_to_json(record: InvocationRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "target": record.target,
        "sandbox_id": record.sandbox_id,
        "cold": record.cold,
        "sandbox_invocations": record.sandbox_invocations,
        "status": record.status,
        "exit_status": record.exit_status,
        "signal": record.signal,
        "timed_out": record.timed_out,
        "stdout": _stream_to_json(record.stdout, record.stdout_lost),
        "stderr": _stream_to_json(record.stderr, record.stderr_lost),
        "duration_seconds": round(record.duration, 6),
        "request_id": record.request_id,
        "throttles": record.throttles,
        "error": record.error,
    }


def _stream_to_json(data: bytes | None, lost: int) -> dict[str, Any] | None:
    """Bytes as ``text`` when they are UTF-8, else ``base64`` (as ``lambdash run --json`` does)."""
    if data is None:
        return None
    described: dict[str, Any] = {"size": len(data) + lost, "lost": lost}
    described.update(text_or_base64(data))
    return described


def summary_to_json(summary: CensusSummary) -> dict[str, Any]:
    latency = summary.latency
    return {
        "target": summary.target,
        "invocations": summary.invocations,
        "answered": summary.answered,
        "failed": summary.failed,
        "outputs": [
            {"stdout": text_or_base64(group.stdout), "count": group.count, "sandbox_ids": list(group.sandbox_ids)}
            for group in summary.outputs
        ],
        "errors": [{"message": group.message, "count": group.count} for group in summary.errors],
        "sandboxes": summary.sandboxes,
        "cold": summary.cold,
        "invocations_per_sandbox": dict(summary.invocations_per_sandbox),
        "statuses": [_status_to_json(status) for status in summary.statuses],
        "latency_seconds": None if latency is None else {
            "min": round(latency.minimum, 6),
            "median": round(latency.median, 6),
            "p90": round(latency.p90, 6),
            "max": round(latency.maximum, 6),
        },
        "throttles": summary.throttles,
        "throttled_invocations": summary.throttled_invocations,
    }


def _status_to_json(status: StatusCount) -> dict[str, Any]:
    described: dict[str, Any] = {"status": status.status, "count": status.count}
    if status.timed_out:
        described["timed_out"] = True
    if status.signal is not None:
        described["signal"] = status.signal
    return described


# --- the text report -------------------------------------------------------------------


def render_report(summary: CensusSummary, *, command: str, concurrency: int, color: bool) -> str:
    """The survey of one target for a terminal; ANSI colour only when ``color``."""

    paint = Painter(color)
    invocations = _plural(summary.invocations, "invocation")
    lines = [paint(f"census of `{command}` on {summary.target}: {invocations}, at most {concurrency} at a time",
                   BOLD)]
    lines += ["", paint(f"outputs: {len(summary.outputs)} distinct in {_plural(summary.answered, 'answer')}", BOLD)]
    for group in summary.outputs:
        lines.extend(_output_lines(group, paint))
    if not summary.outputs:
        lines.append("  (none)")
    if summary.errors:
        lines += ["", paint(f"failures: {_plural(summary.failed, 'invocation')} got no answer", BOLD + RED)]
        for error in summary.errors:
            lines.append(f"  {error.count:>4}  " + paint(error.message, RED))
    rows = [
        ("sandboxes", _sandbox_text(summary)),
        ("exit statuses", _statuses_text(summary.statuses, paint)),
        ("latency", _latency_text(summary.latency)),
        ("throttles", _throttles_text(summary)),
    ]
    lines.append("")
    lines.extend(paint(label.ljust(LABEL_WIDTH), BOLD) + text for label, text in rows)
    return "\n".join(lines) + "\n"


def _output_lines(group: OutputGroup, paint: Callable[[str, str], str]) -> list[str]:
    prefix = f"  {group.count:>4}  "
    indent = " " * len(prefix)
    shown = _output_text(group.stdout)
    lines = [(prefix if number == 0 else indent) + line for number, line in enumerate(shown)]
    ids = list(group.sandbox_ids)
    listed = ", ".join(ids[:SANDBOX_IDS_SHOWN])
    if len(ids) > SANDBOX_IDS_SHOWN:
        listed += f" and {len(ids) - SANDBOX_IDS_SHOWN} more"
    where = f"from {_plural(len(ids), 'sandbox', 'sandboxes')}" + (f": {listed}" if ids else "")
    lines.append(indent + paint(where, DIM))
    return lines


def _output_text(stdout: bytes) -> list[str]:
    """An output as report lines: control characters escaped, long outputs cut (``--json`` has them whole)."""
    if not stdout:
        return ["(empty)"]
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        return [f"({_plural(len(stdout), 'byte')}, not UTF-8; --json has them in base64)"]
    lines = [_escape_controls(line) for line in text.removesuffix("\n").split("\n")]
    if len(lines) > OUTPUT_LINES_SHOWN:
        hidden = len(lines) - OUTPUT_LINES_SHOWN
        lines = [*lines[:OUTPUT_LINES_SHOWN], f"... ({_plural(hidden, 'more line')}; --json has them all)"]
    return lines


def _escape_controls(line: str) -> str:
    # A remote escape sequence must not repaint the user's terminal; tabs are kept for alignment.
    return "".join(char if char == "\t" or char.isprintable() else repr(char)[1:-1] for char in line)


def _sandbox_text(summary: CensusSummary) -> str:
    if not summary.sandboxes:
        return "none answered"
    served = sorted(summary.invocations_per_sandbox.values())
    reuse = (f"each served {served[0]}" if served[0] == served[-1]
             else f"each served {served[0]} to {served[-1]}")
    return (f"{summary.sandboxes} distinct; {summary.cold} of {_plural(summary.answered, 'invocation')} "
            f"started cold; {reuse}")


def _statuses_text(statuses: Sequence[StatusCount], paint: Callable[[str, str], str]) -> str:
    if not statuses:
        return "(none)"
    parts = []
    for status in statuses:
        meaning = " (timed out)" if status.timed_out else f" (signal {status.signal})" if status.signal else ""
        parts.append(paint(f"{status.status}{meaning}: {status.count}", RED if status.status else ""))
    return ", ".join(parts)


def _latency_text(latency: Latency | None) -> str:
    if latency is None:
        return "(no answers)"
    return (f"min {latency.minimum:.3f} s, median {latency.median:.3f} s, "
            f"p90 {latency.p90:.3f} s, max {latency.maximum:.3f} s")


def _throttles_text(summary: CensusSummary) -> str:
    if not summary.throttles:
        return "none"
    return (f"{_plural(summary.throttles, 'retry', 'retries')} after 429, in "
            f"{_plural(summary.throttled_invocations, 'invocation')}")


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
