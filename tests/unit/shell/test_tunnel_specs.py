"""The tunnel grammar (ssh -L's and -D's) and the SOCKS5 request reader, from the bytes a client sends."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdash.errors import UsageError
from lambdash.shell.tunnel import Forward, SocksRefused, describe, parse_forward, parse_listen, socks_request


@pytest.mark.parametrize(("spec", "expected"), [
    ("5432:db.internal:5432", Forward("127.0.0.1", 5432, "db.internal", 5432)),
    ("0.0.0.0:8080:10.0.1.20:80", Forward("0.0.0.0", 8080, "10.0.1.20", 80)),
    ("*:8080:web:80", Forward("0.0.0.0", 8080, "web", 80)),
    (":8080:web:80", Forward("0.0.0.0", 8080, "web", 80)),
    ("localhost:8080:web:80", Forward("localhost", 8080, "web", 80)),
    ("8080:[fd00::5]:443", Forward("127.0.0.1", 8080, "fd00::5", 443)),
    ("[::1]:8080:[fd00::5]:443", Forward("::1", 8080, "fd00::5", 443)),
])
def test_forwards_read_as_ssh_reads_them(spec: str, expected: Forward) -> None:
    assert parse_forward(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("8080", "bad forward '8080' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("8080:host", "bad forward '8080:host' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("1:host:2:3", "bad forward '1:host:2:3' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("0:host:80", "bad port '0' in '0:host:80' (a number from 1 to 65535)"),
    ("80:host:99999", "bad port '99999' in '80:host:99999' (a number from 1 to 65535)"),
    ("80:fd00::5:443", "bad forward '80:fd00::5:443' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("80::443", "bad forward '80::443' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("²:h:80", "bad forward '²:h:80' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)"),
    ("80:h:٣", "bad port '٣' in '80:h:٣' (a number from 1 to 65535)"),
])
def test_a_bad_forward_says_what_was_expected(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_forward(spec)
    assert raised.value.message == message


hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)
ports = st.integers(1, 65535)


@given(bind=st.sampled_from(["127.0.0.1", "0.0.0.0", "10.1.2.3"]), port=ports, host=hosts, remote_port=ports)
def test_every_written_forward_reads_back(bind: str, port: int, host: str, remote_port: int) -> None:
    assert parse_forward(f"{bind}:{port}:{host}:{remote_port}") == Forward(bind, port, host, remote_port)
    assert parse_forward(f"{port}:{host}:{remote_port}") == Forward("127.0.0.1", port, host, remote_port)


@given(port=ports, host=st.ip_addresses(v=6).map(str), remote_port=ports)
def test_bracketed_ipv6_destinations_read_back(port: int, host: str, remote_port: int) -> None:
    assert parse_forward(f"{port}:[{host}]:{remote_port}").remote == f"[{host}]:{remote_port}"


@pytest.mark.parametrize(("spec", "expected"), [
    ("1080", Forward("127.0.0.1", 1080)),
    ("0.0.0.0:1080", Forward("0.0.0.0", 1080)),
    ("*:1080", Forward("0.0.0.0", 1080)),
    ("[::1]:1080", Forward("::1", 1080)),
])
def test_socks_addresses_read_as_ssh_dash_d(spec: str, expected: Forward) -> None:
    listen = parse_listen(spec)
    assert listen == expected
    assert listen.socks


@pytest.mark.parametrize("spec", ["[::1", "[::1]1080", "host:", "70000", "a:b:c", "²"])
def test_a_bad_socks_address_is_one_usage_line(spec: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_listen(spec)
    assert raised.value.message.startswith(("bad listening address ", "bad port "))


def test_ipv6_addresses_are_said_in_brackets() -> None:
    assert describe(parse_forward("[::1]:8080:[fd00::5]:443"), 8080) == (
        "forwarding [::1]:8080 to [fd00::5]:443 from the function")
    assert describe(parse_listen("[::1]:1080"), 1080) == "SOCKS5 on [::1]:1080, connecting from the function"


def test_only_a_listener_beyond_loopback_is_warned_about() -> None:
    assert parse_forward("5432:db:5432").exposure_warning() is None
    assert parse_forward("localhost:5432:db:5432").exposure_warning() is None
    assert parse_forward("0.0.0.0:5432:db:5432").exposure_warning() == (
        "listening on 0.0.0.0, beyond loopback: anyone who can reach port 5432 reaches db:5432 through the function")
    assert parse_listen("*:1080").exposure_warning() == (
        "listening on 0.0.0.0, beyond loopback: anyone who can reach port 1080 reaches whatever the function can reach")


def _request(sent: bytes) -> tuple[tuple[str, int] | SocksRefused, bytes]:
    """What socks_request makes of a client's bytes, and what it answered."""
    ours, client = socket.socketpair()
    with ours, client:
        client.sendall(sent)
        client.shutdown(socket.SHUT_WR)
        try:
            outcome: tuple[str, int] | SocksRefused = socks_request(ours)
        except SocksRefused as refused:
            outcome = refused
        ours.shutdown(socket.SHUT_WR)
        return outcome, client.recv(100)


GREETING = bytes([5, 1, 0])  # SOCKS5, one method: no authentication


def test_a_name_is_left_for_the_sandbox_to_resolve() -> None:
    name = b"db.internal.example"
    outcome, answered = _request(GREETING + bytes([5, 1, 0, 3, len(name)]) + name + (5432).to_bytes(2, "big"))
    assert outcome == ("db.internal.example", 5432)
    assert answered == bytes([5, 0])


def test_ipv4_and_ipv6_destinations() -> None:
    outcome, _ = _request(GREETING + bytes([5, 1, 0, 1, 10, 0, 1, 20, 0, 80]))
    assert outcome == ("10.0.1.20", 80)
    outcome, _ = _request(GREETING + bytes([5, 1, 0, 4]) + socket.inet_pton(socket.AF_INET6, "fd00::5") + b"\x01\xbb")
    assert outcome == ("fd00::5", 443)


@pytest.mark.parametrize(("sent", "code", "answered"), [
    (GREETING + bytes([5, 2, 0, 1, 10, 0, 0, 1, 0, 80]), 7, bytes([5, 0])),  # BIND: not supported
    (GREETING + bytes([5, 1, 0, 9]), 8, bytes([5, 0])),  # an address type SOCKS5 has not
    (GREETING + bytes([5, 1, 0, 3, 2]) + "é".encode() + b"\x00\x50", 4, bytes([5, 0])),  # not ASCII
    (bytes([5, 1, 2]), None, bytes([5, 0xFF])),  # only username/password offered: no acceptable method
    (bytes([4, 1, 0]), None, b""),  # SOCKS4
    (GREETING + bytes([5, 1]), None, bytes([5, 0])),  # cut short
])
def test_requests_it_refuses(sent: bytes, code: int | None, answered: bytes) -> None:
    outcome, reply = _request(sent)
    assert isinstance(outcome, SocksRefused)
    assert outcome.code == code
    assert reply == answered
