"""The one HTTP/1.x response-head parser the runtime loop and the HTTP check share."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdash_handler.http_head import (
    MAX_HEAD_BYTES,
    MalformedHead,
    NotHttp,
    ResponseHead,
    head_end,
    parse_head,
    read_head,
)


@pytest.mark.parametrize(("line", "status", "reason"), [
    (b"HTTP/1.1 200 OK", 200, "OK"),
    (b"HTTP/1.0 404 Not Found", 404, "Not Found"),
    (b"HTTP/1.1 202 Accepted, with words", 202, "Accepted, with words"),
    (b"HTTP/1.1 204", 204, ""),
    (b"HTTP/1.1 204 ", 204, ""),
    (b"HTTP/2 421 Misdirected Request", 421, "Misdirected Request"),
])
def test_the_status_line_gives_the_status_and_the_reason(line: bytes, status: int, reason: str) -> None:
    assert parse_head(line + b"\r\n\r\n") == ResponseHead(status, reason, {})


def test_field_names_are_lower_cased_and_values_trimmed() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nLambda-Runtime-Aws-Request-Id:abc\r\n"
                      b"X-Spaced-Name : value\r\nX-Empty:\r\n\r\n")
    assert head.headers == {"content-type": "text/plain", "lambda-runtime-aws-request-id": "abc",
                            "x-spaced-name": "value", "x-empty": ""}


def test_bare_lf_line_ends_read_as_crlf_ones() -> None:
    assert parse_head(b"HTTP/1.1 301 Moved\nLocation: /next\n\n") == ResponseHead(301, "Moved", {"location": "/next"})


def test_a_folded_line_continues_the_field_before_it_with_one_space() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nX-Long: first\r\n  second\r\n\tthird\r\nX-After: 1\r\n\r\n")
    assert head.headers == {"x-long": "first second third", "x-after": "1"}


def test_a_repeated_field_keeps_its_last_value() -> None:
    head = parse_head(b"HTTP/1.1 302 Found\r\nLocation: /first\r\nlocation: /second\r\n\r\n")
    assert head.headers["location"] == "/second"


def test_a_repeated_content_length_must_agree_with_itself() -> None:
    assert parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").headers == {
        "content-length": "5"}
    with pytest.raises(MalformedHead, match="the Content-Length is not one number: '6'"):
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")


@pytest.mark.parametrize("value", [b"-1", b"5, 5", b"0x10", b"\xb2", b""])
def test_a_content_length_that_is_not_a_number_is_refused(value: bytes) -> None:
    with pytest.raises(MalformedHead, match="the Content-Length is not one number"):
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\n")


def test_what_follows_the_blank_line_is_not_the_head() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nNot-A: field")
    assert head.headers == {"content-length": "11"}


def test_a_head_cut_short_by_the_connection_closing_is_read_as_far_as_it_goes() -> None:
    assert parse_head(b"HTTP/1.1 503 Busy\r\nRetry-After: 5") == ResponseHead(503, "Busy", {"retry-after": "5"})


@pytest.mark.parametrize(("data", "message"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "the server answered 'SSH-2.0-OpenSSH_9.6', not HTTP"),
    (b"", "the server answered '', not HTTP"),
    (b"\r\n\r\n", "the server answered '', not HTTP"),
    (b"HTTP/1.1 OK\r\n\r\n", "the server answered 'HTTP/1.1 OK', not HTTP"),
    (b"HTTP/1.1 20 OK\r\n\r\n", "the server answered 'HTTP/1.1 20 OK', not HTTP"),
    (b"http/1.1 200 OK\r\n\r\n", "the server answered 'http/1.1 200 OK', not HTTP"),
    (b"\x16\x03\x01\x02\x00" + b"x" * 100, "the server answered '\\x16\\x03\\x01\\x02\\x00" + "x" * 55 + "', not HTTP"),
])
def test_a_first_line_that_is_not_an_http_status_line_is_not_http(data: bytes, message: str) -> None:
    with pytest.raises(NotHttp) as raised:
        parse_head(data)
    assert str(raised.value) == message


@pytest.mark.parametrize(("data", "message"), [
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "a header line is not 'name: value': 'no colon here'"),
    (b"HTTP/1.1 200 OK\r\n: no name\r\n\r\n", "a header line is not 'name: value': ': no name'"),
    (b"HTTP/1.1 200 OK\r\n folded: first\r\n\r\n", "the head's first field line is folded: ' folded: first'"),
])
def test_a_field_line_that_is_not_a_field_is_malformed(data: bytes, message: str) -> None:
    with pytest.raises(MalformedHead) as raised:
        parse_head(data)
    assert str(raised.value) == message
    assert not isinstance(raised.value, NotHttp)


def padded_head(size: int) -> bytes:
    """A well-formed head of exactly ``size`` bytes, its blank line included."""
    start, end = b"HTTP/1.1 200 OK\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"p" * (size - len(start) - len(end)) + end


def test_a_head_may_take_up_to_its_bound_and_not_a_byte_more() -> None:
    assert parse_head(padded_head(MAX_HEAD_BYTES)).status == 200
    with pytest.raises(MalformedHead, match=f"the response head runs past {MAX_HEAD_BYTES} bytes"):
        parse_head(padded_head(MAX_HEAD_BYTES + 1))
    # A head that has not ended by then is refused as well, whatever may follow.
    with pytest.raises(MalformedHead, match="runs past"):
        parse_head(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * MAX_HEAD_BYTES)


def test_head_end_finds_the_blank_line() -> None:
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n") == -1
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody") == len(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n")
    assert head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody") == len(b"HTTP/1.1 200 OK\nA: b\n\n")
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\nbody") == len(b"HTTP/1.1 200 OK\r\nA: b\r\n\n")


def test_read_head_stops_at_the_blank_line_and_leaves_the_body_to_read() -> None:
    reader = io.BufferedReader(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"))
    head = read_head(reader.readline)
    assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    assert parse_head(head).headers == {"content-length": "4"}
    assert reader.read() == b"body"


def test_read_head_gives_nothing_when_the_connection_closed_first_and_what_came_when_it_closed_later() -> None:
    assert read_head(io.BytesIO(b"").readline) == b""
    assert read_head(io.BytesIO(b"HTTP/1.1 200 OK\r\nA: b").readline) == b"HTTP/1.1 200 OK\r\nA: b"


def test_read_head_reads_no_further_than_its_bound() -> None:
    source = io.BytesIO(padded_head(MAX_HEAD_BYTES + 1) + b"the body")
    with pytest.raises(MalformedHead, match="runs past"):
        read_head(source.readline)
    assert source.tell() == MAX_HEAD_BYTES + 1
    endless_line = io.BytesIO(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * (10 * MAX_HEAD_BYTES))
    with pytest.raises(MalformedHead, match="runs past"):
        read_head(endless_line.readline)
    assert endless_line.tell() == MAX_HEAD_BYTES + 1
    assert read_head(io.BytesIO(padded_head(MAX_HEAD_BYTES) + b"body").readline) == padded_head(MAX_HEAD_BYTES)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_malformed_never_another_error(data: bytes) -> None:
    try:
        head = parse_head(data)
    except MalformedHead:
        return
    assert 0 <= head.status <= 999
    assert all(name == name.lower() and name for name in head.headers)


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                          st.from_regex(r"[!-~]([ -~]{0,30}[!-~])?", fullmatch=True)), max_size=8))
def test_fields_written_out_are_read_back(fields: list[tuple[str, str]]) -> None:
    fields = [(name, value) for name, value in fields if name.lower() != "content-length"]
    data = b"HTTP/1.1 200 OK\r\n" + b"".join(f"{name}: {value}\r\n".encode() for name, value in fields) + b"\r\n"
    assert parse_head(data).headers == {name.lower(): value for name, value in fields}
