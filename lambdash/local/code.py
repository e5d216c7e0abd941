"""Your function's code beside lambdash's handler, in the local Lambda's task root (``serve --code DIR``).

As ``deploy --like FUNCTION --with-code`` does in a twin, the files of DIR sit at the
task root as they sit at the root of your function's zip, and lambdash's handler
beside them in its own package, ``lambdash_handler``; so ``:py`` imports your modules
as your function does. A DIR that has a ``lambdash_handler`` of its own is refused.
"""

from __future__ import annotations

from pathlib import Path

from lambdash.errors import UsageError
from lambdash.local.sandbox import handler_files, handler_mode, stage_tree
from lambdash_handler.contract import PACKAGE_NAME


def code_files(directory: Path) -> list[Path]:
    """The files under ``directory`` a task root gets (bytecode caches left out), sorted."""
    return sorted(path for path in directory.rglob("*")
                  if path.is_file() and "__pycache__" not in path.relative_to(directory).parts)


def stage_code_task_root(directory: Path, parent: Path | None = None) -> Path:
    """A task root with lambdash's handler and the files of ``directory``; UsageError when they clash.

    Named after both contents, so a second serve of the same code reuses it; the
    function's files keep their modes, the handler's are as ``stage_task_root`` makes them.
    """
    if not directory.is_dir():
        raise UsageError(f"--code {directory}: not a directory")
    if (directory / PACKAGE_NAME).exists():
        raise UsageError(f"--code {directory} has a {PACKAGE_NAME}/ of its own, which is lambdash's handler's "
                         "name in the task root; rename it")
    handler = handler_files()
    code = {path.relative_to(directory).as_posix(): path for path in code_files(directory)}
    return stage_tree("code", {**code, **handler}, parent,
                      mode_of=lambda name: handler_mode(name) if name in handler else None)
