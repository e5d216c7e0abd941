"""``lambdash help [SUBCOMMAND]``: the help of lambdash, or of one subcommand, printed here.

``lambdash -- help`` runs the sandbox's own ``help`` instead, as ``--`` does for every
subcommand's name. The parsers come from the command line's grammar (``Grammar``),
which ``lambdash.cli`` hands over in ``args.grammar``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Protocol

from lambdash.errors import ExitStatus, UsageError
from lambdash.terminal import Terminal


class Grammar(Protocol):
    """The command line's parsers, as ``lambdash.cli`` builds them."""

    @property
    def subcommands(self) -> Mapping[str, str]: ...

    def main_parser(self) -> argparse.ArgumentParser: ...

    def subcommand_parser(self, name: str) -> argparse.ArgumentParser: ...

    def full_parser(self) -> argparse.ArgumentParser: ...


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Show the help of lambdash, or of SUBCOMMAND (as `lambdash SUBCOMMAND --help` does).\n"
                          "`lambdash -- help` runs a command named help in the sandbox instead.")
    parser.add_argument("topic", nargs="?", metavar="SUBCOMMAND", help="the subcommand to explain")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    grammar: Grammar = args.grammar
    if args.topic is None:
        text = grammar.main_parser().format_help()
    elif args.topic in grammar.subcommands:
        text = grammar.subcommand_parser(args.topic).format_help()
    else:
        raise UsageError(f"no subcommand {args.topic!r}: `lambdash help` lists them "
                         f"(`lambdash -- help` runs a remote help)")
    terminal.stdout.write(text.encode())
    terminal.stdout.flush()
    return ExitStatus.OK
