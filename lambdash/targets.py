"""Several targets at once: expanding repeated -f and --region, and running work over them concurrently.

``lambdash inventory`` and ``lambdash census`` accept ``-f NAME`` and ``--region``
more than once. The targets are the cross product of the functions and the regions
(``-f a -f b --region x --region y`` is a@x, a@y, b@x, b@y), each labelled by
``Target.label``. The work for each target runs in its own thread, so a slow region
does not hold up the others.

The threads here are daemon threads and the results are collected in the calling
thread, so Ctrl-C reaches the command at once instead of waiting for every
invocation in flight to finish.
"""

from __future__ import annotations

import argparse
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from lambdash.config import LOCAL_DEFAULT_NOTICE, Target, TargetOptions, resolve_target
from lambdash.errors import LambdashError, UsageError
from lambdash.remote import RemoteShell
from lambdash.terminal import Terminal

Item = TypeVar("Item")
Result = TypeVar("Result")

@dataclass(frozen=True)
class TargetSet:
    """The targets a command runs on, in the order the command line named them."""

    targets: tuple[Target, ...]
    # True when the only target is the local sandbox because nothing else was configured.
    defaulted: bool = False


@dataclass(frozen=True)
class TargetOutcome(Generic[Result]):
    """What the work on one target gave: a value, or lambdash's failure to get one."""

    target: Target
    value: Result | None = None
    error: LambdashError | None = None


def expand_targets(
    functions: Sequence[str],
    regions: Sequence[str],
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    bucket: str | None = None,
    local: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> TargetSet:
    """The cross product of the functions and regions, each resolved as a single target would be.

    An empty list stands for "whatever the environment or config file says". A
    repeated pair is run once. The local sandbox is a single target, so it cannot be
    combined with several regions.
    """
    targets: list[Target] = []
    defaulted = False
    unnamed: list[str | None] = [None]
    for function in [*functions] or unnamed:
        for region in [*regions] or unnamed:
            target, was_defaulted = resolve_target(
                TargetOptions(function=function, region=region, profile=profile, endpoint_url=endpoint_url,
                              bucket=bucket, local=local),
                environ,
            )
            defaulted = defaulted or was_defaulted
            if target not in targets:
                targets.append(target)
    if len(targets) > 1 and any(target.local for target in targets):
        if local:
            raise UsageError("--local is one target; it takes at most one --region")
        raise UsageError("several --region need a function: pass -f NAME (or set LAMBDASH_FUNCTION)")
    labels = [target.label for target in targets]
    if len(set(labels)) != len(labels):
        # Only possible when two targets differ in nothing a label shows; refuse rather than mix their results.
        raise UsageError(f"two targets have the same label {labels[0]!r}; name them with distinct -f or --region")
    return TargetSet(tuple(targets), defaulted)


def targets_of(args: argparse.Namespace, terminal: Terminal) -> tuple[Target, ...]:
    """The targets the command line names, with the local-default notice when it applies."""
    target_set = expand_targets(
        args.function or [], args.region or [], profile=args.profile, endpoint_url=args.endpoint_url,
        bucket=args.bucket, local=args.local,
    )
    if target_set.defaulted:
        terminal.notice(LOCAL_DEFAULT_NOTICE)
    return target_set.targets


@contextmanager
def open_shells(
    targets: Sequence[Target], *, timeout: float | None = None, concurrency: int = 10
) -> Iterator[dict[Target, RemoteShell]]:
    """A RemoteShell per target, opened and closed in the calling thread.

    Opening here rather than in the worker threads means Ctrl-C, which arrives in
    the main thread, still closes a local Lambda and kills its sandboxes.
    """
    from lambdash.factory import open_shell

    with ExitStack() as stack:
        yield {
            target: stack.enter_context(open_shell(target, timeout=timeout, concurrency=concurrency))
            for target in targets
        }


def map_concurrently(
    work: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    concurrency: int,
    on_result: Callable[[int, Result], None] | None = None,
) -> list[Result]:
    """``work`` applied to every item, at most ``concurrency`` at a time; results in item order.

    Each item is taken by exactly one worker exactly once. ``on_result`` is called
    in the calling thread as each item finishes. If ``work`` raises, no further item
    is started and the exception is raised here; items in flight are abandoned.
    """
    if not items:
        return []
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        pending.put(index)
    finished: queue.SimpleQueue[tuple[int, Result | None, BaseException | None]] = queue.SimpleQueue()
    stopping = threading.Event()

    def worker() -> None:
        while not stopping.is_set():
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((index, work(items[index]), None))
            except BaseException as problem:  # handed to the calling thread, which re-raises it
                finished.put((index, None, problem))

    for number in range(min(concurrency, len(items))):
        threading.Thread(target=worker, name=f"lambdash-worker-{number}", daemon=True).start()
    results: dict[int, Result] = {}
    try:
        while len(results) < len(items):
            index, value, problem = finished.get()
            if problem is not None:
                raise problem
            results[index] = cast(Result, value)  # set whenever problem is None
            if on_result is not None:
                on_result(index, results[index])
    finally:
        stopping.set()
    return [results[index] for index in range(len(items))]


def run_on_targets(
    targets: Sequence[Target], work: Callable[[Target], Result]
) -> list[TargetOutcome[Result]]:
    """``work`` on every target at once; a target's LambdashError becomes its outcome, not everyone's."""

    def attempt(target: Target) -> TargetOutcome[Result]:
        try:
            return TargetOutcome(target, value=work(target))
        except LambdashError as problem:
            return TargetOutcome(target, error=problem)

    return map_concurrently(attempt, targets, concurrency=max(1, len(targets)))
