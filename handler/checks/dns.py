"""The DNS check (``dns:NAME[@SERVER[:PORT]]``): a query of its own over UDP, and its own small codec.

``getaddrinfo`` cannot tell NXDOMAIN from SERVFAIL from a timeout, and the runtimes
have no ``dig``, so the check asks the server itself, A and AAAA at once.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from ..contract.checks import Check
from .tcp import HINT_UNREACHABLE
from .verdict import Progress, remaining, report

RESOLV_CONF = "/etc/resolv.conf"

HINT_NXDOMAIN = "the server says the name does not exist: check its spelling and the zone it belongs to"
HINT_SERVFAIL = "the server failed to answer for the name: its zone or an upstream server is broken"
HINT_DNS_TIMEOUT = "no DNS answer: the server is unreachable from here (in a VPC, the resolver is at VPC base + 2)"

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def dns_query(name: str, record_type: int, query_id: int) -> bytes:
    """A standard recursive query for ``name``."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode("idna") for label in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack("!HH", record_type, 1)


@dataclass
class DnsAnswer:
    query_id: int
    rcode: int
    truncated: bool
    addresses: list[str]
    cnames: list[str]


def parse_dns_response(data: bytes) -> DnsAnswer:
    """The rcode, addresses and aliases in a DNS response; ValueError when it is malformed."""
    if len(data) < 12:
        raise ValueError("a DNS response shorter than its header")
    query_id, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", data[:12])
    if not flags & 0x8000:
        raise ValueError("not a DNS response")
    offset = 12
    for _ in range(questions):
        _, offset = _read_name(data, offset)
        offset += 4
    addresses: list[str] = []
    cnames: list[str] = []
    for _ in range(answers):
        _, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise ValueError("a DNS answer cut short")
        record_type, _, _, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if len(rdata) != length:
            raise ValueError("a DNS answer cut short")
        if record_type == 1 and length == 4:
            addresses.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif record_type == 28 and length == 16:
            addresses.append(socket.inet_ntop(socket.AF_INET6, rdata))
        elif record_type == 5:
            cnames.append(_read_name(data, offset)[0])
        offset += length
    return DnsAnswer(query_id, flags & 0x000F, bool(flags & 0x0200), addresses, cnames)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at ``offset``, and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # bounds a loop of pointers
        if offset >= len(data):
            raise ValueError("a DNS name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise ValueError("a DNS name runs past the message")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise ValueError("a DNS name with too many labels or pointers")


def resolvers(path: str = RESOLV_CONF) -> list[str]:
    """The nameservers in resolv.conf, in order (glibc's default, 127.0.0.1, when there are none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as conf:
            servers = [line.split()[1] for line in conf if line.split()[:1] == ["nameserver"] and len(line.split()) > 1]
    except OSError:
        servers = []
    return servers or ["127.0.0.1"]


def check_dns(check: Check, deadline: float, progress: Progress) -> dict[str, Any]:
    """Ask the check's server, or the resolvers of resolv.conf in turn until one answers, for the name."""
    servers = [check.server] if check.server else resolvers()
    started = time.monotonic()
    last: dict[str, Any] | None = None
    for index, server in enumerate(servers):
        # Each server gets an equal share of what time is left, as a stub resolver would try them in turn.
        share = remaining(deadline) / (len(servers) - index)
        last = _ask(check, server, time.monotonic() + share, progress, started)
        if last["verdict"] not in ("timed out", "unreachable"):
            return last
    assert last is not None
    return last


def _ask(check: Check, server: str, deadline: float, progress: Progress, started: float) -> dict[str, Any]:
    """Ask ``server`` for the name's A and AAAA records at once; the check's report."""
    progress.phase = f"asking {server}"
    where = f"{server} port {check.port}" if check.port != 53 else server
    try:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as problem:
        return report(check, False, "unreachable", None, f"{where}: {problem.strerror}", HINT_UNREACHABLE,
                      server=server)
    with sock:
        try:
            answers = _exchange(sock, check, server, deadline)
        except OSError as problem:  # no route, or ICMP port unreachable: nothing listens there
            return _dns_failure(check, where, server, problem, time.monotonic() - started)
    return _answered(check, where, server, answers, time.monotonic() - started)


def _exchange(sock: socket.socket, check: Check, server: str, deadline: float) -> dict[int, DnsAnswer]:
    """Send both queries and collect the answers that come back by ``deadline``, by query id.

    OSError when the server cannot be reached; fewer answers (or none) when it does not answer in time.
    """
    ids = {secrets.randbelow(65536): record_type for record_type in (1, 28)}
    while len(ids) < 2:
        ids[secrets.randbelow(65536)] = 28
    sock.connect((server, check.port))  # answers from anywhere else are dropped by the kernel
    for query_id, record_type in ids.items():
        sock.send(dns_query(check.host, record_type, query_id))
    answers: dict[int, DnsAnswer] = {}
    while len(answers) < len(ids):
        sock.settimeout(remaining(deadline))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            break
        try:
            answer = parse_dns_response(data)
        except ValueError:
            continue
        if answer.query_id in ids:
            answers[answer.query_id] = answer
        if answers and any(answer.rcode != 0 for answer in answers.values()):
            break  # NXDOMAIN or SERVFAIL for one type is the verdict; no need to wait for the other
    return answers


def _answered(check: Check, where: str, server: str, answers: dict[int, DnsAnswer], elapsed: float) -> dict[str, Any]:
    """The report on what ``server`` answered (nothing, an error rcode, no address, or addresses)."""
    if not answers:
        return report(check, False, "timed out", elapsed, f"no answer from {where}", HINT_DNS_TIMEOUT,
                      server=server)
    failed = next((answer for answer in answers.values() if answer.rcode != 0), None)
    addresses = [address for answer in answers.values() for address in answer.addresses]
    cnames = sorted({name for answer in answers.values() for name in answer.cnames})
    rcode = failed.rcode if failed else 0
    facts: dict[str, Any] = {"server": server, "port": check.port, "addresses": addresses, "cnames": cnames,
                             "rcode": RCODES.get(rcode, str(rcode))}
    if failed is not None:
        verdict = RCODES.get(failed.rcode, f"rcode {failed.rcode}")
        hint = {3: HINT_NXDOMAIN, 2: HINT_SERVFAIL}.get(failed.rcode, "the server would not answer for the name")
        return report(check, False, verdict, elapsed, f"{where} answered {verdict} for {check.host}", hint, **facts)
    if not addresses:
        return report(check, False, "no address", elapsed, f"{where} knows {check.host} but has no A or AAAA "
                      "record for it", "the name exists without an address: check its records", **facts)
    alias = f" (via {', '.join(cnames)})" if cnames else ""
    return report(check, True, "resolved", elapsed, f"{', '.join(addresses)} from {where}{alias}", **facts)


def _dns_failure(check: Check, where: str, server: str, problem: OSError, elapsed: float) -> dict[str, Any]:
    if isinstance(problem, ConnectionRefusedError):
        return report(check, False, "refused", elapsed, f"{where} refused the query (nothing serves DNS there)",
                      "no DNS server listens there: check the server's address and port", server=server)
    return report(check, False, "unreachable", elapsed, f"{where}: {problem.strerror or problem}", HINT_UNREACHABLE,
                  server=server)
