"""Documentation is tested: every subcommand, option and meta-command is in --help and in the README."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from lambdash.cli import SUBCOMMANDS, build_main_parser, build_subparser, command_module
from lambdash.repl.meta_commands import META_COMMANDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
AVAILABLE = [name for name in SUBCOMMANDS if importlib.util.find_spec(f"lambdash.commands.{name}") is not None]


def long_options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({option for action in parser._actions for option in action.option_strings
                   if option.startswith("--") and action.help != argparse.SUPPRESS})


def options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    """Options shown in --help with no text saying what they do (hidden ones are hidden on purpose)."""
    return sorted(action.option_strings[0] for action in parser._actions
                  if action.option_strings and not (action.help or "").strip())


def test_an_option_without_help_text_is_caught() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documented", help="what it does")
    parser.add_argument("--bare")
    assert options_without_help(parser) == ["--bare"]


def test_every_subcommand_is_in_the_main_help_and_the_readme() -> None:
    help_text = build_main_parser().format_help()
    for name in SUBCOMMANDS:
        assert f"  {name} " in help_text
        assert f"`lambdash {name}" in README or f"lambdash {name}" in README, name


def test_every_main_option_has_help() -> None:
    assert options_without_help(build_main_parser()) == []


@pytest.mark.parametrize("option", long_options(build_main_parser()))
def test_every_main_option_is_in_the_readme(option: str) -> None:
    assert f"`{option}" in README or f"{option} " in README, option


@pytest.mark.parametrize("name", AVAILABLE)
def test_every_subcommand_option_has_help_and_is_in_the_readme(name: str) -> None:
    parser = build_subparser(name, command_module(name))
    help_text = parser.format_help()
    assert options_without_help(parser) == []
    for option in long_options(parser):
        assert option in help_text
        assert option in README, f"{option} of `lambdash {name}` is missing from the README"


@pytest.mark.parametrize("name", sorted(META_COMMANDS))
def test_every_meta_command_is_a_row_of_the_readmes_table(name: str) -> None:
    usage = META_COMMANDS[name].usage.replace("|", "\\|")
    assert f"\n| `{usage}` | " in README, f"{META_COMMANDS[name].usage} is not in the README's meta-command table"
