"""The layers inventory section: what the function's layers put under /opt, sized within a budget."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any

from .procfs import path_under_root

# Walking /opt to size layers is cheap for typical layers but not for a 250 MB
# layer of small files; past this many entries in total, sizes are left unmeasured
# (null) so the inventory stays well under a second.
LAYER_SIZE_ENTRY_BUDGET = 20_000
# A layer directory with thousands of children would bloat the inventory; list only
# this many names and say how many were left out.
LAYER_CONTENTS_LIMIT = 200


def probe_layers(root: str) -> dict[str, Any]:
    """What the layers put under /opt: each top-level entry, sized, and its children."""
    opt = path_under_root(root, "/opt")
    try:
        top_entries = sorted(os.scandir(opt), key=lambda entry: entry.name)
    except FileNotFoundError:
        return {"opt": {}, "contents": {}, "error": "missing: /opt"}
    except OSError as exc:
        return {"opt": {}, "contents": {}, "error": f"unreadable: /opt ({exc.strerror or exc})"}
    budget = _EntryBudget(LAYER_SIZE_ENTRY_BUDGET)
    opt_entries: dict[str, Any] = {}
    contents: dict[str, list[str]] = {}
    for entry in top_entries:
        if entry.is_symlink():
            opt_entries[entry.name] = {
                "kind": "symlink",
                "size_bytes": None,
                "file_count": None,
            }
        elif entry.is_dir():
            size_bytes, file_count = _directory_size(entry.path, budget)
            opt_entries[entry.name] = {
                "kind": "dir",
                "size_bytes": size_bytes,
                "file_count": file_count,
            }
            contents[entry.name] = _list_children(entry.path)
        else:
            opt_entries[entry.name] = {
                "kind": "file",
                "size_bytes": entry.stat(follow_symlinks=False).st_size,
                "file_count": 1,
            }
    return {"opt": opt_entries, "contents": contents}


class _EntryBudget:
    """How many more directory entries the layer sizing may stat, shared across /opt."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining


def _directory_size(path: str, budget: _EntryBudget) -> tuple[int | None, int | None]:
    """Total bytes and file count below ``path``; (None, None) once the budget runs out."""
    total_bytes = 0
    file_count = 0
    for entry in _walk_entries(path):
        budget.remaining -= 1
        if budget.remaining < 0:
            return None, None
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(status.st_mode):
            total_bytes += status.st_size
            file_count += 1
    return total_bytes, file_count


def _walk_entries(path: str) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        yield entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_entries(entry.path)


def _list_children(path: str) -> list[str]:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        return [f"unreadable ({exc.strerror or exc})"]
    if len(names) > LAYER_CONTENTS_LIMIT:
        left_out = len(names) - LAYER_CONTENTS_LIMIT
        return [*names[:LAYER_CONTENTS_LIMIT], f"... ({left_out} more)"]
    return names
