"""The local audit log: one JSON line per command run, in ``$XDG_STATE_HOME/lambdash/audit.jsonl``.

The file is created with mode 0600: commands can hold secrets.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class AuditLog:
    """Appends one line per command; a log that cannot be written never stops a command."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def record(self, *, target: str, command: str, request_id: str | None, exit_status: int | None,
               sandbox_id: str | None, error: str | None = None) -> None:
        if self.path is None:
            return
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": target,
            "command": command,
            "request_id": request_id,
            "exit_status": exit_status,
            "sandbox_id": sandbox_id,
        }
        if error:
            line["error"] = error
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as log:
                log.write(json.dumps(line) + "\n")
        except OSError:
            pass
