"""The ``lambdash`` command line: the grammar, and ``main``.

``lambdash [options] COMMAND...`` runs one command as ``ssh host COMMAND...`` does.
A known subcommand name comes first; ``lambdash -- WORD`` runs a remote command
that has a subcommand's name. Each subcommand lives in ``lambdash.commands`` and
is imported only when it runs, so ``--help`` and ``--version`` stay fast (boto3
is never imported for them). Only ``main`` catches broad exceptions.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from lambdash import __version__
from lambdash.commands.options import (
    add_command_options,
    add_common_options,
    add_run_options,
    add_session_options,
    add_target_options,
)
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.terminal import Terminal

DESCRIPTION = "A shell inside AWS Lambda: run commands in the Lambda sandbox and get back exact bytes."
# Subcommand name -> one-line help. Kept here (not read from the modules) so --help imports nothing.
SUBCOMMANDS: dict[str, str] = {
    "run": "run one command (the default when the first word is not a subcommand)",
    "repl": "open an interactive shell on the target",
    "serve": "run the local Lambda on loopback, for any Lambda client",
    "deploy": "create or update the lambdash function, its role and its bucket",
    "destroy": "remove what deploy created",
    "status": "show the deployed function and any drift",
    "template": "print a CloudFormation template for the function",
    "inventory": "take, render or diff an inventory of the sandbox",
    "census": "run one command many times and survey the sandboxes that answer",
    "probe": "check the network from inside the sandbox: TCP, DNS, HTTP(S), AWS endpoints",
    "get": "copy a file out of the sandbox",
    "put": "copy a file into the sandbox",
}
EPILOG = "subcommands (lambdash SUBCOMMAND --help for each):\n" + "\n".join(
    f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items()
) + """

exit status: the remote command's own; 128+N when it was killed by signal N;
124 when it hit its timeout; 255 when lambdash itself failed; 130 on Ctrl-C.

examples:
  lambdash uname -a                  run on the default target
  lambdash 'ls /tmp | wc -l'         the remote shell parses the words
  echo hi | lambdash 'tr a-z A-Z'    stdin goes to the command
  lambdash -i python3 -i             type to a command while it runs (a session)
  lambdash < probe.sh                run a script
  lambdash -- status                 run a remote command named like a subcommand
  lambdash -f my-shell --region eu-west-1 id
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as lambdash errors (one line, exit 255)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_main_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="lambdash",
        usage="lambdash [options] COMMAND...\n       lambdash [options] SUBCOMMAND [options] ...",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lambdash {__version__}")
    add_target_options(parser)
    add_run_options(parser)
    add_command_options(parser)
    add_session_options(parser)
    add_common_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND...",
                        help="the command to run; the words are joined with spaces for the remote shell")
    return parser


def command_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"lambdash.commands.{name}")
    except ModuleNotFoundError as problem:
        if problem.name != f"lambdash.commands.{name}":
            raise
        raise UsageError(f"`lambdash {name}` is not available in this version of lambdash") from None


def build_subparser(name: str, module: ModuleType) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=f"lambdash {name}", description=SUBCOMMANDS[name],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    module.configure(parser)
    return parser


def parse_arguments(argv: Sequence[str], terminal: Terminal) -> tuple[argparse.Namespace, ModuleType]:
    """Parse the command line; options given before a subcommand's name apply to it too."""
    args = build_main_parser().parse_args(argv)
    words: list[str] = list(args.words)
    explicit = bool(words) and words[0] in SUBCOMMANDS
    if words and words[0] == "--":
        name, words = "run", words[1:]
    elif explicit:
        name, words = words[0], words[1:]
    else:
        # No command on a terminal opens the REPL; otherwise stdin is a script.
        name = "run" if words or not terminal.stdin_isatty or args.interactive or args.tty else "repl"
    module = command_module(name)
    args.subcommand, args.words = name, words
    if explicit or name != "run":
        build_subparser(name, module).parse_args(words, namespace=args)
    return args, module


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a closed terminal) arrived: leave as Ctrl-C leaves, cleaning up on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def console_main() -> int:
    """The ``lambdash`` command: ``main`` with SIGTERM and SIGHUP unwinding like Ctrl-C.

    Unwinding runs every ``with`` on the way out, so a local Lambda started for
    this call stops its sandboxes and removes its files.
    """

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, terminate)
    return main()


def main(argv: Sequence[str] | None = None, terminal: Terminal | None = None) -> int:
    """Run lambdash; return the exit status."""
    terminal = terminal or Terminal.from_system()
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args, module = parse_arguments(argv, terminal)
        status: int = module.execute(args, terminal)
        return status
    except KeyboardInterrupt:
        terminal.message("")
        return ExitStatus.INTERRUPTED
    except Terminated as ended:
        return ExitStatus.SIGNAL_BASE + ended.signum
    except LambdashError as problem:
        if debug:
            import traceback

            traceback.print_exc()
        terminal.error(problem.message)
        for line in problem.details:
            terminal.message(f"  | {line}")
        return ExitStatus.ERROR
    except BrokenPipeError:
        # The reader went away (as in `lambdash cat big | head`): not a failure of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
    except Exception as problem:
        if debug:
            raise
        terminal.error(f"unexpected {type(problem).__name__}: {problem} (run with --debug for the traceback)")
        return ExitStatus.ERROR
