"""Copying files between this machine and the sandbox, through the shell itself.

A file comes out as the stdout of ``cat`` and goes in as the stdin of ``cat >``,
so big files ride the same S3 spill path as any big output, verified by sha256.
``lambdash get``/``put`` and the REPL's ``:get``/``:put`` both copy through here;
each passes the way it runs a remote command (the REPL's carries its cwd).

Modes follow cp: a new file gets its source's permission bits less the umask of
the side that writes it (the executable bit of a script survives); a file that
already exists keeps its own mode. With ``preserve`` (``-p``, as cp and scp take it),
each file gets its source's mode exactly, and its modification time.

A directory (``-r``) travels as a tar stream through the same path: the sandbox packs
or unpacks it with ``tar``, or, where the runtime has none (the AL2023 runtimes may
not), with Python's ``tarfile`` (python3 is in every runtime lambdash's handler runs
on); this side uses ``tarfile``, refusing what would land outside the destination.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

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


def get_file(run: RunCommand, remote: str, local: Path, *, progress: ProgressFactory | None = None,
             preserve: bool = False) -> int:
    """Copy ``remote`` to ``local`` (written atomically); return the bytes copied.

    A new ``local`` gets the remote file's permission bits less this process's umask,
    as cp gives; an existing one keeps its mode. With ``preserve``, ``local`` gets the
    remote file's mode and modification time.
    """
    try:
        descriptor, temporary = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
    except OSError as problem:
        raise LambdashError(f"cannot write {local}: {problem.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            # The mode and time go on stderr first (0666 where stat is missing); then the bytes on stdout.
            quoted = shlex.quote(remote)
            result = run(f"{{ stat -L -c '%a %Y' -- {quoted} 2>/dev/null || echo 666; }} >&2; cat -- {quoted}", None)
            if result.status != 0:
                raise LambdashError(f"cannot read {remote} in the sandbox: {_reason(result)}{_directory_hint(result)}")
            if result.stdout.lost:
                raise LambdashError(
                    f"{remote} is {result.stdout.size} bytes, too big to return without a spill bucket; nothing "
                    "was written (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
                )
            result.stdout.write_to(out, remote, progress)
            mode, mtime = _remote_mode_and_time(result)
            os.fchmod(out.fileno(), mode if preserve else _local_mode(local, mode))
            if preserve and mtime is not None:
                os.utime(out.fileno(), (mtime, mtime))
        os.replace(temporary, local)
    except OSError as problem:
        os.unlink(temporary)
        raise LambdashError(f"cannot write {local}: {problem.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise
    return result.stdout.size


def _remote_mode_and_time(result: RemoteResult) -> tuple[int, int | None]:
    """The permission bits and modification time ``stat`` printed first on stderr (0666 when it could not)."""
    first = result.stderr.read("stderr").split(b"\n", 1)[0].split()
    try:
        mode = int(first[0], 8) & 0o777
    except (ValueError, IndexError):
        return 0o666, None
    try:
        return mode, int(first[1])
    except (ValueError, IndexError):
        return mode, None


def _directory_hint(result: RemoteResult) -> str:
    """A pointer to ``-r`` when the failure was a directory where a file was expected."""
    return "; copy a directory with -r" if b"Is a directory" in result.stderr.read("stderr") else ""


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


def put_file(run: RunCommand, local: Path, remote: str, *, preserve: bool = False) -> tuple[int, str]:
    """Copy ``local`` to ``remote`` in the sandbox; return the bytes copied and the path written.

    An existing directory as ``remote`` gets the file under its own name, as cp does.
    A new file gets the local file's permission bits less the sandbox shell's umask;
    with ``preserve``, the file gets the local file's mode and modification time.
    """
    if local.is_dir():
        raise LambdashError(f"cannot read {local}: Is a directory; copy a directory with -r")
    try:
        source = open(local, "rb")  # noqa: SIM115 (closed below, after the run)
        status = os.fstat(source.fileno())
    except OSError as problem:
        raise LambdashError(f"cannot read {local}: {problem.strerror}") from None
    size = status.st_size
    mode = stat.S_IMODE(status.st_mode) & 0o777
    set_mode = (f'chmod {mode:o} "$target" && touch -m -d @{int(status.st_mtime)} "$target"' if preserve
                else f'{{ [ -z "$new" ] || chmod "$(printf %o $((0{mode:o} & ~$(umask))))" "$target"; }}')
    command = (
        f"target={shlex.quote(remote)}; "
        f'if [ -d "$target" ]; then target="${{target%/}}"/{shlex.quote(local.name)}; fi; '
        'if [ -e "$target" ]; then new=; else new=1; fi; '
        'cat > "$target" && '
        f'{set_mode} && '
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


# -- directories (-r) -------------------------------------------------------------------------------------------------

# The sandbox's side of a directory copy, where the runtime has no tar: Python's tarfile, with
# the same rules as this side (see extraction_filter). Arguments: the directory, then "p" to preserve.
_PACK_PY = """import sys, tarfile
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as archive:
    archive.add(sys.argv[1], arcname=".")
"""
_UNPACK_PY = """import os, sys, tarfile
preserve, umask = sys.argv[2] == "p", os.umask(0)
os.umask(umask)
def keep(member, path):
    mode = member.mode & 0o777
    return tarfile.data_filter(member, path).replace(
        mode=mode if preserve else mode & ~umask, mtime=member.mtime if preserve else None, deep=False)
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as archive:
    archive.extractall(sys.argv[1], filter=keep)
