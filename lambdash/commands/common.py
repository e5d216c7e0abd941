"""Options and helpers that several commands share: the target, audit log, JSON output."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from lambdash.errors import UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.audit import AuditLog
    from lambdash.config import Target


def add_target_options(parser: argparse.ArgumentParser, *, many: bool = False, suppress: bool = False) -> None:
    """The options that pick a target; with ``suppress``, absent ones leave earlier values alone."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("target")
    group.add_argument("-f", "--function", action="append", default=default, metavar="NAME",
                       help="the Lambda function to use" + (" (repeatable)" if many else "")
                       + "; default: LAMBDASH_FUNCTION, the config file, else the local sandbox")
    group.add_argument("--region", action="append", default=default, metavar="REGION",
                       help="AWS region" + (" (repeatable)" if many else ""))
    group.add_argument("--profile", default=default, metavar="NAME", help="AWS profile from ~/.aws/config")
    group.add_argument("--endpoint-url", default=default, metavar="URL",
                       help="Lambda endpoint, e.g. a `lambdash serve` or LocalStack (AWS_ENDPOINT_URL_LAMBDA)")
    group.add_argument("--local", action="store_true", default=default if suppress else False,
                       help="run on the local sandbox, started for this call")
    group.add_argument("--bucket", default=default, metavar="NAME",
                       help="S3 bucket for output too big to return inline (default: the function's LAMBDASH_BUCKET)")


def add_common_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--json", action="store_true", default=default if suppress else False,
                        help="print machine-readable JSON")
    parser.add_argument("--debug", action="store_true", default=default if suppress else False,
                        help="show tracebacks for lambdash's own failures")
    parser.add_argument("--no-audit", action="store_true", default=default if suppress else False,
                        help="do not write the local audit log")


def add_run_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("-t", "--timeout", type=positive_seconds, default=default, metavar="SECONDS",
                        help="stop the command after this long and exit 124 (default: the function's limit)")
    parser.add_argument("--bash", action="store_true", default=default if suppress else False,
                        help="run the command with bash instead of /bin/sh")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 900:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 900 seconds: {text}")
    return value


def target_of(args: argparse.Namespace, terminal: Terminal) -> Target:
    """The one target this command runs on, with the local-default notice when it applies."""
    from lambdash.config import LOCAL_DEFAULT_NOTICE, TargetOptions, resolve_target

    functions, regions = args.function or [], args.region or []
    if len(functions) > 1 or len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one -f and one --region")
    target, defaulted = resolve_target(TargetOptions(
        function=functions[0] if functions else None,
        region=regions[0] if regions else None,
        profile=args.profile, endpoint_url=args.endpoint_url, bucket=args.bucket, local=args.local,
    ))
    if defaulted:
        terminal.notice(LOCAL_DEFAULT_NOTICE)
    return target


def audit_log(args: argparse.Namespace) -> AuditLog:
    from lambdash.audit import AuditLog
    from lambdash.config import state_dir

    return AuditLog(None if args.no_audit else state_dir() / "audit.jsonl")


def write_json(terminal: Terminal, document: Any) -> None:
    """Pretty JSON on stdout, for scripts."""
    terminal.stdout.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
    terminal.stdout.flush()
