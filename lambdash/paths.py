"""Where lambdash keeps its files: the config file, the state directory and the agent's directory.

The config file is ``$LAMBDASH_CONFIG``, else ``$XDG_CONFIG_HOME/lambdash/config.toml``.
The state directory (history, the audit log, the local Lambda's credential pair,
the redaction key) is ``$XDG_STATE_HOME/lambdash``, normally ``~/.local/state/lambdash``.
The agent's socket lives in ``$XDG_RUNTIME_DIR/lambdash``, else in the state
directory's ``agent``. pathlib is imported only when a Path is asked for: a
one-shot handed to the agent never needs one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The config file lambdash reads its defaults from."""
    from pathlib import Path

    if "LAMBDASH_CONFIG" in environ:
        return Path(environ["LAMBDASH_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lambdash" / "config.toml"


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where history, the audit log and the local Lambda's credentials live: ``$XDG_STATE_HOME/lambdash``."""
    from pathlib import Path

    return Path(_state_base(environ)) / "lambdash"


def agent_dir(environ: Mapping[str, str] = os.environ) -> str:
    """The private directory of the agent's socket: ``$XDG_RUNTIME_DIR/lambdash``, else the state dir's ``agent``."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "lambdash")
    return os.path.join(_state_base(environ), "lambdash", "agent")


def _state_base(environ: Mapping[str, str]) -> str:
    return environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
