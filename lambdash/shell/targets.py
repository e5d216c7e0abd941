"""Targets: opening a shell on one, expanding repeated -f and --region, and working on several at once.

``open_shell`` gives a RemoteShell on a target, starting the local Lambda when the
target is the local sandbox. ``lambdash inventory`` and ``lambdash census`` accept
``-f NAME`` and ``--region`` more than once. The targets are the cross product of
the functions and the regions (``-f a -f b --region x --region y`` is a@x, a@y,
b@x, b@y), each labelled by ``Target.label``. The work for each target runs in its
own thread, so a slow region does not hold up the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from lambdash.concurrency import map_concurrently
from lambdash.config import Target, TargetOptions, resolve_target
from lambdash.errors import LambdashError, UsageError
from lambdash.shell.remote import RemoteShell
from lambdash_handler.contract import ENV_BUCKET

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


@contextmanager
def open_shell(
    target: Target, *, timeout: float | None = None, concurrency: int | None = None
) -> Iterator[RemoteShell]:
    """A RemoteShell on the target; for the local sandbox, a local Lambda started for the call.

    The local Lambda lets a command run its default time limit, or ``timeout`` and
    a little more, and starts up to its default number of sandboxes, or ``concurrency``
    when that is more.
    """
    from lambdash.aws.invoke import LambdaClient
    from lambdash.aws.warm import handed_client

    if not target.local:
        # In a worker of the agent, the warm client made for this very target.
        yield RemoteShell(handed_client(target) or LambdaClient(target), bucket=target.bucket)
        return
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda

    defaults = FunctionConfig()
    config = replace(
        defaults,
        timeout=max(defaults.timeout, (timeout or 0) + 5),
        concurrency=max(defaults.concurrency, concurrency or 0),
        region=target.region or defaults.region,
        environment={ENV_BUCKET: target.bucket} if target.bucket else {},
    )
    # Loopback only, and a fresh credential pair of its own (LocalLambda makes one).
    with LocalLambda(config) as local:
        here = replace(target, endpoint_url=local.endpoint_url, credentials=local.credentials)
        yield RemoteShell(LambdaClient(here), bucket=target.bucket)


@contextmanager
def open_shells(
    targets: Sequence[Target], *, timeout: float | None = None, concurrency: int | None = None
) -> Iterator[dict[Target, RemoteShell]]:
    """A RemoteShell per target, opened and closed in the calling thread.

    Opening here rather than in the worker threads means Ctrl-C, which arrives in
    the main thread, still closes a local Lambda and kills its sandboxes.
    """
    with ExitStack() as stack:
        yield {
            target: stack.enter_context(open_shell(target, timeout=timeout, concurrency=concurrency))
            for target in targets
        }


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
