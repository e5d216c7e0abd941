"""``lambdash [run] COMMAND...``: run one command and exit with its status, as ssh does."""

from __future__ import annotations

import argparse
from typing import Any

from lambdash.commands.common import (
    add_common_options,
    add_run_options,
    add_target_options,
    audit_log,
    target_of,
    write_json,
)
from lambdash.errors import LambdashError, UsageError
from lambdash.remote import CommandResult, text_or_base64
from lambdash.terminal import Terminal

HELP = "run one command (the default when the first word is not a subcommand)"


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_run_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...", help="the command to run")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the words (or a script on stdin) and return the remote status."""
    from lambdash.factory import open_shell

    stdin: bytes | None = None
    if args.words:
        command = " ".join(args.words)
        if not terminal.stdin_isatty:
            stdin = terminal.stdin.read()
    elif not terminal.stdin_isatty:
        script = terminal.stdin.read()
        if b"\0" in script:
            raise UsageError("the script on stdin contains a NUL byte; pipe binary data into a command instead")
        command = script.decode("utf-8", "surrogateescape")
    else:
        raise UsageError("no command given (usage: lambdash run COMMAND...)")
    target = target_of(args, terminal)
    audit = audit_log(args)
    with open_shell(target, timeout=args.timeout) as shell:
        try:
            result = shell.run(command, stdin=stdin, timeout=args.timeout, shell="bash" if args.bash else "sh")
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
        return {"size": source.size, "lost": source.lost, **text_or_base64(source.read(name))}

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
