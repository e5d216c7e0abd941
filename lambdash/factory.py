"""Builds the objects a command needs for a target, starting the local Lambda when that is the target."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from handler.constants import ENV_BUCKET
from lambdash.config import Target
from lambdash.remote import RemoteShell

# The in-process local Lambda lets a command run this long unless asked for more.
LOCAL_FUNCTION_TIMEOUT = 300.0


@contextmanager
def open_shell(target: Target, *, timeout: float | None = None, concurrency: int = 10) -> Iterator[RemoteShell]:
    """A RemoteShell on the target; for the local sandbox, a local Lambda started for the call."""
    from lambdash.aws import LambdaClient

    if not target.local:
        yield RemoteShell(LambdaClient(target), bucket=target.bucket)
        return
    from lambdash.local import FunctionConfig, LocalLambda

    config = FunctionConfig(
        timeout=max(LOCAL_FUNCTION_TIMEOUT, (timeout or 0) + 5),
        concurrency=concurrency,
        region=target.region or "us-east-1",
        environment={ENV_BUCKET: target.bucket} if target.bucket else {},
    )
    with LocalLambda(config) as local:
        yield RemoteShell(LambdaClient(replace(target, endpoint_url=local.endpoint_url)), bucket=target.bucket)
