"""The agent's private directory: its socket, its lock and its log, and who may use them.

The directory is ``lambdash.paths.agent_dir()``: mode 0700 and the user's own.
One that exists with another owner or a looser mode is refused, naming it, since
whoever controls it could stand in for the agent and read the environment (AWS
credentials included) that a one-shot hands over. It is opened once and used
through its descriptor (``/proc/self/fd/N/NAME``), so it cannot be swapped between
the check and the use, and a socket address stays short however deep it is.

The socket, lock and log are named for this installation of lambdash (its version,
where it is installed, and its Python), so two installations never hand requests
to each other's agent.
"""

from __future__ import annotations

import os
import sys
import zlib

from lambdash import __version__
from lambdash.errors import LambdashError


class AgentDirectoryError(LambdashError):
    """The agent's directory cannot be trusted: it is not private, or not a directory."""


def installation_id() -> str:
    """A short name for this lambdash: its version, where it is installed, and its Python."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    identity = "\0".join((__version__, package, sys.executable)).encode()
    return f"{zlib.crc32(identity):08x}"


_ID = installation_id()
SOCKET_NAME = f"agent-{_ID}.sock"
LOCK_NAME = f"agent-{_ID}.lock"
LOG_NAME = f"agent-{_ID}.log"


class AgentDirectory:
    """The agent's directory, opened and checked; names in it are reached through its descriptor."""

    def __init__(self, path: str, descriptor: int) -> None:
        self.path = path
        self.descriptor = descriptor

    @classmethod
    def open(cls, path: str, *, create: bool = False) -> AgentDirectory | None:
        """The directory at ``path`` once it is known to be private; None when it does not exist.

        With ``create``, a missing one is made (mode 0700, parents too). Raises
        AgentDirectoryError for a directory that is not the user's own, or is
        open to others, or is not a directory at all.
        """
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError:
            raise AgentDirectoryError(
                f"the agent's directory {path} is not a directory (or is a symbolic link); remove it") from None
        try:
            _check_private(path, os.fstat(descriptor))
        except BaseException:
            os.close(descriptor)
            raise
        return cls(path, descriptor)

    def address(self, name: str) -> str:
        """How to reach ``name`` in the directory: through the checked descriptor where /proc allows."""
        if os.path.isdir("/proc/self/fd"):
            return f"/proc/self/fd/{self.descriptor}/{name}"
        return os.path.join(self.path, name)

    def shown(self, name: str) -> str:
        """``name``'s path, as people read it."""
        return os.path.join(self.path, name)

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def __enter__(self) -> AgentDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_private(path: str, found: os.stat_result) -> None:
    mode = found.st_mode & 0o777
    if found.st_uid != os.getuid():
        raise AgentDirectoryError(
            f"the agent's directory {path} belongs to uid {found.st_uid}, not to you (uid {os.getuid()}): "
            "another user could stand in for the agent; remove it")
    if mode & 0o077:
        raise AgentDirectoryError(
            f"the agent's directory {path} is open to others (mode {mode:o}); it must be private: "
            f"run `chmod 700 {path}` or remove it")
