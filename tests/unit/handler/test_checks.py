"""The probe's parsing: checks as typed, DNS responses as received, certificates as DER."""

from __future__ import annotations

import datetime
import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdash_handler.checks.dns import dns_query, parse_dns_response, resolvers
from lambdash_handler.checks.x509 import parse_certificate
from lambdash_handler.contract.checks import BadCheck, Check, parse_check


@pytest.mark.parametrize(("text", "check"), [
    ("db.internal:5432", Check("db.internal:5432", "tcp", host="db.internal", port=5432)),
    ("[::1]:443", Check("[::1]:443", "tcp", host="::1", port=443)),
    ("dns:example.com", Check("dns:example.com", "dns", host="example.com", port=53)),
    ("dns:example.com.@10.0.0.2", Check("dns:example.com.@10.0.0.2", "dns", host="example.com", port=53,
                                        server="10.0.0.2")),
    ("dns:a.b@127.0.0.1:5353", Check("dns:a.b@127.0.0.1:5353", "dns", host="a.b", port=5353, server="127.0.0.1")),
    ("dns:a.b@[::1]:5353", Check("dns:a.b@[::1]:5353", "dns", host="a.b", port=5353, server="::1")),
    ("dns:a.b@fd00::2", Check("dns:a.b@fd00::2", "dns", host="a.b", port=53, server="fd00::2")),
    ("https://example.com/x?y=1", Check("https://example.com/x?y=1", "http", url="https://example.com/x?y=1")),
    ("aws:secretsmanager", Check("aws:secretsmanager", "aws", service="secretsmanager")),
])
def test_checks_parse(text: str, check: Check) -> None:
    assert parse_check(text) == check


@pytest.mark.parametrize("text", ["", " db:1", "db", "db:", ":80", "db:0", "db:65536", "db:http", "dns:",
                                  "dns:a..b", "dns:" + "a" * 64 + ".com", "http://", "https://:80/",
                                  "http://h:99999/", "aws:", "aws:S3", "[::1]", "[::1]x:80"])
def test_bad_checks_say_what_is_wrong(text: str) -> None:
    with pytest.raises(BadCheck, match=r"^'.*' (is not a check|has a bad port|names no host|does not name)"):
        parse_check(text)


def answer(query_id: int, flags: int, records: list[bytes], question: bytes) -> bytes:
    return struct.pack("!HHHHHH", query_id, flags, 1, len(records), 0, 0) + question + b"".join(records)


def test_a_response_with_a_compressed_cname_and_addresses_parses() -> None:
    query = dns_query("www.example.com", 1, 7)
    question = query[12:]
    cname_target = b"\x03cdn\xc0\x10"  # cdn + pointer to "example.com" in the question
    records = [
        struct.pack("!HHHIH", 0xC00C, 5, 1, 60, len(cname_target)) + cname_target,
        struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([10, 0, 0, 1]),
        struct.pack("!HHHIH", 0xC00C, 28, 1, 60, 16) + ipaddress.ip_address("fd00::1").packed,
    ]
    parsed = parse_dns_response(answer(7, 0x8180, records, question))
    assert (parsed.query_id, parsed.rcode, parsed.truncated) == (7, 0, False)
    assert parsed.addresses == ["10.0.0.1", "fd00::1"]
    assert parsed.cnames == ["cdn.example.com"]


def test_rcodes_and_the_truncation_bit_are_read() -> None:
    question = dns_query("gone.example", 1, 9)[12:]
    assert parse_dns_response(answer(9, 0x8183, [], question)).rcode == 3
    assert parse_dns_response(answer(9, 0x8382, [], question)).truncated


def test_a_pointer_loop_is_refused_not_followed_forever() -> None:
    looping = struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(ValueError, match="too many labels or pointers"):
        parse_dns_response(looping)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_value_error(data: bytes) -> None:
    try:
        parse_dns_response(data)
    except ValueError:
        pass


def test_resolvers_are_read_in_order_with_glibcs_default(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch ec2.internal\nnameserver 169.254.78.1\nnameserver 10.0.0.2\noptions ndots:1\n")
    assert resolvers(str(conf)) == ["169.254.78.1", "10.0.0.2"]
    conf.write_text("search x\n")
    assert resolvers(str(conf)) == ["127.0.0.1"]
    assert resolvers(str(tmp_path / "missing")) == ["127.0.0.1"]


def test_a_certificate_is_read_from_its_der() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zürich Örg"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example CA")])
    not_after = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(12345).not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.example.com"),
                                                    x509.IPAddress(ipaddress.ip_address("fd00::7"))]), False)
        .sign(key, hashes.SHA256())
    )
    facts = parse_certificate(certificate.public_bytes(serialization.Encoding.DER),
                              now=datetime.datetime(2027, 2, 1, 12, 0, tzinfo=datetime.UTC))
    assert facts == {
        "subject": "CN=api.example.com, O=Zürich Örg, C=DE",
        "issuer": "CN=Example CA",
        "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2027-03-01T12:00:00+00:00",
        "days_left": 28,
        "names": ["api.example.com", "fd00::7"],
    }
