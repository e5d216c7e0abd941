"""Subject, issuer, expiry and names of an X.509 certificate, read from its DER.

The ``ssl`` module describes a peer's certificate only once it has been verified;
the HTTP check also describes the one that failed, so it reads the DER itself.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

_NAME_ATTRIBUTES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                    "2.5.4.11": "OU", "1.2.840.113549.1.9.1": "emailAddress"}
_SUBJECT_ALT_NAME = "2.5.29.17"


def _der(data: bytes, offset: int) -> tuple[int, int, int]:
    """The tag at ``offset``, and where its content starts and ends."""
    if offset + 2 > len(data):
        raise ValueError("DER cut short")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("DER cut short")
    return tag, offset, offset + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        tag, content, after = _der(data, start)
        items.append((tag, content, after))
        start = after
    return items


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40] if raw else []
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _text(tag: int, raw: bytes) -> str:
    if tag == 0x1E:
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:
        return raw.decode("utf-32-be", "replace")
    return raw.decode("utf-8" if tag == 0x0C else "latin-1", "replace")


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, pair_start, pair_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (value_tag, value_start, value_end) = _children(data, pair_start, pair_end)[:2]
            oid = _oid(data[oid_start:oid_end])
            parts.append(f"{_NAME_ATTRIBUTES.get(oid, oid)}={_text(value_tag, data[value_start:value_end])}")
    return ", ".join(reversed(parts)) if parts else "(empty)"


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_certificate(der: bytes, now: datetime | None = None) -> dict[str, Any]:
    """Subject, issuer, expiry and names of an X.509 certificate, read from its DER."""
    _, cert_start, cert_end = _der(der, 0)
    _, tbs_start, tbs_end = _children(der, cert_start, cert_end)[0]
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # the explicit version
        fields = fields[1:]
    issuer, validity, subject = fields[2], fields[3], fields[4]
    (before_tag, before_start, before_end), (after_tag, after_start, after_end) = _children(
        der, validity[1], validity[2])[:2]
    not_after = _time(after_tag, der[after_start:after_end])
    names: list[str] = []
    for tag, start, _ in fields[6:]:
        if tag != 0xA3:
            continue
        _, list_start, list_end = _der(der, start)
        for _, ext_start, ext_end in _children(der, list_start, list_end):
            parts = _children(der, ext_start, ext_end)
            if _oid(der[parts[0][1]:parts[0][2]]) != _SUBJECT_ALT_NAME:
                continue
            _, value_start, _ = parts[-1]
            _, names_start, names_end = _der(der, value_start)
            for name_tag, name_start, name_end in _children(der, names_start, names_end):
                raw = der[name_start:name_end]
                if name_tag == 0x82:
                    names.append(raw.decode("ascii", "replace"))
                elif name_tag == 0x87 and len(raw) in (4, 16):
                    names.append(str(ipaddress.ip_address(raw)))
    now = now or datetime.now(UTC)
    return {
        "subject": _name(der, subject[1], subject[2]),
        "issuer": _name(der, issuer[1], issuer[2]),
        "not_before": _time(before_tag, der[before_start:before_end]).isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "names": names,
    }
