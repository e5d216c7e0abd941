"""``lambdash census [-n N] [-c C] COMMAND...``: one command over many invocations, and what answered.

Each target (``-f`` and ``--region`` may repeat; the targets are their cross
product) gets N invocations, at most C at a time, and the targets run at the same
time. The exit status is 0 when every target answered at least one invocation,
whatever the remote exit statuses were (they are part of the survey), and 255 when
some target answered none.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import BinaryIO

from lambdash.commands.options import (
    add_common_options,
    add_run_options,
    add_target_options,
    audit_log,
    bounded_int,
    targets_of,
)
from lambdash.errors import ExitStatus, UsageError
from lambdash.reports.census import (
    DEFAULT_INVOCATIONS,
    DEFAULT_MAX_CONCURRENCY,
    CensusSummary,
    InvocationRecord,
    census_to_json,
    render_report,
    summarize,
    take_census,
)
from lambdash.terminal import CLEAR_LINE, Terminal, progress_line

MAX_INVOCATIONS = 10_000
# Lambda's default account concurrency; more threads than this only collect 429s.
MAX_CONCURRENCY = 1000

EPILOG = """\
The output of an invocation is its stdout; distinct outputs are counted, with the
sandboxes that printed them. Throttled calls (429) never ran, so they are retried
with backoff and counted in the summary; every invocation gives exactly one record.
Latency is client-side wall time per invocation, including throttle backoff.
stdin is not sent.

exit status: 0 when every target answered at least one invocation (the remote exit
statuses are reported, not returned); 255 when some target answered none, or on
lambdash's own failure.

examples:
  lambdash census -n 50 "grep -m1 'model name' /proc/cpuinfo"
  lambdash census -n 20 -c 20 'cat /proc/sys/kernel/random/boot_id'
  lambdash census -f shell -f shell-arm --region eu-west-1 --region us-east-1 uname -m
  lambdash census --json -n 10 'df -k /tmp' | jq '.summaries[0].sandboxes'
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("-n", "--invocations", type=bounded_int("invocations", 1, MAX_INVOCATIONS),
                        default=DEFAULT_INVOCATIONS, metavar="N",
                        help=f"invocations per target (default: {DEFAULT_INVOCATIONS})")
    parser.add_argument("-c", "--concurrency", type=bounded_int("concurrency", 1, MAX_CONCURRENCY), default=None,
                        metavar="C",
                        help=f"at most this many invocations in flight per target (default: min(N, "
                        f"{DEFAULT_MAX_CONCURRENCY})); the local sandbox gets at least this many sandboxes")
    add_target_options(parser, many=True, suppress=True)
    add_run_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...",
                        help="the command each invocation runs")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Take the census on every target, print the survey (or JSON), and return 0 or 255."""
    from lambdash.shell.targets import open_shells, run_on_targets

    words = args.words[1:] if args.words[:1] == ["--"] else args.words
    if not words:
        raise UsageError("no command given (usage: lambdash census [-n N] [-c C] COMMAND...)")
    command = " ".join(words)
    count: int = args.invocations
    concurrency: int = args.concurrency or min(count, DEFAULT_MAX_CONCURRENCY)
    targets = targets_of(args, terminal)
    progress = CensusProgress(count * len(targets), terminal.stderr, terminal.width) if terminal.stderr_isatty else None
    shell_name = "bash" if args.bash else "sh"
    try:
        with open_shells(targets, timeout=args.timeout,
                         concurrency=concurrency) as shells:
            outcomes = run_on_targets(targets, lambda target: take_census(
                shells[target], command, target=target.label, count=count, concurrency=concurrency,
                timeout=args.timeout, shell_name=shell_name,
                on_record=progress.finished if progress else None,
                on_throttle=progress.throttled if progress else None,
            ))
    finally:
        if progress is not None:
            progress.close()
    results: list[tuple[CensusSummary, list[InvocationRecord]]] = []
    for outcome in outcomes:
        if outcome.error is not None:  # take_census records failures; this is lambdash failing outright
            raise outcome.error
        records = outcome.value or []
        results.append((summarize(records, outcome.target.label), records))
    audit = audit_log(args, terminal)
    for _, records in results:
        for record in records:
            audit.record(target=record.target, command=command, request_id=record.request_id,
                         exit_status=record.status, sandbox_id=record.sandbox_id, error=record.error)
    if args.json:
        terminal.write_json(census_to_json(command, count=count, concurrency=concurrency, results=results))
    else:
        reports = [render_report(summary, command=command, concurrency=concurrency, color=terminal.color)
                   for summary, _ in results]
        terminal.stdout.write("\n".join(reports).encode("utf-8", "replace"))
        terminal.stdout.flush()
    return _exit_status(results, terminal)


def _exit_status(results: list[tuple[CensusSummary, list[InvocationRecord]]], terminal: Terminal) -> int:
    """0 when every target answered; warn about partial failures, fail on a target that answered nothing."""
    status = ExitStatus.OK
    for summary, _ in results:
        if not summary.failed:
            continue
        reason = summary.errors[0].message if summary.errors else "no reason given"
        if summary.answered:
            terminal.warning(f"{summary.failed} of {summary.invocations} invocations on {summary.target} "
                             f"got no answer: {reason}")
        else:
            terminal.error(f"none of the {summary.invocations} invocations on {summary.target} got an answer: "
                           f"{reason}")
            status = ExitStatus.ERROR
    return status


class CensusProgress:
    """A one-line count of finished invocations, redrawn in place on a terminal's stderr.

    Workers of every target report to it at once, so it draws under a lock.
    """

    REDRAW_SECONDS = 0.1

    def __init__(self, total: int, stream: BinaryIO, width: int = 80) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.done = 0
        self.throttles = 0
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def finished(self, _record: InvocationRecord) -> None:
        with self._lock:
            self.done += 1
            self._draw()

    def throttled(self) -> None:
        with self._lock:
            self.throttles += 1
            self._draw()

    def _draw(self) -> None:
        now = time.monotonic()
        if now - self._last_draw < self.REDRAW_SECONDS and self.done < self.total:
            return
        self._last_draw = now
        text = f" {self.done}/{self.total} invocations"
        if self.throttles:
            text += f", {self.throttles} throttled and retried"
        self.stream.write(progress_line(self.done / self.total if self.total else 1.0, text, self.width))
        self.stream.flush()

    def close(self) -> None:
        with self._lock:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
