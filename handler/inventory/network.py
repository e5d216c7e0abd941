"""The network inventory section: DNS settings, interfaces and local addresses, from /etc and /proc/net.

The runtimes have no ``ip`` or ``ifconfig``; the kernel's own tables say as much.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from .procfs import SourceUnavailable, read_text, with_errors


def probe_network(root: str) -> dict[str, Any]:
    """DNS settings, interfaces and local addresses, best effort from /proc and /etc."""
    errors: list[str] = []
    nameservers: list[str] = []
    search: list[str] = []
    try:
        resolv_conf = read_text(root, "/etc/resolv.conf")
    except SourceUnavailable as exc:
        errors.append(str(exc))
    else:
        for line in resolv_conf.splitlines():
            words = line.split()
            if not words:
                continue
            if words[0] == "nameserver" and len(words) > 1:
                nameservers.append(words[1])
            elif words[0] in ("search", "domain"):
                search = words[1:]  # the last search/domain line wins, as in resolv.conf(5)

    interfaces: list[str]
    try:
        interfaces = _interfaces_from_proc_net_dev(read_text(root, "/proc/net/dev"))
    except SourceUnavailable as exc:
        errors.append(str(exc))
        interfaces = _interfaces_from_if_nameindex()

    ipv4_addresses: list[str] = []
    try:
        ipv4_addresses = _local_ipv4_from_fib_trie(read_text(root, "/proc/net/fib_trie"))
    except SourceUnavailable:
        pass  # absent without IPv4 routing support; the other sources still describe it

    ipv6_addresses: dict[str, list[str]] = {}
    try:
        ipv6_addresses = _ipv6_from_if_inet6(read_text(root, "/proc/net/if_inet6"))
    except SourceUnavailable:
        pass  # absent when IPv6 is disabled, which is normal on Lambda

    return with_errors(
        {
            "hostname": socket.gethostname(),
            "nameservers": nameservers,
            "search": search,
            "interfaces": interfaces,
            "ipv4_addresses": ipv4_addresses,
            "ipv6_addresses": ipv6_addresses,
        },
        errors,
    )


def _interfaces_from_proc_net_dev(text: str) -> list[str]:
    # The first two lines are column headers; each other line is "  name: counters".
    return sorted(line.split(":", 1)[0].strip() for line in text.splitlines()[2:] if ":" in line)


def _interfaces_from_if_nameindex() -> list[str]:
    try:
        return sorted(name for _, name in socket.if_nameindex())
    except OSError:
        return []


def _local_ipv4_from_fib_trie(text: str) -> list[str]:
    """Local addresses: the leaves of /proc/net/fib_trie marked "/32 host LOCAL"."""
    addresses: set[str] = set()
    last_leaf: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last_leaf = stripped[3:].strip()
        elif last_leaf and stripped.startswith("/32") and stripped.endswith("host LOCAL"):
            addresses.add(last_leaf)
    return sorted(addresses, key=ipaddress.IPv4Address)


def _ipv6_from_if_inet6(text: str) -> dict[str, list[str]]:
    by_interface: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32:
            continue
        packed = bytes.fromhex(fields[0])
        address = socket.inet_ntop(socket.AF_INET6, packed)
        by_interface.setdefault(fields[5], []).append(address)
    return {name: sorted(addresses) for name, addresses in sorted(by_interface.items())}
