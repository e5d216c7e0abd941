"""The line discipline the handler applies for a terminal Lambda cannot give: keys in, actions and echo out."""

from __future__ import annotations

import signal

from lambdash_handler.line_discipline import EndOfInput, Interrupt, Line, LineDiscipline


def test_a_line_goes_to_the_command_on_enter_with_its_carriage_return_made_a_newline() -> None:
    discipline = LineDiscipline()
    actions, echo = discipline.keys(b"echo hi")
    assert actions == []
    assert echo == b"echo hi"
    actions, echo = discipline.keys(b"\r")
    assert actions == [Line(b"echo hi\n")]
    assert echo == b"\r\n"


def test_backspace_kill_and_word_erase_edit_the_line_and_the_screen() -> None:
    discipline = LineDiscipline()
    _, echo = discipline.keys(b"abc\x7f")
    assert echo == b"abc\b \b"
    _, echo = discipline.keys("é\x7f".encode())  # a two-byte character goes in one stroke
    assert echo == "é".encode() + b"\b \b"
    discipline.keys(b" two words\x17")
    actions, _ = discipline.keys(b"\r")
    assert actions == [Line(b"ab two \n")]
    _, echo = discipline.keys(b"xyz\x15")
    assert echo == b"xyz" + b"\b \b" * 3
    assert discipline.keys(b"\r")[0] == [Line(b"\n")]


def test_ctrl_c_and_ctrl_backslash_are_signals_that_drop_the_line() -> None:
    discipline = LineDiscipline()
    actions, echo = discipline.keys(b"half a line\x03")
    assert actions == [Interrupt(signal.SIGINT)]
    assert echo.endswith(b"^C\r\n")
    assert discipline.keys(b"\x1c")[0] == [Interrupt(signal.SIGQUIT)]
    assert discipline.keys(b"\r")[0] == [Line(b"\n")]


def test_ctrl_d_ends_input_on_an_empty_line_and_sends_the_line_otherwise() -> None:
    discipline = LineDiscipline()
    assert discipline.keys(b"partial\x04")[0] == [Line(b"partial")]
    assert discipline.keys(b"\x04")[0] == [EndOfInput()]


def test_control_keys_are_echoed_as_caret_letters_and_output_newlines_get_carriage_returns() -> None:
    assert LineDiscipline().keys(b"\x1b[A")[1] == b"^[[A"
    assert LineDiscipline.output(b"one\ntwo\r\nthree") == b"one\r\ntwo\r\nthree"
