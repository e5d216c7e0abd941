"""The agent's frames: cut whole however the bytes arrive, and nothing past the size limit."""

from __future__ import annotations

import pytest

from lambdash.agent.protocol import (
    EXIT,
    MAX_FRAME_BYTES,
    STDERR,
    STDOUT,
    WANT,
    FrameReader,
    ProtocolError,
    frame,
    number,
    number_frame,
)


def test_frames_come_out_whole_whatever_the_pieces() -> None:
    wire = frame(STDOUT, b"out\x00\xff") + frame(STDERR) + number_frame(WANT, 1 << 20) + number_frame(EXIT, 255)
    for size in (1, 2, 5, 7, len(wire)):
        reader = FrameReader()
        frames = [found for start in range(0, len(wire), size) for found in reader.feed(wire[start:start + size])]
        assert frames == [(STDOUT, b"out\x00\xff"), (STDERR, b""), (WANT, (1 << 20).to_bytes(4, "big")),
                          (EXIT, b"\x00\x00\x00\xff")]
        assert not reader.partial


def test_a_frame_cut_short_is_seen_as_partial() -> None:
    reader = FrameReader()
    assert reader.feed(frame(STDOUT, b"abcdef")[:-2]) == []
    assert reader.partial


def test_numbers_round_trip_and_a_bad_one_is_refused() -> None:
    assert number(number_frame(EXIT, 130)[5:]) == 130
    with pytest.raises(ProtocolError):
        number(b"\x01")


def test_a_frame_over_the_limit_is_refused_before_it_is_read() -> None:
    header = frame(STDOUT)[:1] + (MAX_FRAME_BYTES + 1).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="a frame of"):
        FrameReader().feed(header)
