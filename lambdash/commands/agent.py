"""``lambdash agent [status|start|stop]``: the background agent that makes one-shots fast.

The agent itself is ``lambdash.agent``; this command only asks it (status, stop)
or starts it ahead of the first one-shot (start).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from lambdash.commands.options import add_common_options
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.terminal import Terminal

# How long `start` waits for the new agent to answer, and `stop` for the old one to go.
START_SECONDS = 60.0
STOP_SECONDS = 15.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The agent keeps Python, boto3 and a warm Lambda client per target loaded in the background,\n"
        "so one-shots (`lambdash COMMAND...`) start at REPL speed, as ssh's ControlPersist does.\n"
        "It is on with LAMBDASH_AGENT=SECONDS (or `agent = SECONDS` in the config file): the first\n"
        "one-shot starts it, later ones hand their request to it over a private Unix socket, and it\n"
        "leaves after SECONDS idle. `--no-agent` runs one command without it.\n\n"
        "  status   whether it runs: pid, idle timeout, socket, the targets it keeps warm, requests\n"
        "           served (exit status 1 when none runs)\n"
        "  start    start it now, in the background (idle timeout: --idle, else the setting)\n"
        "  stop     stop it; commands it is running finish"
    )
    parser.add_argument("action", nargs="?", choices=("status", "start", "stop"), default="status",
                        help="status (the default), start or stop")
    parser.add_argument("--idle", type=idle_seconds, metavar="SECONDS", default=None,
                        help="start: leave after this long idle (default: LAMBDASH_AGENT, or the config file's agent)")
    add_common_options(parser, suppress=True)


def idle_seconds(text: str) -> float:
    """argparse's type for an idle timeout: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    if args.action == "start":
        return start(args, terminal)
    if args.action == "stop":
        return stop(terminal)
    return status(args, terminal)


def status(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.agent.client import control, remove_stale_socket
    from lambdash.agent.directory import SOCKET_NAME
    from lambdash.paths import agent_dir

    answer = control("status")
    if answer is None:
        stale = remove_stale_socket()
        if args.json:
            terminal.write_json({"running": False, "removed_stale_socket": stale})
        else:
            if stale:
                terminal.notice(f"removed the socket {stale} of an agent that is gone")
            terminal.write_lines([f"no agent is running (its socket would be {agent_dir()}/{SOCKET_NAME})"])
        return ExitStatus.NO
    if args.json:
        terminal.write_json({"running": True, **answer})
    else:
        terminal.write_lines(render_status(answer))
    return ExitStatus.OK


def render_status(answer: dict[str, Any]) -> list[str]:
    """The agent's status for people."""
    idle = "busy" if answer["in_progress"] else f"idle for {answer['idle_for']:g} s"
    lines = [
        f"agent running, pid {answer['pid']}, up {answer['uptime']:g} s",
        f"  socket        {answer['socket']}",
        f"  idle timeout  {answer['idle_timeout']:g} s ({idle})",
        f"  requests      {answer['served']} served, {answer['in_progress']} in progress",
        f"  warm targets  {len(answer['warm']) or 'none yet'}",
    ]
    lines += [f"    {warm['target']}  settings {warm['settings']}  {warm['requests']} requests"
              for warm in answer["warm"]]
    return lines


def start(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.agent import client
    from lambdash.agent.directory import LOG_NAME, AgentDirectory
    from lambdash.config import agent_seconds
    from lambdash.paths import agent_dir

    running = client.control("status")
    if running is not None:
        terminal.notice(f"the agent is running already (pid {running['pid']})")
        return ExitStatus.OK
    seconds = args.idle or agent_seconds()
    if seconds is None:
        raise UsageError("no idle timeout for the agent: pass --idle SECONDS, or set LAMBDASH_AGENT "
                         "(or agent in the config file)")
    directory = AgentDirectory.open(agent_dir(), create=True)  # refused here, with its reason, if not private
    if directory is not None:
        directory.close()
    client.start(seconds)
    deadline = time.monotonic() + START_SECONDS
    while (running := client.control("status")) is None:
        if time.monotonic() > deadline:
            raise LambdashError(f"the agent did not start within {START_SECONDS:g} s; "
                                f"see its log {agent_dir()}/{LOG_NAME}")
        time.sleep(0.05)
    terminal.notice(f"started the agent (pid {running['pid']}, idle timeout {running['idle_timeout']:g} s)")
    return ExitStatus.OK


def stop(terminal: Terminal) -> int:
    from lambdash.agent.client import control

    answer = control("stop")
    if answer is None:
        terminal.notice("no agent is running")
        return ExitStatus.OK
    deadline = time.monotonic() + STOP_SECONDS
    while control("status") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    terminal.notice(f"stopped the agent (pid {answer['stopping']})")
    return ExitStatus.OK