"""
# What a get -r of something that is not a directory answers, so the file is copied as a file instead.
_NOT_A_DIRECTORY_STATUS = 3


def pack_command(source: str) -> str:
    """The sandbox command that writes the directory ``source`` as a tar stream (of ``.``) on stdout."""
    return (f"source={shlex.quote(source)}; "
            f'[ -d "$source" ] || exit {_NOT_A_DIRECTORY_STATUS}; '
            'if command -v tar >/dev/null 2>&1; then tar -C "$source" -cf - .; '
            f'else python3 -c {shlex.quote(_PACK_PY)} "$source"; fi')


def unpack_command(destination: str, *, preserve: bool) -> str:
    """The sandbox command that unpacks a tar stream on stdin into ``destination`` (made when missing).

    ``destination`` is a shell word, already quoted (such as ``"$target"``).
    """
    tar_options = "-p" if preserve else "-m --no-same-permissions"
    return (f'mkdir -p {destination} && '
            f'if command -v tar >/dev/null 2>&1; then tar -C {destination} -x --no-same-owner {tar_options} -f -; '
            f'else python3 -c {shlex.quote(_UNPACK_PY)} {destination} {"p" if preserve else "-"}; fi')


def extraction_filter(*, preserve: bool, umask: int) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo]:
    """tarfile's data filter (nothing outside the destination, no devices, no owners), and modes as cp gives.

    Without ``preserve``: the mode less ``umask``, and the time of the copy; with it,
    the source's mode (less setuid, setgid and sticky) and modification time.
    """

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        mode = member.mode & 0o777
        # typeshed says a float, but tarfile leaves the time of the copy alone when mtime is None.
        return tarfile.data_filter(member, path).replace(
            mode=mode if preserve else mode & ~umask, mtime=member.mtime if preserve else None,  # type: ignore[arg-type]
            deep=False)

    return keep


def get_tree(run: RunCommand, remote: str, local: Path, *, progress: ProgressFactory | None = None,
             preserve: bool = False) -> tuple[int, int]:
    """Copy the directory ``remote`` to ``local`` (made when missing, merged into when not), as ``cp -r`` does.

    Returns the files and the bytes in them. A ``remote`` that is a file is copied as
    ``get_file`` copies it.
    """
    if local.exists() and not local.is_dir():
        raise LambdashError(f"cannot write {local}: it is a file, and {remote} is copied as a directory")
    with tempfile.TemporaryFile() as spooled:
        result = run(pack_command(remote), None)
        if result.status == _NOT_A_DIRECTORY_STATUS:
            return 1, get_file(run, remote, local, progress=progress, preserve=preserve)
        if result.status != 0:
            raise LambdashError(f"cannot read {remote} in the sandbox: {_reason(result)}")
        if result.stdout.lost:
            raise LambdashError(
                f"{remote} is {result.stdout.size} bytes as tar, too big to return without a spill bucket; "
                "nothing was written (pass --bucket NAME, or set LAMBDASH_BUCKET on the function)"
            )
        result.stdout.write_to(spooled, remote, progress)
        spooled.seek(0)
        return _unpack_here(spooled, remote, local, preserve=preserve)


def _unpack_here(archive_file: BinaryIO, remote: str, local: Path, *, preserve: bool) -> tuple[int, int]:
    counted = [0, 0]  # files, bytes
    keep = extraction_filter(preserve=preserve, umask=current_umask())

    def count_and_keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        if member.isreg():
            counted[0], counted[1] = counted[0] + 1, counted[1] + member.size
        return keep(member, path)

    try:
        local.mkdir(parents=True, exist_ok=True)
        # extractall sets each directory's mode and time after its content is in.
        with tarfile.open(fileobj=archive_file, mode="r|") as archive:
            archive.extractall(local, filter=count_and_keep)
    except tarfile.TarError as problem:
        raise LambdashError(f"cannot copy {remote} to {local}: {problem}") from None
    except OSError as problem:
        raise LambdashError(f"cannot write {local}: {problem.strerror or problem}") from None
    return counted[0], counted[1]


def put_tree(run: RunCommand, local: Path, remote: str, *, preserve: bool = False) -> tuple[int, int, str]:
    """Copy the directory ``local`` to ``remote`` in the sandbox, as ``cp -r`` does; a file as ``put_file``.

    An existing directory as ``remote`` gets it under its own name. Returns the files,
    the bytes in them, and the path written.
    """
    if not local.is_dir():
        size, written = put_file(run, local, remote, preserve=preserve)
        return 1, size, written
    files = size = 0
    with tempfile.TemporaryFile() as spooled:
        try:
            with tarfile.open(fileobj=spooled, mode="w") as archive:
                for path in [local, *sorted(local.rglob("*"))]:
                    member = archive.gettarinfo(str(path), arcname=str(Path(".") / path.relative_to(local)))
                    member.uid = member.gid = 0
                    member.uname = member.gname = ""
                    if member.isreg():
                        with open(path, "rb") as content:
                            archive.addfile(member, content)
                        files, size = files + 1, size + member.size
                    elif member.isdir() or member.issym():
                        archive.addfile(member)
        except OSError as problem:
            raise LambdashError(f"cannot read {problem.filename or local}: {problem.strerror}") from None
        spooled.seek(0)
        name = shlex.quote(local.resolve().name)
        unpack = unpack_command('"$target"', preserve=preserve)
        command = (f"target={shlex.quote(remote)}; "
                   f'if [ -d "$target" ]; then target="${{target%/}}"/{name}; fi; '
                   f'{unpack} && printf %s "$target"')
        result = run(command, spooled)
    if result.status != 0:
        raise LambdashError(f"cannot write {remote} in the sandbox: {_reason(result)}")
    written = result.stdout.read("stdout").decode("utf-8", "surrogateescape")
    return files, size, written or remote
