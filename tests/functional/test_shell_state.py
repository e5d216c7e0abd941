"""The shell state read back from real shells: every byte of a value, in dash's and bash's quoting.

Functional: each test starts the shells the handler starts (sh, bash, bash in POSIX
mode) and reads their ``export -p`` as the handler does; then the handler is called
directly to see what a command that cannot report its state answers.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lambdash_handler.shell_state import parse_exports
from tests.functional.test_handler import command, run, stream_bytes

# Values that need every kind of quoting: quotes, backslashes, $, newlines, control bytes, non-UTF-8 bytes.
VALUES = {
    "PLAIN": "value",
    "EMPTY": "",
    "QUOTES": "it's \"quoted\" `tick` $dollar \\back\\slash",
    "LINES": "one\ntwo\n\nthree\n",
    "CONTROL": "a\x01b\x1bc\x7fd\te",
    "BYTES": "caf\udce9 \udcff",
    "UNICODE": "café ☕ \U0001F600",
    "LOOKS_LIKE_EXPORT": "x\nexport EVIL='1'\ndeclare -x WORSE=2",
    "SPACES": "  lead and trail  ",
    "EQUALS": "a=b=c",
}
SHELLS = [["dash", "-c"], ["bash", "-c"], ["bash", "--posix", "-c"]]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda argv: " ".join(argv[:-1]))
def test_export_p_of_every_shell_reads_back_byte_for_byte(shell: list[str]) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    environ: dict[str, bytes] = {name: value.encode("utf-8", "surrogateescape") for name, value in VALUES.items()}
    environ["PATH"] = b"/usr/bin:/bin"
    listed = subprocess.run([*shell, "export UNSET_BUT_EXPORTED; export -p"], env=environ,
                            capture_output=True, check=True)
    variables = parse_exports(listed.stdout)
    assert {name: variables[name] for name in VALUES} == VALUES
    assert "EVIL" not in variables
    assert "WORSE" not in variables
    assert "UNSET_BUT_EXPORTED" not in variables


def test_a_listing_that_is_not_export_p_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected"):
        parse_exports(b"hello world\n")
    with pytest.raises(ValueError, match="unterminated"):
        parse_exports(b"export A='open\n")


def test_a_shell_replaced_by_exec_reports_no_state_and_says_why() -> None:
    response = run(command("exec true", capture_state=True, env={"KEPT": "1"}))
    assert response["ok"] is True
    assert response["state"] is None
    assert response["state_error"].startswith("the shell did not report its cwd and environment")


def test_a_captured_state_needs_no_program_to_dump_it() -> None:
    # No PATH at all: no program could be started to dump the environment, and none is needed.
    response = run(command("cd /; export A=1; PATH=/nowhere", capture_state=True))
    assert response["state"]["cwd"] == "/"
    assert response["state"]["env"]["A"] == "1"
    assert response["state"]["env"]["PATH"] == "/nowhere"


def test_a_carried_variable_too_big_for_execve_reaches_the_shell_but_no_program() -> None:
    big = "a" * 200_000
    response = run(command('printf "%s|" "${#BIG}"; env | grep -c "^BIG=" || true', capture_state=True,
                           env={"BIG": big}))
    assert response["ok"] is True, response
    assert stream_bytes(response["stdout"]) == b"200000|0\n"
    assert response["state"]["env"]["BIG"] == big  # still carried
    assert "warnings" not in response  # it was not exported by this command
