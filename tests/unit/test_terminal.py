"""What a remote command is told of the terminal its output is shown on, when the size comes from the environment."""

from __future__ import annotations

import io

import pytest

from lambdash.terminal import OutputTerminal, Terminal


def facts(told: OutputTerminal | None) -> tuple[int, int, str | None]:
    assert told is not None
    return told.columns, told.lines, told.term


def shown_on_a_terminal() -> Terminal:
    """A terminal whose stdout has no descriptor to ask its size (as the agent's relayed stdout)."""
    return Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO(), stdout_isatty=True)


def test_the_environments_size_is_taken_when_stdout_cannot_say() -> None:
    told = shown_on_a_terminal().output_terminal({"COLUMNS": "132", "LINES": "50", "TERM": "xterm"})
    assert facts(told) == (132, 50, "xterm")


@pytest.mark.parametrize("value", ["²", "٣", "-5", "0", "wide", ""])  # ² and ٣ are digits to str.isdigit
def test_a_size_that_is_no_plain_number_falls_back_to_80_by_24(value: str) -> None:
    told = shown_on_a_terminal().output_terminal({"COLUMNS": value, "LINES": value, "TERM": "xterm"})
    assert facts(told) == (80, 24, "xterm")


def test_the_callers_size_handed_over_by_the_agent_wins_over_the_environment() -> None:
    terminal = shown_on_a_terminal()
    terminal.stdout_size = (97, 31)
    assert facts(terminal.output_terminal({"COLUMNS": "132", "LINES": "50"})) == (97, 31, None)
