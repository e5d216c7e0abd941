"""The deployment zip of the handler package, byte for byte the same on every build.

Reproducibility is what lets a re-deploy compare CodeSha256 and skip the upload:
every entry has the same timestamp (1980-01-01, the earliest a zip can hold),
permission and compression, entries are sorted, and bytecode caches are left
out. Entries sit under ``lambdash_handler/``, so the Lambda handler is
``lambdash_handler.app.handle`` and a function's own ``handler`` module never
clashes with it. The exec wrapper is 0755 by its name, whatever the mode of the
installed file: Lambda runs AWS_LAMBDA_EXEC_WRAPPER only when it is executable.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import lambdash_handler
from lambdash.errors import ConfigError
from lambdash_handler.contract import EXEC_WRAPPER_NAME, PACKAGE_NAME

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
EXECUTABLE_MODE = 0o100755  # rwxr-xr-x
REQUIRED_FILES = ("app.py", "runtime.py", EXEC_WRAPPER_NAME)


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
    """The handler package this lambdash runs with (the checkout's, or the installed one)."""
    return lambdash_handler.package_root()


def build_zip(source: Path | None = None) -> CodeArtifact:
    """Zip ``source`` (default: the handler package) under ``lambdash_handler/`` with fixed metadata."""
    source = source or handler_source()
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise ConfigError(f"{source} is not a complete lambdash handler (missing {', '.join(missing)}); "
                          "reinstall lambdash (pip install --force-reinstall lambdash)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in lambdash_handler.package_files(source):
            relative = path.relative_to(source).as_posix()
            entry = zipfile.ZipInfo(f"{PACKAGE_NAME}/{relative}", ZIP_EPOCH)
            entry.external_attr = (EXECUTABLE_MODE if relative == EXEC_WRAPPER_NAME else FILE_MODE) << 16
            entry.create_system = 3  # Unix, so the mode above is honoured when unpacked
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    return CodeArtifact(zip_bytes=data, sha256=code_sha256(data))


def code_sha256(data: bytes) -> str:
    """CodeSha256 as Lambda computes it: base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
