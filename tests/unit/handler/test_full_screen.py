"""Spotting a full-screen program in its stdout: which bytes may be shown, and where it is stopped."""

from __future__ import annotations

import pytest

from lambdash_handler.full_screen import FullScreenWatch


def shown_of(*chunks: bytes) -> tuple[bytes, str | None]:
    """What of ``chunks``, fed in order, may be shown once they are all in (more may follow), and why it stops."""
    watch = FullScreenWatch()
    stream = b"".join(chunks)
    shown = 0
    for chunk in chunks:
        shown = watch.feed(chunk)
    return stream[:shown], watch.stopped


def test_plain_output_is_shown_as_it_comes() -> None:
    assert shown_of(b"hello\n", b"\x1b[1mbold\x1b[0m\n") == (b"hello\n\x1b[1mbold\x1b[0m\n", None)


@pytest.mark.parametrize(("sequence", "why"), [
    (b"\x1b[?1049h", "it switched to the terminal's alternate screen (ESC[?1049h)"),
    (b"\x1b[?47h", "it switched to the terminal's alternate screen (ESC[?47h)"),
    (b"\x1b[?1047h", "it switched to the terminal's alternate screen (ESC[?1047h)"),
    (b"\x1b[18t", "it asked the terminal for its size (ESC[18t)"),
    (b"\x1b[6n", "it asked the terminal where the cursor is (ESC[6n)"),
    (b"\x1b[?1000h", "it asked the terminal to report the mouse (ESC[?1000h)"),
])
def test_output_ends_where_a_full_screen_sequence_begins(sequence: bytes, why: str) -> None:
    assert shown_of(b"before", sequence + b"drawn", b"more") == (b"before", why)


def test_a_sequence_split_across_writes_is_still_seen() -> None:
    assert shown_of(b"before\x1b[?10", b"49hdrawn") == (b"before", "it switched to the terminal's alternate "
                                                                  "screen (ESC[?1049h)")


def test_what_may_begin_a_sequence_waits_for_the_next_bytes_and_then_goes_out() -> None:
    assert shown_of(b"abc\x1b[?10") == (b"abc", None)
    assert shown_of(b"abc\x1b[?10", b"l and on") == (b"abc\x1b[?10l and on", None)


def test_the_same_bytes_as_text_are_not_a_sequence() -> None:
    # What `printf '\033[?1049h' | od -c` writes.
    assert shown_of(b"0000000 033   [   ?   1   0   4   9   h\n") == (b"0000000 033   [   ?   1   0   4   9   h\n",
                                                                     None)
