"""``lambdash completion bash|zsh|fish``: a shell completion script, generated from the grammar itself.

The script is shtab's rendering of the full parser (``Grammar.full_parser``: every
subcommand's options included), so it never drifts from what lambdash accepts.
"""

from __future__ import annotations

import argparse

from lambdash.commands.help import Grammar
from lambdash.errors import ExitStatus
from lambdash.terminal import Terminal

SHELLS = ("bash", "zsh", "fish")
INSTALL_EXAMPLES = """\
install it:
  bash: lambdash completion bash > ~/.local/share/bash-completion/completions/lambdash
  zsh:  lambdash completion zsh > ~/.zfunc/_lambdash   (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)
  fish: lambdash completion fish > ~/.config/fish/completions/lambdash.fish"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Print a completion script for SHELL on stdout: subcommands, their options, and the\n"
                          "choices of options that have them, generated from lambdash's own parser.")
    parser.epilog = INSTALL_EXAMPLES
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help=f"one of {', '.join(SHELLS)}")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    import shtab

    grammar: Grammar = args.grammar
    script: str = shtab.complete(grammar.full_parser(), shell=args.shell)
    terminal.stdout.write(script.encode())
    terminal.stdout.flush()
    return ExitStatus.OK
