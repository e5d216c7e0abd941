"""The lambdash Lambda function: run shell commands in the sandbox and return exact bytes.

Everything in this package runs inside AWS Lambda. It uses only the standard
library and boto3 (which every Python managed runtime ships), and its modules
import each other relatively, so the same files are the deployed function's
code (``lambdash_handler`` in the zip, entry point ``lambdash_handler.app.handle``)
and a subpackage of an installed lambdash. The client imports only ``contract``,
and ``package_files`` here to find the files it ships.
"""

from __future__ import annotations

from pathlib import Path

_SKIPPED_DIRECTORIES = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def package_root() -> Path:
    """The directory this package is in: the checkout's ``handler/``, or the installed one."""
    return Path(__file__).resolve().parent


def package_files(root: Path | None = None) -> list[Path]:
    """Every file the function needs (code, schemas, the exec wrapper), sorted by relative path."""
    root = root or package_root()
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part in _SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES or not path.is_file():
            continue
        files.append(path)
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())
