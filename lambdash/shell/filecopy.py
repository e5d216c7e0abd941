"""Copying files between this machine and the sandbox, through the shell itself.

A file comes out as the stdout of ``cat`` and goes in as the stdin of ``cat >``,
so big files ride the same S3 spill path as any big output, verified by sha256.
``lambdash get``/``put`` and the REPL's ``:get``/``:put`` both copy through here;
each passes the way it runs a remote command (the REPL's carries its cwd).
"""

from __future__ import annotations

import os
import posixpath
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from lambdash.errors import LambdashError
from lambdash.shell.remote import RemoteResult, Stdin
from lambdash.terminal import ProgressFactory

# Runs one remote command with optional stdin.
RunCommand = Callable[[str, Stdin], RemoteResult]


def local_destination(remote: str, local: str | None) -> Path:
    """Where ``get`` writes: LOCAL, or the remote file's name here; a directory gets that name inside it."""
    name = posixpath.basename(remote.rstrip("/")) or remote
    destination = Path(local).expanduser() if local else Path(name)
    return destination / name if destination.is_dir() else destination


def get_file(run: RunCommand, remote: str, local: Path, *, progress: ProgressFactory | None = None) -> int:
    """Copy ``remote`` to ``local`` (written atomically); return the bytes copied."""
    result = run(f"cat -- {shlex.quote(remote)}", None)
    if result.status != 0:
        raise LambdashError(f"cannot read {remote} in the sandbox: {_reason(result)}")
    if result.stdout.lost:
        raise LambdashError(
            f"{remote} is {result.stdout.size} bytes, too big to return without a spill bucket; nothing was "
            "written (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
        )
    descriptor, temporary = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
    try:
        with os.fdopen(descriptor, "wb") as out:
            result.stdout.write_to(out, remote, progress)
        os.replace(temporary, local)
    except OSError as problem:
        os.unlink(temporary)
        raise LambdashError(f"cannot write {local}: {problem.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise
    return result.stdout.size


def put_file(run: RunCommand, local: Path, remote: str) -> tuple[int, str]:
    """Copy ``local`` to ``remote`` in the sandbox; return the bytes copied and the path written.

    An existing directory as ``remote`` gets the file under its own name, as cp does.
    """
    try:
        source = open(local, "rb")  # noqa: SIM115 (closed below, after the run)
        size = os.fstat(source.fileno()).st_size
    except OSError as problem:
        raise LambdashError(f"cannot read {local}: {problem.strerror}") from None
    command = (
        f"target={shlex.quote(remote)}; "
        f'if [ -d "$target" ]; then target="${{target%/}}"/{shlex.quote(local.name)}; fi; '
        'cat > "$target" && wc -c < "$target" && printf %s "$target"'
    )
    with source:
        result = run(command, source)  # streamed from the file, however big
    if result.status != 0:
        raise LambdashError(f"cannot write {remote} in the sandbox: {_reason(result)}")
    count, _, written = result.stdout.read("stdout").decode("utf-8", "surrogateescape").partition("\n")
    if int(count.strip() or -1) != size:
        raise LambdashError(f"{written or remote} has {count.strip()} bytes in the sandbox, not {size}")
    return size, written or remote


def _reason(result: RemoteResult) -> str:
    """The last line the command wrote on stderr, or its status."""
    lines = result.stderr.read("stderr").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.status}"
