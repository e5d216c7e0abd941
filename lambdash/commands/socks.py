"""``lambdash socks [BIND:]PORT``: a SOCKS5 proxy whose connections leave from inside the sandbox (ssh -D)."""

from __future__ import annotations

import argparse
import threading

from lambdash.commands.forward import parse_port
from lambdash.commands.options import add_common_options, add_target_options, seconds, target_of
from lambdash.errors import UsageError
from lambdash.terminal import Terminal

DESCRIPTION = """\
A SOCKS5 proxy on a local port whose connections are made from inside the sandbox, as
`ssh -D` does: no authentication, CONNECT only, names resolved by the sandbox. Each
connection is a session of its own, so it lasts at most the function's timeout. Ctrl-C
ends the proxy and every connection."""

EPILOG = """\
exit status: 130 on Ctrl-C; 255 when lambdash failed.

examples:
  lambdash socks 1080
  curl --socks5-hostname 127.0.0.1:1080 http://internal.example/health
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("listen", metavar="[BIND:]PORT", help="where the proxy listens (BIND defaults to 127.0.0.1)")
    parser.add_argument("--timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="how long each connection may last (default: the function's timeout)")
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Serve SOCKS5 clients until Ctrl-C."""
    from lambdash.commands.forward import split_host
    from lambdash.local.http import is_loopback_address
    from lambdash.shell.targets import open_shell
    from lambdash.shell.tunnel import Forward, Tunnel, session_maker

    spec = args.listen
    bind, port_text = "127.0.0.1", spec
    if ":" in spec:
        try:
            bind, port_text = split_host(spec)
        except ValueError:
            raise UsageError(f"bad listening address {spec!r} (expected [BIND:]PORT)") from None
    if bind in ("*", ""):
        bind = "0.0.0.0"
    port = parse_port(port_text, spec)
    target = target_of(args, terminal)
    with open_shell(target) as shell:
        tunnel = Tunnel(shell, session_maker(shell, target, getattr(args, "timeout", None)), terminal.notice)
        try:
            listener = tunnel.listen(Forward(bind=bind, port=port, host="", remote_port=0))
            if not is_loopback_address(bind) and bind != "localhost":
                terminal.warning(f"listening on {bind}, beyond loopback: anyone who can reach port {port} "
                                 "reaches the function's network through it")
            terminal.notice(f"SOCKS5 on {bind}:{listener.getsockname()[1]}, connecting from the function "
                            "(Ctrl-C ends it)")
            threading.Thread(target=tunnel.serve, args=(None, listener), daemon=True).start()
            threading.Event().wait()
        finally:
            tunnel.close()
    return 0
