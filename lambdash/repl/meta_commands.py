"""Meta-commands: REPL lines starting with ``:``, handled by the client, not the remote shell.

Each meta-command has a usage line, a one-line summary and a longer help text,
all shown by ``:help``, and names the kind of each argument so the completer
can complete it. A handler gets the running session and the words after the
name; it reports bad input by raising UsageError (one line, the loop goes on)
and ends the REPL by raising LeaveRepl.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdash.config import parse_seconds
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.repl.tunnels import parse_tunnel_arguments, started_line, stopped_line, table
from lambdash.shell.filecopy import RunCommand, get_file, get_tree, local_destination, put_file, put_tree
from lambdash.terminal import BOLD
from lambdash.text import is_decimal
from lambdash_handler.contract import MAX_PROBE_CHECKS

if TYPE_CHECKING:
    from lambdash.repl.session import ReplSession
    from lambdash.shell.tunnel import Forward

MetaHandler = Callable[["ReplSession", list[str]], None]
HISTORY_SHOWN_BY_DEFAULT = 20
# In :help's list, a longer usage has its summary on the next line.
HELP_USAGE_WIDTH = 24


class LeaveRepl(Exception):
    """Raised by ``:exit`` to end the REPL with a status."""

    def __init__(self, status: int = ExitStatus.OK) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class MetaCommand:
    """One meta-command: how it is called, what it does, and the kinds of its arguments."""

    name: str
    usage: str
    summary: str
    details: str
    handler: MetaHandler
    # One kind per argument position: remote_path, local_path, meta_name, or choice:a|b.
    arguments: tuple[str, ...] = ()
    min_arguments: int = 0
    max_arguments: int = 0
    # The rest of the line is one argument, as typed (a command for the remote shell to parse).
    raw: bool = False


def parse_meta_line(line: str) -> tuple[str, list[str]]:
    """Split ``:name args...`` into the name and its words (quotes work as in the shell)."""
    try:
        words = shlex.split(line.strip())
    except ValueError as problem:
        raise UsageError(f"cannot read the meta-command: {problem}") from None
    return words[0], words[1:]


def run_meta(session: ReplSession, line: str) -> None:
    """Run one meta-command line."""
    name, *rest = line.strip().split(None, 1)
    raw = META_COMMANDS.get(name)
    if raw is not None and raw.raw:
        if len(rest) < raw.min_arguments:
            raise UsageError(f"usage: {raw.usage}")
        raw.handler(session, rest)
        return
    name, arguments = parse_meta_line(line)
    command = META_COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown meta-command {name} (:help lists them)")
    if not command.min_arguments <= len(arguments) <= command.max_arguments:
        raise UsageError(f"usage: {command.usage}")
    command.handler(session, arguments)


def _say(session: ReplSession, text: str) -> None:
    """Meta-command output people read (help, listings) goes to stdout."""
    session.terminal.stdout.write(text.encode("utf-8", "surrogateescape") + b"\n")
    session.terminal.stdout.flush()


def _help(session: ReplSession, arguments: list[str]) -> None:
    terminal = session.terminal
    if arguments:
        name = arguments[0] if arguments[0].startswith(":") else ":" + arguments[0]
        command = META_COMMANDS.get(name)
        if command is None:
            raise UsageError(f"unknown meta-command {name} (:help lists them)")
        _say(session, f"{terminal.paint(command.usage, BOLD, stream='stdout')}\n  {command.summary}\n"
                      + "".join(f"  {line}\n" for line in command.details.splitlines()).rstrip("\n"))
        return
    width = max(len(command.usage) for command in META_COMMANDS.values() if len(command.usage) <= HELP_USAGE_WIDTH)
    lines = [f"  {command.usage:<{width}}  {command.summary}" if len(command.usage) <= width
             else f"  {command.usage}\n  {'':<{width}}  {command.summary}" for command in META_COMMANDS.values()]
    _say(session, "meta-commands (:help NAME for more):\n" + "\n".join(lines) + "\n" + KEYS_HELP)


def _exit(session: ReplSession, arguments: list[str]) -> None:
    raise LeaveRepl(ExitStatus.OK)


def _timeout(session: ReplSession, arguments: list[str]) -> None:
    if not arguments:
        shown = f"{session.timeout:g} s" if session.timeout is not None else "off (the function's own limit)"
        _say(session, f"timeout: {shown}")
        return
    if arguments[0] in ("off", "none"):
        session.timeout = None
        _say(session, "timeout: off (the function's own limit)")
        return
    try:
        session.timeout = parse_seconds(arguments[0])
    except ValueError as problem:
        raise UsageError(f":timeout {problem}") from None
    _say(session, f"timeout: {session.timeout:g} s")


def _env(session: ReplSession, arguments: list[str]) -> None:
    state = session.shell.snapshot()
    lines = [
        f"cwd: {state.cwd if state.cwd is not None else '(the sandbox default; no command has run yet)'}",
        f"shell: {session.shell.shell_name}",
        f"timeout: {f'{session.timeout:g} s' if session.timeout is not None else 'off'}",
        f"json: {'on' if session.json_output else 'off'}",
        f"stream: {'on' if session.stream_output else 'off'}",
        f"keep: {'on' if session.shell.keep_background else 'off'}",
    ]
    if state.env:
        lines.append("environment changes carried to every command:")
        for name, value in sorted(state.env.items()):
            lines.append(f"  unset {name}" if value is None else f"  {name}={shlex.quote(value)}")
    else:
        lines.append("environment changes carried to every command: none")
    _say(session, "\n".join(lines))


def _sandbox(session: ReplSession, arguments: list[str]) -> None:
    sandbox = session.probe_sandbox()
    if sandbox is None:
        raise LambdashError("the function did not describe its sandbox")
    _say(session, "\n".join([
        f"sandbox: {sandbox.id}",
        f"state: {'cold (this was its first invocation)' if sandbox.cold else 'warm'}",
        f"invocations: {sandbox.invocations}",
        f"uptime: {sandbox.uptime:.1f} s",
        f"pid: {sandbox.pid if sandbox.pid is not None else 'unknown'}",
        f"target: {session.target.label}",
    ]))


def _json(session: ReplSession, arguments: list[str]) -> None:
    if not arguments:
        _say(session, f"json: {'on' if session.json_output else 'off'}")
        return
    if arguments[0] not in ("on", "off"):
        raise UsageError("usage: :json on|off")
    session.json_output = arguments[0] == "on"
    _say(session, f"json: {arguments[0]}")


def _stream(session: ReplSession, arguments: list[str]) -> None:
    if not arguments:
        _say(session, f"stream: {'on' if session.stream_output else 'off'}")
        return
    if arguments[0] not in ("on", "off"):
        raise UsageError("usage: :stream on|off")
    session.stream_output = arguments[0] == "on"
    _say(session, f"stream: {arguments[0]}")


def _keep(session: ReplSession, arguments: list[str]) -> None:
    if not arguments:
        _say(session, f"keep: {'on' if session.shell.keep_background else 'off'}")
        return
    if arguments[0] not in ("on", "off"):
        raise UsageError("usage: :keep on|off")
    session.shell.keep_background = arguments[0] == "on"
    _say(session, f"keep: {arguments[0]}")


def _history(session: ReplSession, arguments: list[str]) -> None:
    count = HISTORY_SHOWN_BY_DEFAULT
    if arguments:
        if not is_decimal(arguments[0]) or int(arguments[0]) == 0:
            raise UsageError("usage: :history [N] (N a positive number of entries)")
        count = int(arguments[0])
    # prompt_toolkit keeps the newest entry last.
    entries = session.history_entries()
    first = max(len(entries) - count, 0)
    lines = []
    for number, entry in enumerate(entries[first:], start=first + 1):
        text = entry.replace("\n", "\n      ")
        lines.append(f"{number:>5} {text}")
    _say(session, "\n".join(lines) if lines else "(no history yet)")


def _less(session: ReplSession, arguments: list[str]) -> None:
    problem = session.printer.page()
    if problem:
        raise UsageError(problem)


def _inventory(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.reports.inventory import redaction_key, render_text

    key = redaction_key()
    inventory = session.call_remote(lambda: session.shell.remote.inventory(redact_key=key), label="inventory")
    if session.json_output:
        session.terminal.write_json(inventory)
        return
    session.terminal.stdout.write(render_text(inventory, color=session.terminal.color).encode("utf-8"))
    session.terminal.stdout.flush()


def _probe(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.reports.probe import render_table
    from lambdash_handler.contract.checks import BadCheck, parse_check

    for check in arguments:
        try:
            parse_check(check)
        except BadCheck as problem:
            raise UsageError(str(problem)) from None
    document = session.call_remote(lambda: session.shell.remote.probe(arguments), label="probe")
    if session.json_output:
        session.terminal.write_json(document)
        return
    session.terminal.stdout.write(render_table(document, color=session.terminal.color).encode("utf-8"))
    session.terminal.stdout.flush()


def _copy_options(arguments: list[str], usage: str) -> tuple[bool, bool, list[str]]:
    """-r and -p (also together, -rp, or spelled --recursive and --preserve) as scp takes them; the rest."""
    recursive = preserve = False
    rest: list[str] = []
    for word in arguments:
        if word in ("--recursive", "--preserve"):
            recursive, preserve = recursive or word == "--recursive", preserve or word == "--preserve"
        elif word.startswith("-") and len(word) > 1:
            for letter in word[1:]:
                if letter not in "rp":
                    raise UsageError(f"unknown option -{letter} (usage: {usage})")
            recursive, preserve = recursive or "r" in word, preserve or "p" in word
        else:
            rest.append(word)
    return recursive, preserve, rest


def _get(session: ReplSession, arguments: list[str]) -> None:
    recursive, preserve, paths = _copy_options(arguments, GET_USAGE)
    if not 1 <= len(paths) <= 2:
        raise UsageError(f"usage: {GET_USAGE}")
    remote = paths[0]
    local = local_destination(remote, paths[1] if len(paths) > 1 else None)
    progress = session.terminal.progress_bars()
    if recursive:
        files, size = get_tree(_remote_runner(session), remote, local, progress=progress, preserve=preserve)
        session.terminal.message(f"copied {files} files ({size} bytes) from {remote} to {local}")
        return
    size = get_file(_remote_runner(session), remote, local, progress=progress, preserve=preserve)
    session.terminal.message(f"copied {size} bytes from {remote} to {local}")


def _put(session: ReplSession, arguments: list[str]) -> None:
    recursive, preserve, paths = _copy_options(arguments, PUT_USAGE)
    if len(paths) != 2:
        raise UsageError(f"usage: {PUT_USAGE}")
    local = Path(paths[0]).expanduser()
    if recursive:
        files, size, written = put_tree(_remote_runner(session), local, paths[1], preserve=preserve)
        session.terminal.message(f"copied {files} files ({size} bytes) from {local} to {written}")
        return
    size, written = put_file(_remote_runner(session), local, paths[1], preserve=preserve)
    session.terminal.message(f"copied {size} bytes from {local} to {written}")


def _interactive(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.repl.interactive import run_interactive

    run_interactive(session, arguments[0], kind="input")


def _python(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.repl.interactive import python_console

    python_console(session)


GET_USAGE = ":get [-r] [-p] REMOTE [LOCAL]"
PUT_USAGE = ":put [-r] [-p] LOCAL REMOTE"
FORWARD_USAGE = ":forward [OPTIONS] [BIND:]LPORT:HOST:PORT..."
SOCKS_USAGE = ":socks [OPTIONS] [BIND:]PORT"


def _forward(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.shell.tunnel import check_routes, parse_forward

    request = parse_tunnel_arguments(arguments, FORWARD_USAGE, probe_option=True)
    forwards = [parse_forward(spec) for spec in request.specs]
    if request.probe:
        remote = session.shell.remote
        session.call_remote(lambda: check_routes(remote, [forward.remote for forward in forwards]),
                            label="route check")
    _start_tunnels(session, forwards, request.timeout)


def _socks(session: ReplSession, arguments: list[str]) -> None:
    from lambdash.shell.tunnel import parse_listen

    request = parse_tunnel_arguments(arguments, SOCKS_USAGE, probe_option=False)
    if len(request.specs) != 1:
        raise UsageError(f"usage: {SOCKS_USAGE} (one proxy a line)")
    _start_tunnels(session, [parse_listen(spec) for spec in request.specs], request.timeout)


def _start_tunnels(session: ReplSession, forwards: list[Forward], timeout: float | None) -> None:
    for running in session.tunnels.start(forwards, timeout):
        warning = running.forward.exposure_warning()
        if warning:
            session.terminal.warning(warning)
        session.notice(started_line(running))


def _tunnels(session: ReplSession, arguments: list[str]) -> None:
    if not arguments:
        _say(session, "\n".join(table(session.tunnels.running, time.monotonic())))
        return
    if arguments[0] != "stop" or len(arguments) != 2:
        raise UsageError("usage: :tunnels [stop N|all]")
    if arguments[1] == "all":
        stopped = session.tunnels.stop_all()
        if not stopped:
            raise UsageError("no tunnel is running")
    elif is_decimal(arguments[1]):
        stopped = [session.tunnels.stop(int(arguments[1]))]
    else:
        raise UsageError("usage: :tunnels [stop N|all] (N a tunnel's number, as :tunnels lists them)")
    for running in stopped:
        session.notice(stopped_line(running))


def _remote_runner(session: ReplSession) -> RunCommand:
    """Run through the session: with the carried cwd, audited, and abandoned on Ctrl-C."""
    return lambda command, stdin: session.call_remote_command(command, stdin=stdin)


KEYS_HELP = """
keys:
  Enter            run the line (a trailing \\ or an open quote continues it on the next line)
  Tab              complete commands, remote paths and meta-commands
  Right arrow      take the grey suggestion from history
  Ctrl-R           search the history (Enter runs the line found, Escape edits it)
  Ctrl-C           clear the line; while a command runs, stop waiting for it
  Ctrl-D           leave (on an empty line); `exit [N]` leaves with N or the last status
