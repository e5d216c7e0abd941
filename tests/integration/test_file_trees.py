"""`lambdash get -r`/`put -r` copy directories, and `-p` keeps modes and times, as scp and cp do.

Through the installed command against one `lambdash serve` for the module; the
sandbox's side without tar (Python's tarfile) is run by sh with a PATH that has none.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdash.shell.filecopy import pack_command, unpack_command
from tests.helpers import run_lambdash, serving

MTIME = 1_600_000_000


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture
def remote_dir(served: str) -> str:
    """A fresh directory in the sandbox's own temp dir."""
    made = run_lambdash("--endpoint-url", served, 'mktemp -d "$TMPDIR/trees.XXXXXX"')
    assert made.returncode == 0, made.stderr
    return made.stdout.decode().strip()


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The lambdash subprocesses (and serve's sandboxes) inherit this umask."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def make_tree(root: Path) -> Path:
    """A small tree: a script, a private file, a nested directory, an empty one and a relative link."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "tool.sh").write_text("#!/bin/sh\necho tool ran\n")
    (root / "tool.sh").chmod(0o775)
    (root / "private").write_bytes(bytes(range(256)) * 10)
    (root / "private").chmod(0o600)
    (root / "sub" / "deeper" / "note.txt").write_text("deep\n")
    (root / "sub" / "link").symlink_to("deeper/note.txt")
    for path in [*root.rglob("*"), root]:
        if not path.is_symlink():
            os.utime(path, (MTIME, MTIME))
    return root


def listing(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry under ``root``: its kind and its bytes (or a link's target)."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif path.is_dir():
            found[name] = ("dir", b"")
        else:
            found[name] = ("file", path.read_bytes())
    return found


def modes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): stat.S_IMODE(path.lstat().st_mode)
            for path in sorted(root.rglob("*")) if not path.is_symlink()}


def test_a_tree_goes_in_and_comes_back_whole_with_modes_as_cp_gives(
    served: str, remote_dir: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    put = run_lambdash("--endpoint-url", served, "put", "-r", str(tree), remote_dir)
    assert put.returncode == 0, put.stderr
    assert put.stderr.decode() == (f"lambdash: copied {tree} to {remote_dir}/tree (3 files, 2589 bytes)\n")
    ran = run_lambdash("--endpoint-url", served, f"{remote_dir}/tree/tool.sh; cat {remote_dir}/tree/sub/link")
    assert (ran.returncode, ran.stdout) == (0, b"tool ran\ndeep\n")

    (tmp_path / "back").mkdir()
    got = run_lambdash("--endpoint-url", served, "get", "-r", f"{remote_dir}/tree", str(tmp_path / "back"))
    assert got.returncode == 0, got.stderr
    back = tmp_path / "back" / "tree"
    assert got.stderr.decode() == f"lambdash: copied {remote_dir}/tree to {back} (3 files, 2589 bytes)\n"
    assert listing(back) == listing(tree)
    # New files: the source's mode less the umask of the side that writes (022 on both), and the time of the copy.
    assert modes(back) == {name: mode & ~0o022 for name, mode in modes(tree).items()}
    assert (back / "tool.sh").stat().st_mtime != MTIME


def test_with_p_modes_and_times_are_kept_both_ways(served: str, remote_dir: str, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "shared").write_text("group may write\n")
    (tree / "shared").chmod(0o664)
    os.utime(tree / "shared", (MTIME, MTIME))
    put = run_lambdash("--endpoint-url", served, "put", "-r", "-p", str(tree), f"{remote_dir}/copy")
    assert put.returncode == 0, put.stderr
    shown = run_lambdash("--endpoint-url", served, f"cd {remote_dir}/copy && stat -c '%n %a %Y' shared private tool.sh")
    assert shown.stdout.decode().splitlines() == [f"shared 664 {MTIME}", f"private 600 {MTIME}",
                                                 f"tool.sh 775 {MTIME}"]
    got = run_lambdash("--endpoint-url", served, "get", "-r", "-p", f"{remote_dir}/copy", str(tmp_path / "back"))
    assert got.returncode == 0, got.stderr
    back = tmp_path / "back"
    assert listing(back) == listing(tree)
    assert modes(back) == modes(tree)
    assert {path.stat().st_mtime for path in back.rglob("*") if not path.is_symlink()} == {MTIME}


def test_p_keeps_a_single_files_mode_and_time(served: str, remote_dir: str, tmp_path: Path) -> None:
    source = tmp_path / "shared"
    source.write_text("x\n")
    source.chmod(0o664)
    os.utime(source, (MTIME, MTIME))
    assert run_lambdash("--endpoint-url", served, "put", "-p", str(source), remote_dir).returncode == 0
    got = run_lambdash("--endpoint-url", served, "get", "-p", f"{remote_dir}/shared", str(tmp_path / "back"))
    assert got.returncode == 0, got.stderr
    back = tmp_path / "back"
    assert (stat.S_IMODE(back.stat().st_mode), back.stat().st_mtime) == (0o664, MTIME)


def test_a_directory_without_r_names_the_option(served: str, remote_dir: str, tmp_path: Path) -> None:
    got = run_lambdash("--endpoint-url", served, "get", remote_dir, str(tmp_path / "out"))
    assert got.returncode == 255
    assert got.stderr.decode().endswith("; copy a directory with -r\n")
    put = run_lambdash("--endpoint-url", served, "put", str(tmp_path), remote_dir)
    assert (put.returncode, put.stderr.decode()) == (
        255, f"lambdash: error: cannot read {tmp_path}: Is a directory; copy a directory with -r\n")


def sandbox_without_tar(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has sh, mkdir and python3, and no tar (as some Lambda runtimes)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "mkdir"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    # The interpreter itself, not a version manager's shim that would look for its own tools on PATH.
    (tools / "python3").symlink_to(os.path.realpath(sys.executable))
    return {"PATH": str(tools), "HOME": str(tmp_path)}


def test_without_tar_the_sandbox_packs_and_unpacks_with_python(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    env = sandbox_without_tar(tmp_path)
    packed = subprocess.run(["sh", "-c", pack_command(str(tree))], env=env, capture_output=True, timeout=60,
                            check=True).stdout
    for preserve in (False, True):
        destination = tmp_path / f"unpacked-{preserve}"
        unpack = unpack_command(str(destination), preserve=preserve)
        done = subprocess.run(["sh", "-c", f"umask 027; {unpack}"], env=env, input=packed, capture_output=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert listing(destination) == listing(tree)
        expected = {name: mode if preserve else mode & ~0o027 for name, mode in modes(tree).items()}
        assert modes(destination) == expected
