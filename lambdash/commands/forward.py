"""``lambdash forward [BIND:]LPORT:HOST:PORT...``: local ports carried to HOST:PORT from the sandbox (ssh -L)."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from lambdash.commands.options import add_common_options, add_target_options, seconds, target_of
from lambdash.errors import LambdashError, UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.shell.remote import RemoteShell
    from lambdash.shell.tunnel import Forward

DESCRIPTION = """\
Listen on local ports and carry each connection to HOST:PORT from inside the sandbox, byte
for byte both ways (with half-close), as `ssh -L` does. Each connection is a session of its
own, so it lasts at most the function's timeout; the next connection opens a new one.
HOST:PORT is probed from the sandbox first. Ctrl-C ends the tunnel and every connection."""

EPILOG = """\
forwards:
  LPORT:HOST:PORT               listen on 127.0.0.1:LPORT
  BIND:LPORT:HOST:PORT          listen on BIND:LPORT (beyond loopback, anyone who can reach
                                it reaches HOST:PORT through your function)

exit status: 130 on Ctrl-C; 255 when lambdash failed (HOST:PORT not reachable from the function).

examples:
  lambdash forward 5432:db.internal:5432
  lambdash -f my-twin forward 8080:10.0.1.20:80 8443:10.0.1.20:443
"""


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


def parse_port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {text!r} in {spec!r} (a number from 1 to 65535)")
    return int(text)


def split_host(text: str) -> tuple[str, str]:
    """``HOST:REST`` or ``[V6]:REST``: (HOST, REST)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(text)
        return host, rest[1:]
    host, colon, rest = text.partition(":")
    if not colon:
        raise ValueError(text)
    return host, rest


def parse_forward(spec: str) -> Forward:
    """``[BIND:]LPORT:HOST:PORT`` as ssh -L reads it; a one-line UsageError otherwise."""
    from lambdash.shell.tunnel import Forward

    bad = UsageError(f"bad forward {spec!r} (expected [BIND:]LPORT:HOST:PORT, as ssh -L)")
    bind = "127.0.0.1"
    rest = spec
    try:
        first, after = split_host(rest)
        if not first.isdigit() or spec.startswith("["):
            bind, rest = first, after
        port_text, rest = rest.split(":", 1)
        bracketed = rest.startswith("[")
        host, remote_text = split_host(rest) if bracketed else rest.rsplit(":", 1)
    except ValueError:
        raise bad from None
    if not host or not bind or ":" in remote_text or (":" in host and not bracketed):
        raise bad
    if bind in ("*", ""):
        bind = "0.0.0.0"
    return Forward(bind=bind, port=parse_port(port_text, spec), host=host, remote_port=parse_port(remote_text, spec))


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Carry connections until Ctrl-C."""
    from lambdash.local.http import is_loopback_address
    from lambdash.shell.targets import open_shell
    from lambdash.shell.tunnel import Tunnel, session_maker

    forwards = [parse_forward(spec) for spec in args.forwards]
    target = target_of(args, terminal)
    timeout = getattr(args, "timeout", None)
    with open_shell(target) as shell:
        if not getattr(args, "no_probe", False):
            check_routes(shell, [forward.remote for forward in forwards])
        tunnel = Tunnel(shell, session_maker(shell, target, timeout), terminal.notice)
        try:
            listeners = [(forward, tunnel.listen(forward)) for forward in forwards]
            for forward, listener in listeners:
                if not is_loopback_address(forward.bind) and forward.bind != "localhost":
                    terminal.warning(f"listening on {forward.bind}, beyond loopback: anyone who can reach port "
                                     f"{forward.port} reaches {forward.remote} through the function")
                terminal.notice(f"forwarding {forward.bind}:{listener.getsockname()[1]} to {forward.remote} "
                                f"from the function (Ctrl-C ends it)")
                threading.Thread(target=tunnel.serve, args=(forward, listener), daemon=True).start()
            threading.Event().wait()
        finally:
            tunnel.close()
    return 0


def check_routes(shell: RemoteShell, remotes: list[str]) -> None:
    """Probe each HOST:PORT from the sandbox; the first one not reachable raises with the probe's hint."""
    document = shell.probe(sorted(set(remotes)))
    for check in document["checks"]:
        if not check["ok"]:
            hint = f" (hint: {check['hint']})" if check.get("hint") else ""
            raise LambdashError(f"{check['check']} is not reachable from the function: {check['verdict']}, "
                                f"{check['detail']}{hint}")
