"""``python -m lambdash.agent``: the agent process, serving one-shots with ``lambdash.cli.main`` itself.

A one-shot starts it (detached) when the agent is on and none is running. It is an
entry point, as ``lambdash/__main__.py`` is: it wires the one-shot (the CLI's
``main``, exactly as ``lambdash`` runs it) into the agent's server, with the warm
clients. A request is served only when it is a one-shot on a Lambda target: the
REPL and the other subcommands never come here, and the local sandbox (``--local``,
or the default with nothing configured) is declined, so it starts in the caller's
own process, which it must not outlive.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any

from lambdash.agent.directory import AgentDirectory
from lambdash.agent.server import Agent, Declined
from lambdash.agent.warm import Lent, WarmClients, settings_digest
from lambdash.aws.warm import hand_over
from lambdash.cli import install_termination_handlers, main, parse_arguments
from lambdash.commands.options import target_of
from lambdash.config import agent_seconds
from lambdash.errors import LambdashError
from lambdash.terminal import Terminal

# What a one-shot imports while it runs (beyond what preparing a request imports): loaded
# once in the agent, so no worker pays for it. A name missing here costs time, never correctness.
PRELOADED = (
    "lambdash.commands.run", "lambdash.shell.targets", "lambdash.shell.remote", "lambdash.shell.audit",
    "lambdash.shell.presigned", "lambdash.aws.invoke", "lambdash.local.credentials",
    "lambdash_handler.contract.records", "botocore.eventstream", "botocore.parsers", "botocore.response",
    "botocore.httpchecksum", "botocore.retries.standard", "botocore.retries.special", "botocore.retries.adaptive",
    "urllib3", "http.client", "email.parser", "hashlib", "hmac", "tempfile", "zlib", "base64", "json", "ssl",
    "traceback",
)


class OneShots:
    """The agent's service: one-shots, run by the CLI's ``main`` in a worker, with a warm client handed over."""

    def __init__(self) -> None:
        self.clients = WarmClients()

    def start(self) -> None:
        for name in PRELOADED:
            try:
                importlib.import_module(name)
            except Exception:  # only a warm-up: the worker imports what it needs anyway
                continue

    def prepare(self, request: dict[str, Any]) -> Any:
        """The warm client for the request's target (None: the worker makes its own), or Declined."""
        try:
            if agent_seconds() is None:
                return Declined("the agent is off for this caller")
        except LambdashError as problem:
            return Declined("a bad agent setting", error=problem.message)
        quiet = Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO(),
                         stdin_isatty=bool(request["tty"][0]))
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                args, _ = parse_arguments([str(word) for word in request["argv"]], quiet)
        except (LambdashError, SystemExit):
            # --help, --version, a usage error: the caller's own process says it, as it would without the agent.
            return Declined("not a command line the agent runs")
        if args.subcommand != "run" or args.local or args.no_agent:
            return Declined(f"`{args.subcommand}` is not a one-shot the agent serves")
        try:
            target = target_of(args, quiet)
        except LambdashError:
            return None  # the worker says what is wrong, exactly as a one-shot without the agent does
        if target.local:
            return Declined("the local sandbox starts in the caller's own process")
        try:
            return self.clients.client_for(target, settings_digest(os.environ), request)
        except Exception:  # the worker makes its own client and reports the failure
            return None

    def handed(self, prepared: Any) -> None:
        if isinstance(prepared, Lent):
            self.clients.handed(prepared)

    def run(self, request: dict[str, Any], prepared: Any, accept: Callable[[], None]) -> int:
        if isinstance(prepared, Lent):
            hand_over(prepared.client)
        install_termination_handlers()  # as the lambdash command has them, before any signal is passed on
        accept()
        terminal = Terminal.from_system()
        terminal.columns = int(request.get("columns") or 80)
        size = request.get("size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(each, int) and each > 0 for each in size):
            terminal.stdout_size = (size[0], size[1])
        return main([str(word) for word in request["argv"]], terminal)

    def tidy(self) -> bool:
        return self.clients.connect_one()

    def describe(self) -> list[dict[str, Any]]:
        return self.clients.describe()


def run(argv: list[str] | None = None) -> int:
    """The agent process: serve until idle; 1 when it cannot (another agent runs, its directory is not private)."""
    parser = argparse.ArgumentParser(prog="python -m lambdash.agent", description=__doc__)
    parser.add_argument("--idle", type=float, required=True, metavar="SECONDS", help="leave after this long idle")
    parser.add_argument("--directory", required=True, metavar="PATH", help="the agent's private directory")
    options = parser.parse_args(argv)
    try:
        directory = AgentDirectory.open(options.directory, create=True)
    except LambdashError as problem:
        print(f"lambdash agent: {problem.message}", file=sys.stderr)
        return 1
    if directory is None:
        return 1
    os.chdir("/")
    with directory:
        return Agent(directory, options.idle, OneShots()).serve()


if __name__ == "__main__":
    sys.exit(run())