The cwd and environment changes are carried by lambdash and sent with every command,
so they hold whichever sandbox answers."""

_COMMANDS = [
    MetaCommand(":help", ":help [NAME]", "list the meta-commands and keys, or explain one",
                "With a name (:help get), shows that meta-command's help.", _help,
                arguments=("meta_name",), max_arguments=1),
    MetaCommand(":exit", ":exit", "leave the REPL (Ctrl-D does too; `exit [N]` as in a shell)",
                "Ends the REPL with status 0. `exit N` ends it with status N, and `exit` alone with\n"
                "the last command's status, as a shell does.", _exit),
    MetaCommand(":timeout", ":timeout [SECONDS|off]", "stop each command after this long",
                "A command that runs longer is killed and shows [timed out]; its partial output is printed.\n"
                "Without an argument, shows the current timeout. `off` leaves only the function's own limit.",
                _timeout, arguments=("choice:off",), max_arguments=1),
    MetaCommand(":env", ":env", "show the carried cwd and environment changes",
                "Every command runs with this cwd and these variables set or unset, relative to the\n"
                "sandbox's own environment. cd, export and unset change them.", _env),
    MetaCommand(":sandbox", ":sandbox", "show the sandbox answering now: id, uptime, invocations",
                "Sends an empty command and describes the sandbox that ran it. Lambda may route\n"
                "each command to a different sandbox; the carried state makes that invisible.", _sandbox),
    MetaCommand(":json", ":json [on|off]", "print each result as JSON, as --json does",
                "With json on, each command prints one JSON document (status, streams, request id,\n"
                "sandbox, timings) instead of its output.", _json,
                arguments=("choice:on|off",), max_arguments=1),
    MetaCommand(":stream", ":stream [on|off]", "show output as it is written (on) or when the command ends",
                "With stream on (the default), output is shown as the command writes it, through Lambda\n"
                "response streaming; off uses a buffered invoke, as --no-stream does.", _stream,
                arguments=("choice:on|off",), max_arguments=1),
    MetaCommand(":keep", ":keep [on|off]", "keep what commands leave running in the background",
                "With keep on, a background job (`sleep 60 &`) outlives its command: it stays in its\n"
                "sandbox, frozen between invocations as on Lambda, and the next command that lands\n"
                "there sees it. Its later output goes to the sandbox's log. Off (the default) kills it.",
                _keep, arguments=("choice:on|off",), max_arguments=1),
    MetaCommand(":history", ":history [N]", "show the last N commands (default 20)",
                "History is kept per target in the state directory (mode 0600). Ctrl-R searches it.",
                _history, max_arguments=1),
    MetaCommand(":less", ":less", "page the last command's output",
                "Pages stdout and then stderr of the last command with $PAGER (default: less -R).", _less),
    MetaCommand(":inventory", ":inventory", "take an inventory of the sandbox",
                "Shows the runtime, OS, limits, tools and environment (secrets redacted).", _inventory),
    MetaCommand(":probe", ":probe CHECK...", "check the network from inside the sandbox",
                "Checks run at once, each within 3 s: HOST:PORT (TCP), dns:NAME[@SERVER[:PORT]],\n"
                "http(s)://URL (status, redirects, timings, TLS certificate) and aws:SERVICE (the\n"
                "endpoint's reachability). `lambdash probe --help` explains each verdict.", _probe,
                min_arguments=1, max_arguments=MAX_PROBE_CHECKS),
    MetaCommand(":i", ":i COMMAND", "run COMMAND with what you type relayed to it while it runs",
                "A session: each line you type here goes to the command on Enter (with its own history),\n"
                "its output shows as it comes, and its unfinished last line starts yours. Ctrl-C sends\n"
                "SIGINT to the command, Ctrl-D sends EOF; the prompt comes back when it ends.", _interactive,
                min_arguments=1, max_arguments=1, raw=True),
    MetaCommand(":py", ":py", "open a Python console in the sandbox",
                "The interpreter keeps its state until Ctrl-D, which returns here. Lines are edited and\n"
                "highlighted here, with a history of their own; results print as Python prints them.\n"
                "In a twin made with `deploy --like --with-code`, the function's code is importable.",
                _python),
    MetaCommand(":forward", FORWARD_USAGE, "carry local ports to HOST:PORT from the sandbox, in the background",
                "As `lambdash forward` (ssh -L): listens on LPORT (on 127.0.0.1 unless BIND says otherwise)\n"
                "and carries each connection to HOST:PORT from inside the sandbox, while the prompt goes on.\n"
                "Each connection is a session of its own, lasting at most the function's timeout. :tunnels\n"
                "lists the tunnels and :tunnels stop N ends one; leaving the REPL ends them all.\n"
                "options:\n"
                "  --no-probe         do not check that HOST:PORT is reachable from the function first\n"
                "  --timeout SECONDS  how long each connection may last", _forward,
                min_arguments=1, max_arguments=64),
    MetaCommand(":socks", SOCKS_USAGE, "a SOCKS5 proxy whose connections leave from the sandbox, in the background",
                "As `lambdash socks` (ssh -D): CONNECT only, no authentication, names resolved by the\n"
                "sandbox (curl --socks5-hostname). Each connection is a session of its own. :tunnels lists\n"
                "it and :tunnels stop N ends it; leaving the REPL ends it.\n"
                "options:\n"
                "  --timeout SECONDS  how long each connection may last", _socks,
                min_arguments=1, max_arguments=3),
    MetaCommand(":tunnels", ":tunnels [stop N|all]", "list the background tunnels, or end one or all",
                "Lists each tunnel started by :forward or :socks: its number, where it listens, where its\n"
                "connections go, how many are open now and how many it has carried, and for how long.\n"
                "`:tunnels stop N` ends tunnel N and every connection it carries.", _tunnels,
                arguments=("choice:stop",), max_arguments=2),
    MetaCommand(":get", GET_USAGE, "copy a file, or with -r a directory, out of the sandbox",
                "REMOTE is relative to the carried cwd. LOCAL defaults to REMOTE's name in the local\n"
                "current directory; an existing directory gets the file under that name. As `lambdash get`:\n"
                "-r copies a directory and everything in it, -p keeps modes and modification times.", _get,
                arguments=("remote_path", "local_path"), min_arguments=1, max_arguments=4),
    MetaCommand(":put", PUT_USAGE, "copy a file, or with -r a directory, into the sandbox",
                "REMOTE is relative to the carried cwd; an existing directory gets the file under its\n"
                "own name. Files over 4.5 MB go through the spill bucket. As `lambdash put`: -r copies a\n"
                "directory and everything in it, -p keeps modes and modification times.", _put,
                arguments=("local_path", "remote_path"), min_arguments=2, max_arguments=4),
]
META_COMMANDS: dict[str, MetaCommand] = {command.name: command for command in _COMMANDS}
