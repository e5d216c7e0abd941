"""The REPL's carried state survives a sandbox that cannot spool and an environment no program can take.

The REPL is driven as a person types (prompt_toolkit's pipe input) on a local
Lambda of the module's own: the shell reports its cwd and environment through a
pipe, with builtins only, so a full temp dir or a variable too big for execve
loses nothing; when the state cannot be read back, the last good one is kept
and a one-line notice says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdash.config import Target
from lambdash.shell.remote import RemoteShell
from lambdash.shell.targets import open_shell
from tests.functional.test_repl import lines, repl

LOCAL = Target(local=True)


@pytest.fixture(scope="module")
def shell() -> Iterator[RemoteShell]:
    with open_shell(LOCAL) as remote:
        yield remote


def test_a_full_temp_dir_still_carries_cd(shell: RemoteShell) -> None:
    run = repl(shell, lines(
        "cd /tmp",
        "dd if=/dev/zero of=$TMPDIR/fill bs=1M count=600 2>/dev/null; echo filled",
        "cd /",
        "pwd",
        "rm -f $TMPDIR/fill; pwd",
    ))
    assert "cwd must be a non-empty path" not in run.err
    assert run.out == "filled\n/\n/\n"


@pytest.mark.parametrize("stream_output", [True, False], ids=["streamed", "buffered"])
def test_a_variable_too_big_for_the_environment_is_carried_and_the_rest_survives(shell: RemoteShell,
                                                                                 stream_output: bool) -> None:
    run = repl(shell, stream_output=stream_output, keys=lines(
        "echo $PATH > /dev/null; export BIG=$(head -c 200000 /dev/zero | tr '\\0' a) SMALL=kept",
        "echo $BIG | wc -c",
        "echo \"$SMALL|$AWS_REGION|${PATH:+path}|$AWS_LAMBDA_FUNCTION_NAME\"",
        "env | grep -c '^BIG=' || true",
        "unset BIG; echo ${BIG:-gone}; env | wc -l >/dev/null && echo runs",
    ))
    region = shell.run("printf %s \"$AWS_REGION|$AWS_LAMBDA_FUNCTION_NAME\"").stdout.read("stdout").decode()
    assert run.out.splitlines() == ["200001", f"kept|{region.split('|')[0]}|path|{region.split('|')[1]}", "0",
                                    "gone", "runs"]
    assert "BIG is 200000 bytes" in run.err


def test_a_state_that_cannot_be_read_back_keeps_the_last_good_one_with_a_notice(shell: RemoteShell) -> None:
    run = repl(shell, lines("cd /tmp && export KEPT=yes", "exec true", "pwd; echo $KEPT"))
    assert run.out == "/tmp\nyes\n"
    assert ("lambdash: the shell did not report its cwd and environment (did the command exec, or end its shell?); "
            "keeping the last cwd and environment\n") in run.err
