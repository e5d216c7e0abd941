"""``lambdash -i COMMAND`` and ``lambdash --tty COMMAND``: a command that reads what you send while it runs.

Not a subcommand: ``run`` hands over to it when ``-i`` or ``--tty`` is given. It
opens a session on the target (``lambdash.shell.session``), relays stdin into it
(``lambdash.shell.relay``), shows the output as it comes and exits with the
command's status, as ``ssh`` and ``docker exec -i`` do.
"""

from __future__ import annotations

import argparse
import os

from lambdash.commands.options import audit_log, target_of
from lambdash.errors import LambdashError, UsageError
from lambdash.shell.relay import raw_notice, relay_stdin, window_size
from lambdash.shell.remote import LiveOutput
from lambdash.shell.session import InteractiveSession, TerminalSettings, session_error, time_limit_note
from lambdash.terminal import Terminal


def run_interactive(args: argparse.Namespace, terminal: Terminal, live: LiveOutput) -> int:
    """Run the words as a session fed from stdin, its output to ``live``; the remote status."""
    from lambdash.shell.targets import open_shell

    if not args.words:
        raise UsageError("-i and --tty need a command (usage: lambdash -i COMMAND...)")
    if args.json or args.no_stream:
        raise UsageError(f"{'--json' if args.json else '--no-stream'} cannot go with -i or --tty: "
                         "a session shows its output as it is written")
    command = " ".join(args.words)
    settings = TerminalSettings()
    if args.tty:
        size = window_size(terminal)
        settings = TerminalSettings(tty=True, rows=size[0] if size else None, columns=size[1] if size else None,
                                    term=os.environ.get("TERM") or None)
    raw = args.tty and terminal.stdin_isatty
    target = target_of(args, terminal)
    audit = audit_log(args, terminal)
    with open_shell(target, timeout=args.timeout) as shell:
        session = InteractiveSession(shell, target, command, live=live, terminal=settings,
                                     timeout=args.timeout, shell_name="bash", require_shell=args.bash,
                                     notice=raw_notice(terminal) if raw else terminal.notice)
        try:
            session.open()
            result = relay_stdin(session, terminal, keystrokes=args.tty)
        except LambdashError as problem:
            audit.record(target=target.label, command=command, request_id=None, exit_status=None, sandbox_id=None,
                         error=problem.message)
            raise
        except KeyboardInterrupt:
            session.close()
            audit.record(target=target.label, command=command, request_id=None, exit_status=None, sandbox_id=None,
                         error="interrupted; the remote command may still be running", interrupted=True)
            raise
        error = session_error(result)
        audit.record(target=target.label, command=command, request_id=result.request_id,
                     exit_status=None if error else result.status, sandbox_id=result.sandbox.get("id"), error=error)
        progress = terminal.progress_bars()
        result.stdout.write_to(terminal.stdout, "stdout", progress)
        result.stderr.write_to(terminal.stderr, "stderr", progress)
    if error:
        raise LambdashError(error)
    for text in result.warnings:
        terminal.warning(text)
    note = time_limit_note(result)
    if note:
        terminal.notice(note)
    return result.status
