"""``lambdash repl`` (and ``lambdash`` alone on a terminal): an interactive shell on the target."""

from __future__ import annotations

import argparse

from lambdash.commands.options import (
    add_command_options,
    add_common_options,
    add_run_options,
    add_target_options,
    audit_log,
    target_of,
)
from lambdash.errors import UsageError
from lambdash.terminal import Terminal

EPILOG = """\
The cwd and environment changes (cd, export, unset) are kept by lambdash and sent
with every command, so they hold even when Lambda routes a command to another sandbox.

keys: Enter runs the line (a trailing \\ or an open quote continues it); Tab completes
commands, remote paths and meta-commands; Ctrl-R searches the history (Enter runs
the line found); Ctrl-C clears the line or stops waiting for a running command;
Ctrl-D leaves, and so does `exit [N]`, with N or the last command's status.

meta-commands (:help in the REPL explains each):
  :help :exit :timeout SECONDS|off :env :sandbox :json on|off :stream on|off :keep on|off
  :history [N]
  :less :inventory :get REMOTE [LOCAL] :put LOCAL REMOTE

History: $XDG_STATE_HOME/lambdash/history-TARGET (mode 0600).
Audit log: $XDG_STATE_HOME/lambdash/audit.jsonl, one line per command (--no-audit turns it off).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open an interactive shell on the target: the local sandbox or a Lambda function, "
        "chosen with the same options as one-shot commands."
    )
    parser.epilog = EPILOG
    add_target_options(parser, suppress=True)
    add_run_options(parser, suppress=True)
    add_command_options(parser, suppress=True)
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the REPL until Ctrl-D or :exit."""
    if not terminal.stdin_isatty:
        raise UsageError("the REPL needs a terminal on stdin; to run a script, pipe it to `lambdash` instead")
    from lambdash.repl import ReplSession, open_history
    from lambdash.shell.targets import open_shell

    target = target_of(args, terminal)
    audit = audit_log(args, terminal)  # first: it makes the state dir private, histories included
    history, problem = open_history(target)
    if problem:
        terminal.warning(problem)
    with open_shell(target, timeout=args.timeout) as shell:
        terminal.notice(f"REPL on {target.label}; :help lists meta-commands and keys, Ctrl-D leaves")
        session = ReplSession(
            shell, target, terminal,
            audit=audit, history=history, timeout=args.timeout, json_output=args.json,
            stream_output=not args.no_stream, require_bash=args.bash, debug=args.debug,
        )
        session.shell.keep_background = args.keep_background
        return session.run()
