"""The ``lambdash`` command line: grammar, option parsing, and one thin function per command.

``lambdash [options] COMMAND...`` runs one command as ``ssh host COMMAND...`` does.
A known subcommand name comes first; ``lambdash -- WORD`` runs a remote command
that has a subcommand's name. Only ``main`` catches broad exceptions. This
module imports nothing heavy at the top, so ``--help`` and ``--version`` are fast.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lambdash import __version__
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.config import Target
    from lambdash.remote import CommandResult, RemoteShell

DESCRIPTION = "A shell inside AWS Lambda: run commands in the Lambda sandbox and get back exact bytes."
SUBCOMMANDS: dict[str, str] = {
    "run": "run one command (the default when the first word is not a subcommand)",
    "repl": "open an interactive shell on the target",
    "serve": "run the local Lambda on loopback, for any Lambda client",
    "deploy": "create or update the lambdash function and its role and bucket",
    "destroy": "remove what deploy created",
    "status": "show the deployed function and any drift",
    "template": "print a CloudFormation template for the function",
    "inventory": "take, render or diff an inventory of the sandbox",
    "census": "run one command many times and survey the sandboxes that answer",
    "get": "copy a file from the sandbox",
    "put": "copy a file into the sandbox",
}
EPILOG = "subcommands:\n" + "\n".join(f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items()) + """

exit status: the remote command's own; 128+N when it was killed by signal N;
124 when it hit its timeout; 255 when lambdash itself failed; 130 on Ctrl-C.

examples:
  lambdash uname -a                  run on the default target
  lambdash 'ls /tmp | wc -l'         the remote shell parses the words
  echo hi | lambdash 'tr a-z A-Z'    stdin goes to the command
  lambdash < probe.sh                run a script
  lambdash -f my-shell --region eu-west-1 id
"""


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_main_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lambdash",
        usage="lambdash [options] COMMAND...\n       lambdash [options] SUBCOMMAND [options] ...",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lambdash {__version__}")
    add_target_options(parser)
    add_run_options(parser)
    add_common_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...",
                        help="the command to run; the words are joined with spaces for the remote shell")
    return parser


def build_subparser(name: str) -> argparse.ArgumentParser:
    """The parser for one subcommand; target and common options may follow its name too."""
    parser = _Parser(prog=f"lambdash {name}", description=SUBCOMMANDS[name],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if name == "run":
        add_target_options(parser, suppress=True)
        add_run_options(parser, suppress=True)
        add_common_options(parser, suppress=True)
        parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...", help="the command to run")
    elif name == "serve":
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
    else:
        raise UsageError(f"`lambdash {name}` is not available in this version of lambdash")
    return parser


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the whole command line, dispatching to a subcommand's parser when one is named."""
    args = build_main_parser().parse_args(argv)
    words: list[str] = list(args.words)
    args.subcommand = "run"
    if words and words[0] == "--":
        words = words[1:]
    elif words and words[0] in SUBCOMMANDS:
        args.subcommand = words[0]
        sub = build_subparser(words[0])
        args.words = []
        sub.parse_args(words[1:], namespace=args)
        return args
    args.words = words
    return args


def target_of(args: argparse.Namespace, terminal: Terminal) -> Target:
    """The one target this command runs on, with the local-default notice when it applies."""
    from lambdash.config import TargetOptions, resolve_target

    functions, regions = args.function or [], args.region or []
    if len(functions) > 1 or len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one -f and one --region")
    target, defaulted = resolve_target(TargetOptions(
        function=functions[0] if functions else None,
        region=regions[0] if regions else None,
        profile=args.profile, endpoint_url=args.endpoint_url, bucket=args.bucket, local=args.local,
    ))
    if defaulted:
        terminal.notice(
            "no function configured; running on the local sandbox "
            "(target AWS with -f NAME or LAMBDASH_FUNCTION; --local hides this notice)"
        )
    return target


def audit_log(args: argparse.Namespace) -> Any:
    from lambdash.audit import AuditLog
    from lambdash.config import state_dir

    return AuditLog(None if args.no_audit else state_dir() / "audit.jsonl")


# --- commands -------------------------------------------------------------------


