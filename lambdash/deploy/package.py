"""The deployment zip of ``handler/``, byte for byte the same on every build.

Reproducibility is what lets a re-deploy compare CodeSha256 and skip the upload:
every entry has the same timestamp (1980-01-01, the earliest a zip can hold),
permission (0755 for the exec wrapper and any other executable, else 0644) and
compression, entries are sorted, and bytecode caches are left out. Entries sit
under ``handler/`` so the Lambda handler is ``handler.app.handle``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lambdash.errors import ConfigError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
EXECUTABLE_MODE = 0o100755  # rwxr-xr-x: Lambda runs AWS_LAMBDA_EXEC_WRAPPER only when it is executable
PACKAGE_DIRECTORY = "handler"
_SKIPPED_DIRECTORIES = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class CodeArtifact:
    """The deployment zip and its CodeSha256 (base64 of the SHA-256 of the bytes, as Lambda reports it)."""

    zip_bytes: bytes
    sha256: str

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()

    @property
    def size(self) -> int:
        return len(self.zip_bytes)


def handler_source() -> Path:
    """The ``handler`` package this lambdash runs with (the checkout's, or the installed one)."""
    import handler

    return Path(handler.__file__).resolve().parent


def package_files(source: Path) -> list[Path]:
    """The regular files to ship, sorted by their path in the zip."""
    files = []
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if any(part in _SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES or not path.is_file():
            continue
        files.append(path)
    return sorted(files, key=lambda path: path.relative_to(source).as_posix())


def build_zip(source: Path | None = None) -> CodeArtifact:
    """Zip ``source`` (default: the handler package) under ``handler/`` with fixed metadata."""
    source = source or handler_source()
    if not (source / "app.py").is_file():
        raise ConfigError(f"{source} does not look like the lambdash handler (no app.py)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in package_files(source):
            entry = zipfile.ZipInfo(f"{PACKAGE_DIRECTORY}/{path.relative_to(source).as_posix()}", ZIP_EPOCH)
            entry.external_attr = (EXECUTABLE_MODE if os.access(path, os.X_OK) else FILE_MODE) << 16
            entry.create_system = 3  # Unix, so the mode above is honoured when unpacked
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    return CodeArtifact(zip_bytes=data, sha256=code_sha256(data))


def code_sha256(data: bytes) -> str:
    """CodeSha256 as Lambda computes it: base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
