"""Your function's code beside lambdash's handler, in the local Lambda's task root (``serve --code DIR``).

As ``deploy --like FUNCTION --with-code`` does in a twin, the files of DIR sit at the
task root as they sit at the root of your function's zip, and lambdash's handler
beside them in its own package, ``lambdash_handler``; so ``:py`` imports your modules
as your function does. A DIR that has a ``lambdash_handler`` of its own is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from lambdash.errors import UsageError
from lambdash.local.sandbox import stage_task_root
from lambdash_handler.contract import PACKAGE_NAME


def code_files(directory: Path) -> list[Path]:
    """The files under ``directory`` a task root gets (bytecode caches left out), sorted."""
    return sorted(path for path in directory.rglob("*")
                  if path.is_file() and "__pycache__" not in path.relative_to(directory).parts)


def stage_code_task_root(directory: Path, parent: Path | None = None) -> Path:
    """A task root with lambdash's handler and the files of ``directory``; UsageError when they clash.

    Named after both contents, as ``stage_task_root`` names its own, so a second serve of
    the same code reuses it.
    """
    if not directory.is_dir():
        raise UsageError(f"--code {directory}: not a directory")
    if (directory / PACKAGE_NAME).exists():
        raise UsageError(f"--code {directory} has a {PACKAGE_NAME}/ of its own, which is lambdash's handler's "
                         "name in the task root; rename it")
    handler_root = stage_task_root(parent)
    files = code_files(directory)
    digest = hashlib.sha256(handler_root.name.encode())
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    parent = parent or Path(tempfile.gettempdir())
    root = parent / f"lambdash-code-{os.getuid()}-{digest.hexdigest()[:16]}"
    if not (root / PACKAGE_NAME).is_dir():
        staging = Path(tempfile.mkdtemp(prefix="lambdash-code-", dir=parent))
        for path in files:
            target = staging / path.relative_to(directory)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        shutil.copytree(handler_root / PACKAGE_NAME, staging / PACKAGE_NAME)
        try:
            os.rename(staging, root)
        except OSError:  # another local Lambda staged the same content first
            shutil.rmtree(staging, ignore_errors=True)
    return root
