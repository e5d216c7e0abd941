"""The words a running agent is asked about, before any parser is built."""

from __future__ import annotations

import io

import pytest

from lambdash.cli import could_be_for_the_agent
from lambdash.terminal import Terminal


@pytest.mark.parametrize(("argv", "stdin_isatty", "asked"), [
    (["uname", "-a"], True, True),
    (["-f", "fn", "--region", "eu-west-1", "id"], True, True),
    (["run", "true"], True, True),
    (["--", "status"], True, True),
    ([], False, True),  # a script on stdin
    ([], True, False),  # the REPL
    (["repl"], True, False),
    (["agent", "status"], True, False),
    (["serve", "--port", "9001"], True, False),
    (["--version"], True, False),
    (["-h"], True, False),
    (["run", "--help"], True, False),
    (["--no-agent", "true"], True, False),
    (["--local", "true"], True, False),
    (["run", "--local", "true"], True, False),
])
def test_only_what_may_be_a_one_shot_goes_to_the_agent(argv: list[str], stdin_isatty: bool, asked: bool) -> None:
    terminal = Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO(), stdin_isatty=stdin_isatty)
    assert could_be_for_the_agent(argv, terminal) is asked
