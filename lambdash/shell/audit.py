"""The local audit log: one JSON line per command run, in ``$XDG_STATE_HOME/lambdash/audit.jsonl``.

Each line says how the command ended (``status``: ``done`` with its exit status,
``failed`` with lambdash's error, or ``interrupted``). It keeps at most 4 KB of the
command, with the command's whole size and sha256, so a big script cannot fill it.
The file is created with mode 0600 and its directory 0700: commands can hold secrets.
It is opened with ``config.open_private``: a link, or a file another user owns or
could write, is refused before the command runs (see ``AuditLog.checked``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from lambdash.paths import UnsafeStateFile, open_private, state_dir, untrusted_reason

AUDIT_FILE = "audit.jsonl"
COMMAND_KEPT_BYTES = 4096
Status = Literal["done", "failed", "interrupted"]


class AuditLog:
    """Appends one line per command; a log that cannot be written never stops a command."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def checked(cls, path: Path | None) -> AuditLog:
        """The log at ``path``, once it is known to be the user's own file (UnsafeStateFile otherwise).

        A command is refused rather than logged where someone else could read or forge
        the log; a log that merely cannot be written (a full disk) stops nothing.
        """
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT))
            except OSError:
                pass
        return cls(path)

    def record(self, *, target: str, command: str, request_id: str | None, exit_status: int | None,
               sandbox_id: str | None, error: str | None = None, interrupted: bool = False) -> None:
        if self.path is None:
            return
        status: Status = "interrupted" if interrupted else "failed" if error else "done"
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": target,
            "status": status,
            **command_fields(command),
            "request_id": request_id,
            "exit_status": exit_status,
            "sandbox_id": sandbox_id,
        }
        if error:
            line["error"] = error
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            with os.fdopen(descriptor, "a", encoding="utf-8") as log:
                log.write(json.dumps(line) + "\n")
        except (OSError, UnsafeStateFile):
            pass


def command_fields(command: str) -> dict[str, Any]:
    """The command as the log keeps it: its first 4 KB (whole characters), its size in bytes and its sha256."""
    encoded = command.encode("utf-8", "surrogateescape")
    fields: dict[str, Any] = {"command": command, "command_bytes": len(encoded),
                              "command_sha256": hashlib.sha256(encoded).hexdigest()}
    if len(encoded) > COMMAND_KEPT_BYTES:
        fields["command"] = encoded[:COMMAND_KEPT_BYTES].decode("utf-8", "ignore")
        fields["command_cut"] = True
    return fields


def make_state_private(directory: Path | None = None) -> str | None:
    """Tighten an existing state dir to 0700, and its audit log and histories to 0600.

    Earlier versions, a restored backup or a loose umask may have left them readable by
    others. Only the user's own regular files are changed, never through a link; one
    that others could write is left as it is, for ``open_private`` to refuse by name.
    Returns the one-line notice saying what changed, or None when nothing did
    (or nothing could be: a state dir that is not ours is left alone).
    """
    directory = directory or state_dir()
    changed: list[str] = []
    try:
        status = directory.stat()
        if status.st_uid != os.geteuid():
            return None
        was = status.st_mode & 0o777
        if was & ~0o700:
            directory.chmod(was & 0o700)
            changed.append(f"{directory.name} {was:o} -> {was & 0o700:o}")
        for path in [*sorted(directory.glob("history-*")), directory / AUDIT_FILE]:
            note = _make_file_private(path)
            if note:
                changed.append(note)
    except OSError:
        return None
    if not changed:
        return None
    return f"made the state dir {directory} private (commands can hold secrets): {', '.join(changed)}"


def _make_file_private(path: Path) -> str | None:
    """Take the read bits of group and others off one of the user's own state files; what changed."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # absent, or a link: refused when it is used
        return None
    try:
        status = os.fstat(descriptor)
        was = status.st_mode & 0o777
        if untrusted_reason(status, path) or not was & 0o077:
            return None
        os.fchmod(descriptor, was & 0o600)
        return f"{path.name} {was:o} -> {was & 0o600:o}"
    finally:
        os.close(descriptor)
