"""The grammar of network checks, as ``lambdash probe`` and the handler both read it.

A check is ``HOST:PORT``, ``dns:NAME[@SERVER[:PORT]]``, ``http(s)://URL`` or
``aws:SERVICE``. The client parses checks before it sends them, so a typo is
refused at once; the handler parses them again, since any Lambda client may call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

USAGE = "give HOST:PORT, dns:NAME[@SERVER[:PORT]], http://URL, https://URL or aws:SERVICE"


class BadCheck(ValueError):
    """A check that cannot be understood."""


@dataclass(frozen=True)
class Check:
    """One parsed check: ``kind`` is tcp, dns, http or aws."""

    text: str
    kind: str
    host: str = ""
    port: int = 0
    server: str | None = None
    url: str = ""
    service: str = ""


def parse_check(text: str) -> Check:
    """The check ``text`` describes; BadCheck saying what is wrong with it."""
    if not isinstance(text, str) or not text or text != text.strip():
        raise BadCheck(f"{text!r} is not a check: {USAGE}")
    lowered = text.lower()
    if lowered.startswith("dns:"):
        name, _, server = text[4:].partition("@")
        _valid_name(name, text)
        if server:
            host, port = _host_and_port(server, text, default_port=53)
            return Check(text, "dns", host=name.rstrip("."), port=port, server=host)
        return Check(text, "dns", host=name.rstrip("."), port=53)
    if lowered.startswith(("http://", "https://")):
        parts = urlsplit(text)
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise BadCheck(f"{text!r} has a bad port") from None
        if not parts.hostname:
            raise BadCheck(f"{text!r} names no host")
        return Check(text, "http", url=text)
    if lowered.startswith("aws:"):
        service = text[4:]
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", service):
            raise BadCheck(f"{text!r} is not a check: aws:SERVICE, as boto3 names it (aws:s3, aws:sts, aws:dynamodb)")
        return Check(text, "aws", service=service)
    host, port = _host_and_port(text, text, default_port=None)
    return Check(text, "tcp", host=host, port=port)


def _host_and_port(text: str, check: str, default_port: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise BadCheck(f"{check!r} is not a check: {USAGE}")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif default_port is not None and text.count(":") > 1:
        host, port_text = text, ""  # an IPv6 address, no port
    else:
        host, port_text = text, ""
    if not host:
        raise BadCheck(f"{check!r} is not a check: {USAGE}")
    if not port_text:
        if default_port is None:
            raise BadCheck(f"{check!r} is not a check: {USAGE}")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadCheck(f"{check!r} has a bad port: {port_text!r} (1-65535)")
    return host, int(port_text)


def _valid_name(name: str, check: str) -> None:
    labels = name.rstrip(".").split(".")
    if not name or len(name) > 253 or any(not label or len(label) > 63 for label in labels):
        raise BadCheck(f"{check!r} does not name a valid DNS name")
