"""The options most subcommands share, and the targets and audit log they ask for.

Options that pick a target (``-f``, ``--region``, ``--profile``, ``--endpoint-url``,
``--local``, ``--bucket``), the run options (``-t``, ``--bash``) and the common ones
(``--json``, ``--debug``, ``--no-audit``). Every subcommand resolves its target
through ``lambdash.config.resolve_target``: flags, then environment, then the
config file, whichever subcommand it is (deploy, status and destroy too, through
``deployment_options``). Not a subcommand: ``lambdash.cli`` never runs it.
``lambdash.config`` is imported only when an option is read, not when the parser
is built, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambdash.errors import UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.config import Target
    from lambdash.shell.audit import AuditLog


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
    parser.add_argument("-t", "--timeout", type=seconds, default=default, metavar="SECONDS",
                        help="stop the command after this long and exit 124 (default: the function's limit)")
    parser.add_argument("--bash", action="store_true", default=default if suppress else False,
                        help="run the command with bash instead of /bin/sh")


def add_agent_option(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``--no-agent``: a one-shot runs in this process even when the agent is on."""
    parser.add_argument("--no-agent", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="run this command here, not through the agent (see `lambdash agent --help`)")


def add_command_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """How each command runs, in one-shot runs and the REPL (where :stream and :keep change them)."""
    parser.add_argument("--no-stream", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="wait for the command to end and print its output then, with a buffered invoke "
                             "(default: print it as it is written, through Lambda response streaming)")
    parser.add_argument("--keep-background", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="keep what the command leaves running in the background: it stays in its sandbox, "
                             "frozen between invocations, as on Lambda (default: killed when the command ends)")


def add_session_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Input while the command runs (a session), as ``ssh``'s and ``docker exec``'s ``-i`` and ``-t``."""
    parser.add_argument("-i", "--interactive", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="relay stdin to the command while it runs (a pipe as it comes, a terminal line by "
                             "line); Ctrl-C interrupts the remote command")
    parser.add_argument("--tty", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="send every key as it is typed, with the terminal's size and TERM (implies -i); "
                             "Ctrl-C and Ctrl-\\ reach the remote program as signals; ~. leaves")


def seconds(text: str) -> float:
    """argparse's type for a command's time limit."""
    from lambdash.config import parse_seconds

    try:
        return parse_seconds(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def bounded_int(what: str, low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """argparse's type for a whole number from ``low`` to ``high``; ``what`` (and ``unit``) name it in the message.

    argparse puts the option's name first: ``argument --port: port must be from 0 to 65535: 99999``.
    """
    units = f" {unit}" if unit else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number{' of' + units if unit else ''}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high}{units}: {value}")
        return value

    return parse


def bounded_seconds(what: str, high: float) -> Callable[[str], float]:
    """argparse's type for a length of time: more than 0 and at most ``high`` seconds (never inf or nan)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"{what} must be more than 0 and at most {high:g} seconds: {text}")
        return value

    return parse


def target_of(args: argparse.Namespace, terminal: Terminal) -> Target:
    """The one target this command runs on, with the local-default notice when it applies."""
    from lambdash.config import TargetOptions, config_file_warning, local_default_notice, resolve_target

    functions, regions = args.function or [], args.region or []
    if len(functions) > 1 or len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one -f and one --region")
    target, defaulted = resolve_target(TargetOptions(
        function=functions[0] if functions else None,
        region=regions[0] if regions else None,
        profile=args.profile, endpoint_url=args.endpoint_url, bucket=args.bucket, local=args.local,
    ))
    if defaulted:
        terminal.notice(local_default_notice())
    warning = config_file_warning()
    if warning:
        terminal.warning(warning)
    return target


def targets_of(args: argparse.Namespace, terminal: Terminal) -> tuple[Target, ...]:
    """The targets the command line names (-f and --region may repeat), with the local-default notice."""
    from lambdash.config import config_file_warning, local_default_notice
    from lambdash.shell.targets import expand_targets

    target_set = expand_targets(
        args.function or [], args.region or [], profile=args.profile, endpoint_url=args.endpoint_url,
        bucket=args.bucket, local=args.local,
    )
    if target_set.defaulted:
        terminal.notice(local_default_notice())
    warning = config_file_warning()
    if warning:
        terminal.warning(warning)
    return target_set.targets


def audit_log(args: argparse.Namespace, terminal: Terminal) -> AuditLog:
    """The audit log the command writes to (none with --no-audit), its state dir made private first."""
    from lambdash.paths import state_dir
    from lambdash.shell.audit import AUDIT_FILE, AuditLog, make_state_private

    notice = make_state_private()
    if notice:
        terminal.notice(notice)
    return AuditLog.checked(None if args.no_audit else state_dir() / AUDIT_FILE)
