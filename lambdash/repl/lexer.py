"""Syntax highlighting of the input line, and the REPL's colours.

The line is highlighted with pygments' bash lexer through prompt_toolkit's
PygmentsLexer; prompt_toolkit's default style already colours pygments tokens.
``REPL_STYLE`` adds the prompt's and the bottom toolbar's classes. Colours use
the terminal's 16 ANSI names so they follow the user's palette, and
prompt_toolkit drops them all when ``NO_COLOR`` is set.
"""

from __future__ import annotations

from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.styles import Style
from pygments.lexers.shell import BashLexer  # type: ignore[import-untyped, unused-ignore]

REPL_STYLE = Style.from_dict({
    "prompt.target": "ansigreen bold",
    "prompt.cwd": "ansiblue bold",
    "prompt.sign": "",
    "continuation": "ansibrightblack",
    "bottom-toolbar": "noreverse bg:ansiblack ansiwhite",
    "bottom-toolbar.target": "bold",
    "bottom-toolbar.cold": "ansiyellow",
    "bottom-toolbar.warm": "ansigreen",
    "bottom-toolbar.ok": "ansigreen",
    "bottom-toolbar.failed": "ansired bold",
    "bottom-toolbar.dim": "ansibrightblack",
    "bottom-toolbar.problem": "ansired",
    "bottom-toolbar.tunnels": "ansicyan",
})


def bash_lexer() -> Lexer:
    """Highlights a command line as bash."""
    return PygmentsLexer(BashLexer)
