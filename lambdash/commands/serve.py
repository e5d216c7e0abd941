"""``lambdash serve``: the local Lambda in the foreground, for any Lambda client."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from handler.constants import ENV_BUCKET
from lambdash.commands.options import seconds
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.local.function import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECONDS,
)
from lambdash.terminal import Terminal


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the local Lambda on loopback. It speaks Lambda's Invoke API, so boto3, the AWS CLI "
        "(--endpoint-url) and `lambdash --endpoint-url` can use it. Ctrl-C stops it and every sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9001, help="port to listen on (default: 9001; 0 picks one)")
    parser.add_argument("--name", default="lambdash", help="the function name it hosts (default: lambdash)")
    # Also a global option, so (as for deploy) its absence must not hide a value given before `serve`.
    parser.add_argument("--timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help=f"the function timeout (default: {DEFAULT_TIMEOUT_SECONDS:g})")
    parser.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help="the function memory size, also each sandbox's memory limit "
                             f"(default: {DEFAULT_MEMORY_MB})")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"at most this many sandboxes; past that callers get 429 (default: {DEFAULT_CONCURRENCY})")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_SECONDS, metavar="SECONDS",
                        help=f"reap a sandbox left idle this long (default: {DEFAULT_IDLE_TIMEOUT_SECONDS:g})")
    parser.add_argument("--bucket", default=None, metavar="NAME",
                        help=f"spill bucket, set as the function's {ENV_BUCKET}")
    parser.add_argument("--quiet", action="store_true", help="do not print each invocation's log")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the local Lambda in the foreground until Ctrl-C or SIGTERM."""
    from lambdash.local import FunctionConfig, LocalLambda

    if args.concurrency < 1 or args.memory < 128:
        raise UsageError("--concurrency must be at least 1 and --memory at least 128")
    config = FunctionConfig(
        name=args.name, timeout=args.timeout or DEFAULT_TIMEOUT_SECONDS, memory_mb=args.memory,
        concurrency=args.concurrency, idle_timeout=args.idle_timeout,
        environment={ENV_BUCKET: args.bucket} if args.bucket else {},
    )
    lock = threading.Lock()

    def show(outcome: Any) -> None:
        if args.quiet:
            return
        with lock:
            terminal.stderr.write(outcome.log)
            terminal.stderr.flush()

    try:
        local = LocalLambda(config, host=args.host, port=args.port, on_invoke=show)
    except OSError as problem:
        raise LambdashError(f"cannot listen on {args.host}:{args.port}: {problem.strerror}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local:
        terminal.message(
            f"lambdash: local Lambda serving function {config.name!r} at {local.endpoint_url} "
            f"(timeout {config.timeout:g} s, {config.memory_mb} MB, up to {config.concurrency} sandboxes)"
        )
        terminal.message(f"lambdash: try: lambdash --endpoint-url {local.endpoint_url} uname -a")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        terminal.message("lambdash: stopping; every sandbox is killed")
    return ExitStatus.OK
