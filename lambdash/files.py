"""Copying files between this machine and the sandbox, through the shell itself.

A file comes out as the stdout of ``cat`` and goes in as the stdin of ``cat >``,
so big files ride the same S3 spill path as any big output, verified by sha256.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from lambdash.errors import LambdashError
from lambdash.remote import RemoteShell
from lambdash.transfer import ProgressFactory


def get_file(shell: RemoteShell, remote: str, local: Path, *, progress: ProgressFactory | None = None) -> int:
    """Copy ``remote`` to ``local`` (written atomically); return the bytes copied."""
    result = shell.run(f"cat -- {shlex.quote(remote)}")
    if result.status != 0:
        reason = result.stderr.read("stderr").decode("utf-8", "replace").strip() or f"exit status {result.status}"
        raise LambdashError(f"cannot read {remote} in the sandbox: {reason}")
    if result.stdout.lost:
        raise LambdashError(
            f"{remote} is {result.stdout.size} bytes, too big to return without a spill bucket "
            "(pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
        )
    directory = local.parent if str(local.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{local.name}.")
    try:
        with os.fdopen(descriptor, "wb") as out:
            result.stdout.write_to(out, remote, progress)
        os.replace(temporary, local)
    except BaseException:
        os.unlink(temporary)
        raise
    return result.stdout.size


def put_file(shell: RemoteShell, local: Path, remote: str) -> int:
    """Copy ``local`` to ``remote`` in the sandbox; return the bytes copied."""
    try:
        data = local.read_bytes()
    except OSError as problem:
        raise LambdashError(f"cannot read {local}: {problem.strerror}") from None
    quoted = shlex.quote(remote)
    result = shell.run(f"cat > {quoted} && wc -c < {quoted}", stdin=data)
    if result.status != 0:
        reason = result.stderr.read("stderr").decode("utf-8", "replace").strip() or f"exit status {result.status}"
        raise LambdashError(f"cannot write {remote} in the sandbox: {reason}")
    written = int(result.stdout.read("stdout").strip() or b"-1")
    if written != len(data):
        raise LambdashError(f"{remote} has {written} bytes in the sandbox, not {len(data)}")
    return written
