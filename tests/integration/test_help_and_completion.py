"""`lambdash help` and `lambdash completion`: the grammar shown by the installed command.

The completion test loads the generated bash script into a real bash and asks it
what it completes, as bash's programmable completion does on Tab.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_lambdash


def test_help_prints_the_main_help_here() -> None:
    done = run_lambdash("help")
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == run_lambdash("--help").stdout


def test_help_of_a_subcommand_is_its_own_help() -> None:
    done = run_lambdash("help", "deploy")
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == run_lambdash("deploy", "--help").stdout
    assert done.stdout.startswith(b"usage: lambdash deploy")


def test_help_of_an_unknown_subcommand_is_one_line() -> None:
    done = run_lambdash("help", "nosuch")
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr == (b"lambdash: error: no subcommand 'nosuch': `lambdash help` lists them "
                           b"(`lambdash -- help` runs a remote help)\n")


def test_a_remote_help_is_still_reachable_after_a_double_dash() -> None:
    done = run_lambdash("--local", "--", "help", stdin=b"")
    # The local sandbox's /bin/sh has no `help`: what answers is the remote shell, not lambdash.
    assert done.returncode == 127
    assert b"help" in done.stderr
    assert b"not found" in done.stderr


def complete_in_bash(script: Path, *words: str) -> list[str]:
    """What bash offers on Tab after ``words`` (the last one being completed), with the generated script loaded."""
    program = f"""
source {script}
COMP_WORDS=({' '.join(f"'{word}'" for word in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
_shtab_lambdash
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    done = run_lambdash("completion", "bash")
    assert (done.returncode, done.stderr) == (0, b"")
    script = tmp_path_factory.mktemp("completion") / "lambdash"
    script.write_bytes(done.stdout)
    return script


def test_bash_completes_subcommands_from_the_grammar(bash_script: Path) -> None:
    assert complete_in_bash(bash_script, "lambdash", "inv") == ["inventory"]
    assert complete_in_bash(bash_script, "lambdash", "-f", "shell", "comp") == ["completion"]


def test_bash_completes_the_options_and_choices_of_a_subcommand(bash_script: Path) -> None:
    assert complete_in_bash(bash_script, "lambdash", "inventory", "--di") == ["--diff"]
    assert complete_in_bash(bash_script, "lambdash", "deploy", "--dry") == ["--dry-run"]
    assert complete_in_bash(bash_script, "lambdash", "deploy", "--arch", "") == ["arm64", "x86_64"]
    assert complete_in_bash(bash_script, "lambdash", "completion", "") == ["bash", "zsh", "fish"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_get_a_script_of_their_own(shell: str) -> None:
    done = run_lambdash("completion", shell)
    assert (done.returncode, done.stderr) == (0, b"")
    assert b"inventory" in done.stdout
    assert b"dry-run" in done.stdout
    if shutil.which(shell):
        checked = subprocess.run([shell, "-n"], input=done.stdout, capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stderr


def test_an_unknown_shell_is_one_line() -> None:
    done = run_lambdash("completion", "tcsh")
    assert done.returncode == 255
    assert done.stderr == (b"lambdash: error: argument SHELL: invalid choice: 'tcsh' (choose from 'bash', 'zsh', "
                           b"'fish') (see `lambdash completion --help`)\n")