def command_run(args: argparse.Namespace, terminal: Terminal) -> int:
    """One-shot: run the words (or a script on stdin) and exit with the remote status."""
    from lambdash.factory import open_shell

    stdin: bytes | None = None
    if args.words:
        command = " ".join(args.words)
        if not terminal.stdin_isatty:
            stdin = terminal.stdin.read()
    elif not terminal.stdin_isatty:
        script = terminal.stdin.read()
        if b"\0" in script:
            raise UsageError("the script on stdin contains a NUL byte; pass binary data as stdin to a command instead")
        command = script.decode("utf-8", "surrogateescape")
    elif args.subcommand == "run":
        raise UsageError("no command given (usage: lambdash run COMMAND...)")
    else:
        return command_repl(args, terminal)
    target = target_of(args, terminal)
    audit = audit_log(args)
    with open_shell(target, timeout=args.timeout) as shell:
        try:
            result = run_once(shell, command, stdin, args)
        except LambdashError as problem:
            audit.record(target=target.label, command=command, request_id=None, exit_status=None,
                         sandbox_id=None, error=problem.message)
            raise
        audit.record(target=target.label, command=command, request_id=result.request_id,
                     exit_status=result.status, sandbox_id=result.sandbox.get("id"))
        if args.json:
            write_json(terminal, result_to_json(result))
        else:
            deliver(result, terminal)
    return result.status


def run_once(shell: RemoteShell, command: str, stdin: bytes | None, args: argparse.Namespace) -> CommandResult:
    return shell.run(command, stdin=stdin, timeout=args.timeout, shell="bash" if args.bash else "sh")


def deliver(result: CommandResult, terminal: Terminal) -> None:
    """Write the remote streams byte for byte, then lambdash's own notes on stderr."""
    from lambdash.transfer import ProgressBar

    def progress(label: str, total: int) -> ProgressBar | None:
        return ProgressBar(label, total, terminal.stderr, terminal.width) if terminal.stderr_isatty else None

    result.stdout.write_to(terminal.stdout, "stdout", progress)
    result.stderr.write_to(terminal.stderr, "stderr", progress)
    for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        if stream.lost:
            terminal.warning(
                f"{name} was truncated: {stream.lost} of {stream.size} bytes lost because it was too big to return "
                "inline and no spill bucket is configured (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
            )
    if result.timed_out:
        limit = result.raw.get("time_limit", {}).get("seconds")
        terminal.warning(f"the command was stopped at its time limit ({limit} s); the output above is partial")


def result_to_json(result: CommandResult) -> dict[str, Any]:
    """The whole result for scripts: streams as text when they are UTF-8, else base64."""

    def stream(name: str) -> dict[str, Any]:
        source = result.stdout if name == "stdout" else result.stderr
        data = source.read(name)
        described: dict[str, Any] = {"size": source.size, "lost": source.lost}
        try:
            described["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            described["base64"] = __import__("base64").b64encode(data).decode("ascii")
        return described

    return {
        "status": result.status,
        "exit_status": result.exit_status,
        "signal": result.signal,
        "timed_out": result.timed_out,
        "stdout": stream("stdout"),
        "stderr": stream("stderr"),
        "request_id": result.request_id,
        "sandbox": dict(result.sandbox),
        "timings": dict(result.timings),
    }


def write_json(terminal: Terminal, document: Any) -> None:
    terminal.stdout.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
    terminal.stdout.flush()


def command_repl(args: argparse.Namespace, terminal: Terminal) -> int:
    raise UsageError("the interactive REPL is not available in this version; pass a command to run")


def command_serve(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the local Lambda in the foreground until Ctrl-C or SIGTERM."""
    from handler.constants import ENV_BUCKET
    from lambdash.local import FunctionConfig, LocalLambda

    if args.concurrency < 1 or args.memory < 128:
        raise UsageError("--concurrency must be at least 1 and --memory at least 128")
    config = FunctionConfig(
        name=args.name, timeout=args.timeout, memory_mb=args.memory, concurrency=args.concurrency,
        idle_timeout=args.idle_timeout, environment={ENV_BUCKET: args.bucket} if args.bucket else {},
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


COMMANDS: dict[str, Callable[[argparse.Namespace, Terminal], int]] = {
    "run": command_run,
    "repl": command_repl,
    "serve": command_serve,
}


def main(argv: Sequence[str] | None = None, terminal: Terminal | None = None) -> int:
    """Run lambdash; return the exit status."""
    terminal = terminal or Terminal.from_system()
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = parse_arguments(argv)
        return COMMANDS[args.subcommand](args, terminal)
    except KeyboardInterrupt:
        terminal.message("")
        return ExitStatus.INTERRUPTED
    except LambdashError as problem:
        if debug:
            import traceback

            traceback.print_exc()
        terminal.error(problem.message)
        for line in problem.details:
            terminal.message(f"  | {line}")
        return ExitStatus.ERROR
    except BrokenPipeError:
        # The reader went away (e.g. `lambdash cat big | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
    except Exception as problem:
        if debug:
            raise
        terminal.error(f"unexpected {type(problem).__name__}: {problem} (run with --debug for the traceback)")
        return ExitStatus.ERROR
