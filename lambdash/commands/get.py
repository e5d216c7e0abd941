"""``lambdash get REMOTE [LOCAL]``: copy a file out of the sandbox."""

from __future__ import annotations

import argparse

from lambdash.commands.common import add_common_options, add_target_options, target_of
from lambdash.errors import ExitStatus
from lambdash.terminal import Terminal

HELP = "copy a file out of the sandbox"


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    parser.add_argument("remote", metavar="REMOTE", help="the file in the sandbox")
    parser.add_argument("local_path", metavar="LOCAL", nargs="?",
                        help="where to write it (default: its name, in the current directory)")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.factory import open_shell
    from lambdash.files import get_file, local_destination
    from lambdash.transfer import ProgressBar

    local = local_destination(args.remote, args.local_path)

    def progress(label: str, total: int) -> ProgressBar | None:
        return ProgressBar(label, total, terminal.stderr, terminal.width) if terminal.stderr_isatty else None

    with open_shell(target_of(args, terminal)) as shell:
        size = get_file(lambda command, stdin: shell.run(command, stdin=stdin), args.remote, local, progress=progress)
    terminal.notice(f"copied {args.remote} to {local} ({size} bytes)")
    return ExitStatus.OK
