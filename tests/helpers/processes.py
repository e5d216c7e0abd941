"""Which processes are still alive."""

from __future__ import annotations

from pathlib import Path


def still_running(pids: set[int]) -> set[int]:
    """Those of ``pids`` that are still processes, not gone and not zombies."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living
