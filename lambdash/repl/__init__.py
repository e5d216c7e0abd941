"""The interactive shell: ``lambdash repl``, or ``lambdash`` alone on a terminal.

One module per concern: ``session`` (the loop), ``shell_state`` (the carried cwd
and environment), ``interruptible`` (remote calls Ctrl-C can walk away from),
``results`` (showing results, ``:less``), ``scanner`` (continuation lines and the
word under the cursor), ``completer`` and ``listing`` (completion from cached
remote listings), ``lexer`` (highlighting and colours), ``toolbar``,
``meta_commands`` (``:``-commands) and ``history``.
"""

from lambdash.repl.history import open_history
from lambdash.repl.session import ReplSession

__all__ = ["ReplSession", "open_history"]
