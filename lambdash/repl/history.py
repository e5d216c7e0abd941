"""The REPL's command history: one private file per target in the state directory.

History is kept in ``$XDG_STATE_HOME/lambdash/history-<target>`` so commands for
different functions do not mix. Commands can hold secrets, so the file is created
with mode 0600 (and its directory 0700) before prompt_toolkit ever appends to it;
prompt_toolkit's own FileHistory would create it with the umask's mode. Every
read and append goes through ``config.open_private``, so a link or a file that is
not the user's own is refused, never followed. It is loaded in a background thread
so a long history never delays the first prompt.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory, ThreadedHistory

from lambdash.config import Target
from lambdash.paths import UnsafeStateFile, open_private, state_dir

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700


def target_slug(target: Target) -> str:
    """A file-name-safe name for the target: ``local``, or the function with its region or endpoint."""
    if target.local:
        return "local"
    parts = [target.function, target.region or "", target.endpoint_url or "", target.profile or ""]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(part for part in parts if part)).strip("-.")
    return slug or "default"


def history_path(target: Target, directory: Path | None = None) -> Path:
    return (directory or state_dir()) / f"history-{target_slug(target)}"


class PrivateFileHistory(FileHistory):
    """A FileHistory whose file only its owner can read, opened the safe way each time."""

    def __init__(self, filename: Path) -> None:
        filename.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY_MODE)
        # An existing one was made private when the REPL started (audit.make_state_private).
        os.close(open_private(filename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE))
        super().__init__(str(filename))
        self.path = filename

    def load_history_strings(self) -> Iterable[str]:
        # The file format is FileHistory's: "# time" lines, then each line of an entry after "+".
        entries: list[str] = []
        lines: list[str] = []
        with os.fdopen(open_private(self.path, os.O_RDONLY), "rb") as file:
            for raw in [*file, b""]:
                line = raw.decode("utf-8", errors="replace")
                if line.startswith("+"):
                    lines.append(line[1:])
                    continue
                if lines:
                    entries.append("".join(lines)[:-1])
                lines = []
        return reversed(entries)

    def store_string(self, string: str) -> None:
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        try:
            descriptor = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        except (OSError, UnsafeStateFile):  # swapped since the REPL started: this entry is not saved there
            return
        with os.fdopen(descriptor, "ab") as file:
            file.write(text.encode("utf-8", errors="replace"))


def open_history(target: Target, directory: Path | None = None) -> tuple[History, str | None]:
    """The target's history, loaded in the background; with a problem, an in-memory one and why."""
    path = history_path(target, directory)
    try:
        return ThreadedHistory(PrivateFileHistory(path)), None
    except OSError as problem:
        return InMemoryHistory(), f"history is not saved: cannot write {path} ({problem.strerror})"
