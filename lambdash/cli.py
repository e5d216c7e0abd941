"""The ``lambdash`` command line: the grammar, and ``main``.

``lambdash [options] COMMAND...`` runs one command as ``ssh host COMMAND...`` does.
A known subcommand name comes first; ``lambdash -- WORD`` runs a remote command
that has a subcommand's name. Each subcommand lives in ``lambdash.commands`` and
is imported only when it runs, so ``--help`` and ``--version`` stay fast (boto3
is never imported for them). Only ``main`` catches broad exceptions.

When an agent is listening, the command line goes to it before anything is parsed
here (``lambdash.agent.client``): it runs the one-shots it serves and declines the
rest, which run here. With none listening, a one-shot starts one in the background
when the agent is on (``LAMBDASH_AGENT``), and runs here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from lambdash import __version__
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.terminal import Terminal, terminal_columns

if TYPE_CHECKING:
    from typing import NoReturn

DESCRIPTION = "A shell inside AWS Lambda: run commands in the Lambda sandbox and get back exact bytes."
# Subcommand name -> one-line help. Kept here (not read from the modules) so --help imports nothing.
SUBCOMMANDS: dict[str, str] = {
    "run": "run one command (the default when the first word is not a subcommand)",
    "help": "show the help of lambdash, or of one subcommand (`lambdash -- help` runs a remote help)",
    "repl": "open an interactive shell on the target",
    "serve": "run the local Lambda on loopback, for any Lambda client",
    "deploy": "create or update the lambdash function, its role and its bucket",
    "destroy": "remove what deploy created",
    "status": "show the deployed function and any drift",
    "template": "print a CloudFormation template for the function",
    "completion": "print a shell completion script for lambdash: bash, zsh or fish",
    "inventory": "take, render or diff an inventory of the sandbox",
    "census": "run one command many times and survey the sandboxes that answer",
    "probe": "check the network from inside the sandbox: TCP, DNS, HTTP(S), AWS endpoints",
    "forward": "carry local ports to HOST:PORT from inside the function's network, as ssh -L",
    "socks": "a SOCKS5 proxy whose connections leave from inside the function's network, as ssh -D",
    "get": "copy a file out of the sandbox",
    "put": "copy a file into the sandbox",
    "agent": "the background agent that makes one-shots fast: status, start, stop",
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
  lambdash help deploy               the help of one subcommand
  lambdash -f my-shell --region eu-west-1 id
"""


# Words that show, before any parser is built, that a command line is no one-shot for the agent.
NOT_FOR_THE_AGENT = frozenset({"--version", "-h", "--help", "--no-agent", "--local"})


def could_be_for_the_agent(argv: Sequence[str], terminal: Terminal) -> bool:
    """Whether a running agent might run this command line, from a glance at its words.

    It errs only towards no (the command then runs here, as a remote command holding
    one of those words does): the agent parses what it is given and declines the rest.
    It keeps ``--version``, ``--help``, the REPL and the subcommands from paying for
    asking the agent.
    """
    if not argv:
        return not terminal.stdin_isatty  # a script on stdin; on a terminal, the REPL
    return (argv[0] == "run" or argv[0] not in SUBCOMMANDS) and not NOT_FOR_THE_AGENT.intersection(argv)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's layout, as wide as the terminal (found without importing shutil, so --help stays fast)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=terminal_columns() - 2)  # argparse's own margin


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as lambdash errors (one line, exit 255)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_main_parser() -> argparse.ArgumentParser:
    # Here, not at the top: a one-shot handed to the agent builds no parser.
    from lambdash.commands.options import (
        add_agent_option,
        add_command_options,
        add_common_options,
        add_run_options,
        add_session_options,
        add_target_options,
    )

    parser = ArgumentParser(
        prog="lambdash",
        usage="lambdash [options] COMMAND...\n       lambdash [options] SUBCOMMAND [options] ...",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lambdash {__version__}")
    add_target_options(parser)
    add_run_options(parser)
    add_command_options(parser)
    add_agent_option(parser)
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
                            formatter_class=HelpFormatter)
    module.configure(parser)
    return parser


def build_full_parser() -> argparse.ArgumentParser:
    """The whole grammar at once: the main options and every subcommand's parser, for shell completion.

    ``parse_arguments`` builds only the parser of the subcommand it runs, so that
    --help stays fast; completion needs them all, built from the same code.
    """
    parser = build_main_parser()
    # A one-shot's words are the remote shell's, not lambdash's: without them the first word is a subcommand's.
    words = next(action for action in parser._actions if action.dest == "words")
    parser._remove_action(words)
    for group in parser._action_groups:
        if words in group._group_actions:
            group._group_actions.remove(words)
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", parser_class=ArgumentParser)
    for name, text in SUBCOMMANDS.items():
        try:
            module = command_module(name)
        except UsageError:
            continue  # not in this version
        module.configure(subparsers.add_parser(name, help=text, description=text,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


class Grammar:
    """The parsers, for the subcommands that show the grammar itself (help and completion)."""

    @property
    def subcommands(self) -> Mapping[str, str]:
        return SUBCOMMANDS

    def main_parser(self) -> argparse.ArgumentParser:
        return build_main_parser()

    def subcommand_parser(self, name: str) -> argparse.ArgumentParser:
        return build_subparser(name, command_module(name))

    def full_parser(self) -> argparse.ArgumentParser:
        return build_full_parser()


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
    args.subcommand, args.words, args.grammar = name, words, Grammar()
    if explicit or name != "run":
        build_subparser(name, module).parse_args(words, namespace=args)
    return args, module


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a closed terminal) arrived: leave as Ctrl-C leaves, cleaning up on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def install_termination_handlers() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, raising Terminated.

    Unwinding runs every ``with`` on the way out, so a local Lambda started for
    this call stops its sandboxes and removes its files.
    """

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, terminate)


def console_main() -> int:
    """The ``lambdash`` command: ``main`` with SIGTERM and SIGHUP unwinding like Ctrl-C, and the agent."""
    install_termination_handlers()
    return main(through_agent=True)


def main(argv: Sequence[str] | None = None, terminal: Terminal | None = None, *, through_agent: bool = False) -> int:
    """Run lambdash; return the exit status.

    With ``through_agent`` (the ``lambdash`` command; never the agent's own workers,
    which run what they are handed here), a running agent gets the command line
    first, and a one-shot starts an agent when none runs and the agent is on.
    """
    terminal = terminal or Terminal.from_system()
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        no_agent = False
        if through_agent and could_be_for_the_agent(argv, terminal):
            from lambdash.agent import client

            handed = client.hand_over(argv, terminal)
            if not isinstance(handed, str):
                return handed
            no_agent = handed == client.NO_AGENT
        args, module = parse_arguments(argv, terminal)
        if no_agent and args.subcommand == "run" and not (args.local or args.no_agent):
            client.start_if_on()
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
        for line in problem.details + (problem.debug_details if debug else []):
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
