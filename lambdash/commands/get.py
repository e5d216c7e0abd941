"""``lambdash get REMOTE [LOCAL]``: copy a file out of the sandbox."""

from __future__ import annotations

import argparse

from lambdash.commands.options import add_common_options, add_target_options, target_of
from lambdash.errors import ExitStatus
from lambdash.terminal import Terminal


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    parser.add_argument("remote", metavar="REMOTE", help="the file in the sandbox")
    parser.add_argument("local_path", metavar="LOCAL", nargs="?",
                        help="where to write it (default: its name, in the current directory)")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.shell.filecopy import get_file, local_destination
    from lambdash.shell.targets import open_shell

    local = local_destination(args.remote, args.local_path)
    with open_shell(target_of(args, terminal)) as shell:
        size = get_file(lambda command, stdin: shell.run(command, stdin=stdin), args.remote, local,
                        progress=terminal.progress_bars())
    terminal.notice(f"copied {args.remote} to {local} ({size} bytes)")
    return ExitStatus.OK
