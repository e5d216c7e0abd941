"""``lambdash serve``: the local Lambda in the foreground, for any Lambda client."""

from __future__ import annotations

import argparse

from lambdash.commands.common import positive_seconds

HELP = "run the local Lambda on loopback, for any Lambda client"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the local Lambda on loopback. It speaks Lambda's Invoke API, so boto3, the AWS CLI "
        "(--endpoint-url) and `lambdash --endpoint-url` can use it. Ctrl-C stops it and every sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9001, help="port to listen on (default: 9001; 0 picks one)")
    parser.add_argument("--name", default="lambdash", help="the function name it hosts (default: lambdash)")
    parser.add_argument("--timeout", type=positive_seconds, default=300.0, metavar="SECONDS",
                        help="the function timeout (default: 300)")
    parser.add_argument("--memory", type=int, default=1024, metavar="MB",
                        help="the function memory size, also each sandbox's memory limit (default: 1024)")
    parser.add_argument("--concurrency", type=int, default=10, metavar="N",
                        help="at most this many sandboxes; past that callers get 429 (default: 10)")
    parser.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="reap a sandbox left idle this long (default: 600)")
    parser.add_argument("--bucket", default=None, metavar="NAME",
                        help="spill bucket, set as the function's LAMBDASH_BUCKET")
    parser.add_argument("--quiet", action="store_true", help="do not print each invocation's log")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)



