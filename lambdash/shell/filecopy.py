"""Copying files between this machine and the sandbox, through the shell itself.

A file comes out as the stdout of ``cat`` and goes in as the stdin of ``cat >``,
so big files ride the same S3 spill path as any big output, verified by sha256.
``lambdash get``/``put`` and the REPL's ``:get``/``:put`` both copy through here;
each passes the way it runs a remote command (the REPL's carries its cwd).

Modes follow cp: a new file gets its source's permission bits less the umask of
the side that writes it (the executable bit of a script survives); a file that
already exists keeps its own mode.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
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
    """Copy ``remote`` to ``local`` (written atomically); return the bytes copied.

    A new ``local`` gets the remote file's permission bits less this process's umask,
    as cp gives; an existing one keeps its mode.
    """
    try:
        descriptor, temporary = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
    except OSError as problem:
        raise LambdashError(f"cannot write {local}: {problem.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            # The mode goes on stderr first (0666 where stat is missing); then the bytes on stdout.
            quoted = shlex.quote(remote)
            result = run(f"{{ stat -L -c %a -- {quoted} 2>/dev/null || echo 666; }} >&2; cat -- {quoted}", None)
            if result.status != 0:
                raise LambdashError(f"cannot read {remote} in the sandbox: {_reason(result)}")
            if result.stdout.lost:
                raise LambdashError(
                    f"{remote} is {result.stdout.size} bytes, too big to return without a spill bucket; nothing "
                    "was written (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
                )
            result.stdout.write_to(out, remote, progress)
            os.fchmod(out.fileno(), _local_mode(local, _remote_mode(result)))
        os.replace(temporary, local)
    except OSError as problem:
        os.unlink(temporary)
        raise LambdashError(f"cannot write {local}: {problem.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise
    return result.stdout.size


def _remote_mode(result: RemoteResult) -> int:
    """The permission bits ``stat`` printed first on stderr (0666 when it could not)."""
    first = result.stderr.read("stderr").split(b"\n", 1)[0].strip()
    try:
        return int(first, 8) & 0o777
    except ValueError:
        return 0o666


def _local_mode(local: Path, remote_mode: int) -> int:
    """What cp gives ``local``: its own mode when it exists, else ``remote_mode`` less the umask."""
    try:
        return stat.S_IMODE(local.stat().st_mode)
    except OSError:
        return remote_mode & ~current_umask()


def current_umask() -> int:
    """This process's umask, read without changing it (Linux shows it in /proc), or set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def put_file(run: RunCommand, local: Path, remote: str) -> tuple[int, str]:
    """Copy ``local`` to ``remote`` in the sandbox; return the bytes copied and the path written.

    An existing directory as ``remote`` gets the file under its own name, as cp does.
    A new file gets the local file's permission bits less the sandbox shell's umask.
    """
    try:
        source = open(local, "rb")  # noqa: SIM115 (closed below, after the run)
        status = os.fstat(source.fileno())
    except OSError as problem:
        raise LambdashError(f"cannot read {local}: {problem.strerror}") from None
    size = status.st_size
    mode = stat.S_IMODE(status.st_mode) & 0o777
    command = (
        f"target={shlex.quote(remote)}; "
        f'if [ -d "$target" ]; then target="${{target%/}}"/{shlex.quote(local.name)}; fi; '
        'if [ -e "$target" ]; then new=; else new=1; fi; '
        'cat > "$target" && '
        f'{{ [ -z "$new" ] || chmod "$(printf %o $((0{mode:o} & ~$(umask))))" "$target"; }} && '
        'wc -c < "$target" && printf %s "$target"'
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
