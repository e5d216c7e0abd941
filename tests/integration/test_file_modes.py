"""`lambdash put` and `get` keep permission bits as cp does, and say plainly where they cannot write.

Through the installed command against one `lambdash serve` for the module. A new
file gets its source's mode less the umask of the side that writes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_lambdash, serving


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture
def remote_dir(served: str) -> str:
    """A fresh directory in the sandbox's own temp dir."""
    made = run_lambdash("--endpoint-url", served, 'mktemp -d "$TMPDIR/modes.XXXXXX"')
    assert made.returncode == 0, made.stderr
    return made.stdout.decode().strip()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The lambdash subprocesses inherit this umask."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_put_script_keeps_its_executable_bit_and_runs(served: str, remote_dir: str, tmp_path: Path) -> None:
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    put = run_lambdash("--endpoint-url", served, "put", str(tool), f"{remote_dir}/tool")
    assert put.returncode == 0, put.stderr
    ran = run_lambdash("--endpoint-url", served, f"{remote_dir}/tool")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, b"tool ran\n", b"")
    mode = run_lambdash("--endpoint-url", served, f"stat -c %a {remote_dir}/tool; umask")
    permissions, umask = mode.stdout.decode().split()
    assert int(permissions, 8) == 0o755 & ~int(umask, 8)


def test_put_applies_the_sandbox_umask_and_keeps_a_private_file_private(served: str, remote_dir: str,
                                                                         tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    secret.chmod(0o640)
    put = run_lambdash("--endpoint-url", served, "put", str(secret), f"{remote_dir}/secret")
    assert put.returncode == 0, put.stderr
    shown = run_lambdash("--endpoint-url", served, f"umask 077; stat -c %a {remote_dir}/secret")
    assert shown.stdout == b"640\n"  # 0640 less the sandbox's 022


def test_put_over_an_existing_file_keeps_its_mode_as_cp_does(served: str, remote_dir: str, tmp_path: Path) -> None:
    kept = f"{remote_dir}/kept"
    run_lambdash("--endpoint-url", served, f"echo old > {kept}; chmod 600 {kept}")
    new = tmp_path / "new"
    new.write_text("new\n")
    new.chmod(0o755)
    assert run_lambdash("--endpoint-url", served, "put", str(new), kept).returncode == 0
    shown = run_lambdash("--endpoint-url", served, f"stat -c %a {kept}; cat {kept}")
    assert shown.stdout == b"600\nnew\n"


def test_get_gives_the_remote_mode_less_the_local_umask(served: str, remote_dir: str, tmp_path: Path,
                                                        umask_022: None) -> None:
    made = run_lambdash("--endpoint-url", served, f"cd {remote_dir}; printf 'a\\n' > plain; chmod 666 plain; "
                        "printf 'b\\n' > exe; chmod 775 exe")
    assert made.returncode == 0, made.stderr
    got = run_lambdash("--endpoint-url", served, "get", f"{remote_dir}/plain", str(tmp_path / "plain"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "plain").read_bytes() == b"a\n"
    assert mode_of(tmp_path / "plain") == 0o644
    got = run_lambdash("--endpoint-url", served, "get", f"{remote_dir}/exe", str(tmp_path / "exe"))
    assert got.returncode == 0, got.stderr
    assert mode_of(tmp_path / "exe") == 0o755


def test_get_into_a_missing_directory_is_one_line_naming_the_path(served: str, remote_dir: str,
                                                                  tmp_path: Path) -> None:
    run_lambdash("--endpoint-url", served, f"echo x > {remote_dir}/some")
    missing = tmp_path / "no" / "such" / "some"
    got = run_lambdash("--endpoint-url", served, "get", f"{remote_dir}/some", str(missing))
    assert got.returncode == 255
    assert got.stderr == f"lambdash: error: cannot write {missing}: No such file or directory\n".encode()
    assert not missing.parent.exists()
