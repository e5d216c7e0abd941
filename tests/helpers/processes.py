"""Which processes are still alive."""

from __future__ import annotations

import os
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


def embedded_s3_children(parent: int) -> set[int]:
    """The living embedded S3 (moto) children of ``parent`` (of anyone, with 0)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"lambdash.local.s3" in cmdline and stat[0] != "Z" and (parent == 0 or int(stat[1]) == parent):
            found.add(int(entry))
    return found
