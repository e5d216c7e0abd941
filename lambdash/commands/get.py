"""``lambdash get [-r] [-p] REMOTE [LOCAL]``: copy a file, or with -r a directory, out of the sandbox."""

from __future__ import annotations

import argparse

from lambdash.commands.options import add_common_options, add_target_options, target_of
from lambdash.errors import ExitStatus
from lambdash.terminal import Terminal


def add_copy_options(parser: argparse.ArgumentParser) -> None:
    """-r and -p, as scp and cp take them (put takes them too)."""
    parser.add_argument("-r", "--recursive", action="store_true",
                        help="copy a directory and everything in it (a tar stream through the sandbox's shell)")
    parser.add_argument("-p", "--preserve", action="store_true",
                        help="keep each file's mode and modification time (default: the mode less the umask of "
                             "the side that writes, as cp gives, and the time of the copy)")


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)
    add_copy_options(parser)
    parser.add_argument("remote", metavar="REMOTE", help="the file (or, with -r, directory) in the sandbox")
    parser.add_argument("local_path", metavar="LOCAL", nargs="?",
                        help="where to write it (default: its name, in the current directory)")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.shell.filecopy import get_file, get_tree, local_destination
    from lambdash.shell.targets import open_shell

    local = local_destination(args.remote, args.local_path)
    with open_shell(target_of(args, terminal)) as shell:
        if args.recursive:
            files, size = get_tree(lambda command, stdin: shell.run(command, stdin=stdin), args.remote, local,
                                   progress=terminal.progress_bars(), preserve=args.preserve)
            terminal.notice(f"copied {args.remote} to {local} ({files} files, {size} bytes)")
            return ExitStatus.OK
        size = get_file(lambda command, stdin: shell.run(command, stdin=stdin), args.remote, local,
                        progress=terminal.progress_bars(), preserve=args.preserve)
    terminal.notice(f"copied {args.remote} to {local} ({size} bytes)")
    return ExitStatus.OK
