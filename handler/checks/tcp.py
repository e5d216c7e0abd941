"""The TCP check (``HOST:PORT``), and the name lookup and connect the other checks build on."""

from __future__ import annotations

import socket
import time
from typing import Any

from ..contract.checks import Check
from .verdict import Failure, Progress, remaining, report

HINT_REFUSED = "the host answered, and nothing listens on that port (or a firewall on it rejects the connection)"
HINT_TIMED_OUT = ("no answer: a security group or network ACL drops it, or there is no route "
                  "(a function in a VPC reaches the internet only through a NAT gateway)")
HINT_UNREACHABLE = "no route from this sandbox to that address (check the subnets' route tables)"
HINT_NOT_RESOLVED = ("the name does not resolve here: check its spelling, the VPC's DNS settings "
                     "(enableDnsSupport), or the private hosted zone it lives in")


def resolve(host: str, port: int, progress: Progress) -> list[tuple[Any, ...]]:
    """The addresses to connect to for ``host``, as the system resolver gives them; Failure when there are none."""
    progress.phase = "resolving the name"
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as problem:
        raise Failure("name not resolved", f"{host}: {problem.strerror}", HINT_NOT_RESOLVED) from None


def connect(addresses: list[tuple[Any, ...]], deadline: float, progress: Progress) -> socket.socket:
    """A connected socket to the first address that answers; Failure for the last one's failure."""
    failure: Failure | None = None
    for family, kind, protocol, _, address in addresses:
        progress.phase = f"connecting to {address[0]}"
        sock = socket.socket(family, kind, protocol)
        sock.settimeout(remaining(deadline))
        try:
            sock.connect(address)
            return sock
        except TimeoutError:
            sock.close()
            raise Failure("timed out", f"no answer from {address[0]} port {address[1]}", HINT_TIMED_OUT) from None
        except ConnectionRefusedError:
            failure = Failure("refused", f"{address[0]} port {address[1]} refused the connection", HINT_REFUSED)
        except OSError as problem:
            failure = Failure("unreachable", f"{address[0]}: {problem.strerror or problem}", HINT_UNREACHABLE)
        sock.close()
        if time.monotonic() >= deadline:
            break
    assert failure is not None
    raise failure


def check_tcp(check: Check, deadline: float, progress: Progress) -> dict[str, Any]:
    """Connect to HOST:PORT: open, refused, timed out, unreachable or name not resolved."""
    started = time.monotonic()
    try:
        addresses = resolve(check.host, check.port, progress)
        resolved = time.monotonic()
        sock = connect(addresses, deadline, progress)
    except Failure as failure:
        return report(check, False, failure.verdict, time.monotonic() - started, failure.detail, failure.hint)
    connected = time.monotonic()
    peer = sock.getpeername()[0]
    sock.close()
    return report(check, True, "open", connected - resolved, f"connected to {peer} port {check.port}",
                  address=peer, resolve_seconds=round(resolved - started, 4))
