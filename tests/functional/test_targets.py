"""One target resolution for every subcommand: flags, then environment, then the config file.

Each subcommand's own command line is parsed as ``lambdash`` parses it, and its
target is resolved the way that subcommand resolves it; the profile rules are
also checked end to end, by the one-line error each subcommand gives for a
profile that does not exist.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdash.cli import main, parse_arguments
from lambdash.commands.deployment_options import deployment_target
from lambdash.commands.options import target_of, targets_of
from lambdash.config import Target
from lambdash.terminal import Terminal
from tests.helpers import config_file

Resolve = Callable[[argparse.Namespace, Terminal], Target]


def one(args: argparse.Namespace, terminal: Terminal) -> Target:
    return target_of(args, terminal)


def first_of_many(args: argparse.Namespace, terminal: Terminal) -> Target:
    return targets_of(args, terminal)[0]


def deployment(args: argparse.Namespace, terminal: Terminal) -> Target:
    return deployment_target(args)


# Each subcommand: the words that run it with a function picked by the flag (FLAG stands for
# the flag's function name; None where it is picked by --name), and how it resolves its target.
SUBCOMMANDS: dict[str, tuple[list[str], Resolve]] = {
    "run": (["-f", "FLAG", "true"], one),
    "repl": (["repl", "-f", "FLAG"], one),
    "get": (["get", "-f", "FLAG", "/etc/hostname"], one),
    "put": (["put", "-f", "FLAG", "file", "/tmp/file"], one),
    "inventory": (["inventory", "-f", "FLAG"], first_of_many),
    "census": (["census", "-f", "FLAG", "true"], first_of_many),
    "deploy": (["deploy", "--name", "FLAG"], deployment),
    "status": (["status", "--name", "FLAG"], deployment),
    "destroy": (["destroy", "--name", "FLAG"], deployment),
}


def terminal() -> Terminal:
    return Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO(), stdin_isatty=True)


def resolve(subcommand: str, *extra: str, with_function_flag: bool = True) -> Target:
    words, how = SUBCOMMANDS[subcommand]
    if not with_function_flag:
        words = [word for index, word in enumerate(words)
                 if word != "FLAG" and not (index + 1 < len(words) and words[index + 1] == "FLAG")]
    argv = [*extra, *(word.replace("FLAG", "from-flag") for word in words)]
    args, _ = parse_arguments(argv, terminal())
    return how(args, terminal())


def write_config(home: Path, text: str) -> None:
    path = config_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_the_function_comes_from_the_flag_then_the_environment_then_the_file(
    subcommand: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'function = "from-file"\n')
    monkeypatch.setenv("LAMBDASH_FUNCTION", "from-env")
    assert resolve(subcommand).function == "from-flag"
    assert resolve(subcommand, with_function_flag=False).function == "from-env"
    monkeypatch.delenv("LAMBDASH_FUNCTION")
    assert resolve(subcommand, with_function_flag=False).function == "from-file"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_the_region_comes_from_the_flag_then_the_environment_then_the_file(
    subcommand: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'region = "ap-south-1"\n')
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve(subcommand, "--region", "us-west-2").region == "us-west-2"
    assert resolve(subcommand).region == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    assert resolve(subcommand).region == "eu-central-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert resolve(subcommand).region == "ap-south-1"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_the_profile_comes_from_the_flag_then_the_environment_then_the_file(
    subcommand: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'profile = "ops"\n')
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert resolve(subcommand, "--profile", "admin").profile == "admin"
    assert resolve(subcommand).profile == "dev"
    monkeypatch.delenv("AWS_PROFILE")
    assert resolve(subcommand).profile == "ops"


@pytest.mark.parametrize("subcommand", [name for name in SUBCOMMANDS if name not in ("deploy", "status", "destroy")])
def test_the_bucket_comes_from_the_flag_then_the_environment_then_the_file(
    subcommand: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'bucket = "file-bucket"\n')
    monkeypatch.setenv("LAMBDASH_BUCKET", "env-bucket")
    assert resolve(subcommand, "--bucket", "flag-bucket").bucket == "flag-bucket"
    assert resolve(subcommand).bucket == "env-bucket"
    monkeypatch.delenv("LAMBDASH_BUCKET")
    assert resolve(subcommand).bucket == "file-bucket"


# --- the profile, end to end: the one-line error names the profile each subcommand chose --------------------------

PROFILE_COMMANDS = {
    "run": ["-f", "shell", "--region", "eu-west-1", "true"],
    "repl": ["repl", "-f", "shell", "--region", "eu-west-1"],
    "get": ["get", "-f", "shell", "--region", "eu-west-1", "/etc/hostname"],
    "inventory": ["inventory", "-f", "shell", "--region", "eu-west-1"],
    "census": ["census", "-f", "shell", "--region", "eu-west-1", "true"],
    "deploy": ["deploy", "--region", "eu-west-1", "--dry-run"],
    "status": ["status", "--region", "eu-west-1"],
    "destroy": ["destroy", "--region", "eu-west-1", "--yes"],
}


def error_line(argv: list[str]) -> str:
    stderr = io.BytesIO()
    status = main(argv, Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=stderr, stdin_isatty=True))
    assert status == 255
    lines = stderr.getvalue().decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("subcommand", PROFILE_COMMANDS)
def test_each_subcommand_uses_the_environments_profile_before_the_files(
    subcommand: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'profile = "ops"\n')
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert error_line(PROFILE_COMMANDS[subcommand]).startswith("lambdash: error: AWS profile 'dev' not found in ")
    assert error_line(["--profile", "admin", *PROFILE_COMMANDS[subcommand]]).startswith(
        "lambdash: error: AWS profile 'admin' not found in ")
    monkeypatch.delenv("AWS_PROFILE")
    assert error_line(PROFILE_COMMANDS[subcommand]).startswith("lambdash: error: AWS profile 'ops' not found in ")
