"""``lambdash forward [BIND:]LPORT:HOST:PORT...``: local ports carried to HOST:PORT from the sandbox (ssh -L)."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from lambdash.commands.options import add_common_options, add_target_options, seconds, target_of
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.shell.tunnel import Forward

DESCRIPTION = """\
Listen on local ports and carry each connection to HOST:PORT from inside the sandbox, byte
for byte both ways (the client's half-close included), as `ssh -L` does. Each connection is a session of its
own, so it lasts at most the function's timeout; the next connection opens a new one.
HOST:PORT is probed from the sandbox first. Ctrl-C (or SIGTERM, or a closed terminal) ends
the tunnel and every connection."""

EPILOG = """\
forwards:
  LPORT:HOST:PORT               listen on 127.0.0.1:LPORT
  BIND:LPORT:HOST:PORT          listen on BIND:LPORT (beyond loopback, anyone who can reach
                                it reaches HOST:PORT through your function)

exit status: 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP; 255 when lambdash failed (HOST:PORT
not reachable from the function).

examples:
  lambdash forward 5432:db.internal:5432
  lambdash -f my-twin forward 8080:10.0.1.20:80 8443:10.0.1.20:443
"""

# How soon Ctrl-C, SIGTERM or SIGHUP is acted on.
SIGNAL_CHECK_SECONDS = 0.25


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("forwards", nargs="+", metavar="[BIND:]LPORT:HOST:PORT",
                        help="a local port and where its connections go (repeatable)")
    parser.add_argument("--no-probe", action="store_true", default=argparse.SUPPRESS,
                        help="do not check that HOST:PORT is reachable from the function first")
    parser.add_argument("--timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="how long each connection may last (default: the function's timeout)")
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Carry connections until Ctrl-C."""
    from lambdash.shell.tunnel import parse_forward

    forwards = [parse_forward(spec) for spec in args.forwards]
    return carry(args, terminal, forwards, probe=not getattr(args, "no_probe", False))


def carry(args: argparse.Namespace, terminal: Terminal, forwards: list[Forward], *, probe: bool) -> int:
    """Listen for each forward and carry its connections until a signal ends it all (``forward``, ``socks``)."""
    from lambdash.shell.targets import open_shell
    from lambdash.shell.tunnel import Tunnel, check_routes, describe, session_maker

    target = target_of(args, terminal)
    with open_shell(target) as shell:
        if probe:
            check_routes(shell, [forward.remote for forward in forwards])
        tunnel = Tunnel(shell, session_maker(shell, target, getattr(args, "timeout", None)), terminal.notice)
        try:
            for forward in forwards:
                port = tunnel.start(forward)
                warning = forward.exposure_warning()
                if warning:
                    terminal.warning(warning)
                terminal.notice(f"{describe(forward, port)} (Ctrl-C ends it)")
            # Woken often: Python runs a signal's handler here only once this thread wakes, and the
            # kernel may hand the signal to a connection's thread.
            while True:
                time.sleep(SIGNAL_CHECK_SECONDS)
        finally:
            tunnel.close()
    return 0
