"""``lambdash put [-r] [-p] LOCAL REMOTE``: copy a file, or with -r a directory, into the sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdash.commands.get import add_copy_options
from lambdash.commands.options import add_common_options, add_target_options, target_of
from lambdash.errors import ExitStatus
from lambdash.terminal import Terminal


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    add_copy_options(parser)
    parser.add_argument("local_path", metavar="LOCAL", help="the file (or, with -r, directory) on this machine")
    parser.add_argument("remote", metavar="REMOTE", help="where to write it in the sandbox (e.g. /tmp/name)")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.shell.filecopy import put_file, put_tree
    from lambdash.shell.targets import open_shell

    with open_shell(target_of(args, terminal)) as shell:
        if args.recursive:
            files, size, written = put_tree(lambda command, stdin: shell.run(command, stdin=stdin),
                                            Path(args.local_path), args.remote, preserve=args.preserve)
            terminal.notice(f"copied {args.local_path} to {written} ({files} files, {size} bytes)")
            return ExitStatus.OK
        size, written = put_file(lambda command, stdin: shell.run(command, stdin=stdin), Path(args.local_path),
                                 args.remote, preserve=args.preserve)
    terminal.notice(f"copied {args.local_path} to {written} ({size} bytes)")
    return ExitStatus.OK
