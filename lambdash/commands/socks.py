"""``lambdash socks [BIND:]PORT``: a SOCKS5 proxy whose connections leave from inside the sandbox (ssh -D)."""

from __future__ import annotations

import argparse

from lambdash.commands.forward import carry
from lambdash.commands.options import add_common_options, add_target_options, seconds
from lambdash.terminal import Terminal

DESCRIPTION = """\
A SOCKS5 proxy on a local port whose connections are made from inside the sandbox, as
`ssh -D` does: no authentication, CONNECT only, names resolved by the sandbox. Each
connection is a session of its own, so it lasts at most the function's timeout. Ctrl-C
(or SIGTERM, or a closed terminal) ends the proxy and every connection."""

EPILOG = """\
exit status: 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP; 255 when lambdash failed.

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
    from lambdash.shell.tunnel import parse_listen

    return carry(args, terminal, [parse_listen(args.listen)], probe=False)
