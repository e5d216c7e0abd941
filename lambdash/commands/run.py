"""``lambdash [run] COMMAND...``: run one command and exit with its status, as ssh does."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, BinaryIO

from lambdash.commands.options import (
    add_agent_option,
    add_command_options,
    add_common_options,
    add_run_options,
    add_session_options,
    add_target_options,
    audit_log,
    target_of,
)
from lambdash.errors import LambdashError, UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    # Only for its type: a one-shot handed to the agent parses its options here without the run path.
    from lambdash.shell.remote import RemoteResult


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_run_options(parser, suppress=True)
    add_command_options(parser, suppress=True)
    add_agent_option(parser, suppress=True)
    add_session_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...", help="the command to run")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the words (or a script on stdin) and return the remote status."""
    from lambdash.shell.targets import open_shell

    if args.interactive or args.tty:
        from lambdash.commands.interactive import run_interactive

        return run_interactive(args, terminal, LiveTerminal(terminal))
    stdin: BinaryIO | None = None
    if args.words:
        command = " ".join(args.words)
        if not terminal.stdin_isatty:
            stdin = terminal.stdin  # read as it is sent, never whole
    elif not terminal.stdin_isatty:
        script = terminal.stdin.read()
        if b"\0" in script:
            raise UsageError("the script on stdin contains a NUL byte; pipe binary data into a command instead")
        command = script.decode("utf-8", "surrogateescape")
    else:
        raise UsageError("no command given (usage: lambdash run COMMAND...)")
    target = target_of(args, terminal)
    audit = audit_log(args, terminal)
    # --json prints one document at the end, so it has nothing to stream.
    live = None if args.no_stream or args.json else LiveTerminal(terminal)
    with open_shell(target, timeout=args.timeout) as shell:
        try:
            result = shell.run(command, stdin=stdin, timeout=args.timeout, shell="bash" if args.bash else "sh",
                               keep_background=args.keep_background, live=live,
                               terminal=terminal.output_terminal())
        except LambdashError as problem:
            audit.record(target=target.label, command=command, request_id=None, exit_status=None,
                         sandbox_id=None, error=problem.message)
            raise
        except KeyboardInterrupt:
            terminal.message("")
            terminal.message("lambdash: interrupted; the remote command may still be running")
            audit.record(target=target.label, command=command, request_id=None, exit_status=None,
                         sandbox_id=None, error="interrupted; the remote command may still be running",
                         interrupted=True)
            raise
        audit.record(target=target.label, command=command, request_id=result.request_id,
                     exit_status=result.status, sandbox_id=result.sandbox.get("id"))
        if args.json:
            result.write_json(terminal.stdout)
        else:
            deliver(result, terminal)
    return result.status


class LiveTerminal:
    """A streamed command's output, written to the terminal's stdout and stderr as it arrives."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def write(self, name: str, data: bytes) -> None:
        stream = self.terminal.stdout if name == "stdout" else self.terminal.stderr
        stream.write(data)
        stream.flush()


def deliver(result: RemoteResult, terminal: Terminal) -> None:
    """Write the remote streams byte for byte (what was not streamed already), then lambdash's own notes."""
    progress = terminal.progress_bars()
    result.stdout.write_to(terminal.stdout, "stdout", progress)
    result.stderr.write_to(terminal.stderr, "stderr", progress)
    for text in result.warnings:
        terminal.warning(text)
    if result.full_screen:
        terminal.warning(f"the command was stopped: {result.full_screen}, and the sandbox has no terminal "
                         "for a full-screen program")
    if result.timed_out:
        limit = result.raw.get("time_limit", {}).get("seconds")
        terminal.warning(f"the command was stopped at its time limit ({limit} s); the output above is partial")
