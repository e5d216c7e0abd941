"""Where lambdash keeps its files: the config file, the state directory and the agent's directory.

The config file is ``$LAMBDASH_CONFIG``, else ``$XDG_CONFIG_HOME/lambdash/config.toml``.
The state directory (history, the audit log, the local Lambda's credential pair,
the redaction key) is ``$XDG_STATE_HOME/lambdash``, normally ``~/.local/state/lambdash``.
The agent's socket lives in ``$XDG_RUNTIME_DIR/lambdash``, else in the state
directory's ``agent``. pathlib is imported only when a Path is asked for: a
one-shot handed to the agent never needs one. The state dir's files are opened one
way, ``open_private``, which follows no symbolic link and refuses a file another
user owns or could change.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lambdash.errors import ConfigError

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


class UnsafeStateFile(ConfigError):
    """A file in the state dir that lambdash will not use: a link, or one that is not the user's own."""


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """Open a file of the state dir (``os.open`` flags), refusing one that someone else could have planted.

    The file may not be a symbolic link (it is never followed: a link would make
    lambdash write where it points), nor anything but a regular file, nor have
    other hard links; it must belong to this user and be writable by no one else.
    Raises UnsafeStateFile naming the file and what to do; other failures are OSError.
    """
    try:
        # O_NONBLOCK: a FIFO planted under the name must not hang the open; it is refused below.
        descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as problem:
        if problem.errno == errno.ELOOP:
            raise UnsafeStateFile(f"refusing {path}: it is a symbolic link, and lambdash follows none in its state "
                                  "dir (remove it)") from None
        raise
    try:
        reason = untrusted_reason(os.fstat(descriptor), path)
        if reason:
            raise UnsafeStateFile(f"refusing {path}: {reason}")
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def untrusted_reason(status: os.stat_result, path: Path) -> str | None:
    """Why a state file with this status cannot be trusted (what to do included), or None when it can."""
    if not stat.S_ISREG(status.st_mode):
        return "it is not a regular file (remove it)"
    if status.st_uid != os.geteuid():
        return f"it belongs to uid {status.st_uid}, not to you (uid {os.geteuid()}); remove it"
    if status.st_nlink > 1:
        return f"it has {status.st_nlink} hard links, so it is also another file; remove it"
    if status.st_mode & 0o022:
        return f"others can write it (mode {stat.S_IMODE(status.st_mode):03o}); fix it with `chmod 600 {path}`"
    return None
