"""The files lambdash keeps in its state dir are trusted only when they are the user's own.

Through the installed command: a link there is never followed (its target stays
untouched), and a file another uid owns or others could write is refused with one
`lambdash: error:` line naming it, before anything runs. The tests run as root, so
another user's file is made by chown to 65534 (nobody).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lambdash.config import Target
from lambdash.paths import UnsafeStateFile
from lambdash.repl.history import history_path, open_history
from tests.helpers import LAMBDASH, Beacon, config_file, free_port, run_lambdash, state_dir

NOBODY = 65534
TARGET_TEXT = b"[default]\naws_access_key_id = AKIAREALUSERKEY\n"


def planted(home: Path, name: str) -> Path:
    directory = state_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    path.unlink(missing_ok=True)
    return path


def serve_once(port: int) -> subprocess.CompletedProcess[bytes]:
    """`lambdash serve` where it must refuse to start: it ends by itself."""
    return subprocess.run([LAMBDASH, "serve", "--port", str(port), "--quiet"], capture_output=True, timeout=60)


def test_serve_never_rewrites_what_a_local_credentials_link_points_to(home: Path) -> None:
    aws = home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_bytes(TARGET_TEXT)
    path = planted(home, "local-credentials")
    path.symlink_to(aws / "credentials")
    served = serve_once(free_port())
    assert served.returncode == 255
    assert served.stderr == (f"lambdash: error: refusing {path}: it is a symbolic link, and lambdash follows none "
                             "in its state dir (remove it)\n").encode()
    assert (aws / "credentials").read_bytes() == TARGET_TEXT


def test_serve_refuses_a_credential_pair_planted_by_another_user(home: Path) -> None:
    path = planted(home, "local-credentials")
    port = free_port()
    path.write_text(f"[lambdash-local-127.0.0.1-{port}]\naws_access_key_id = PLANTED\n"
                    "aws_secret_access_key = known-to-them\n")
    path.chmod(0o600)
    os.chown(path, NOBODY, NOBODY)
    served = serve_once(port)
    assert served.returncode == 255
    assert served.stderr == (f"lambdash: error: refusing {path}: it belongs to uid {NOBODY}, not to you "
                             f"(uid {os.geteuid()}); remove it\n").encode()
    # A client never signs with a pair another user left there either.
    used = run_lambdash("--endpoint-url", f"http://127.0.0.1:{port}", "true")
    assert used.returncode == 255
    assert used.stderr.startswith(f"lambdash: error: refusing {path}: it belongs to uid {NOBODY}".encode())


def test_an_audit_log_others_can_write_is_refused_before_the_command_runs(home: Path) -> None:
    path = planted(home, "audit.jsonl")
    path.write_bytes(b"")
    path.chmod(0o666)
    with Beacon() as beacon:
        done = run_lambdash("--local", f"{beacon.command()}; echo password=hunter2")
        assert done.returncode == 255
        assert done.stderr == (f"lambdash: error: refusing {path}: others can write it (mode 666); "
                               f"fix it with `chmod 600 {path}`\n").encode()
        assert beacon.messages == []
        assert path.read_bytes() == b""
        path.chmod(0o600)  # the fix it names works, and the same command then runs (and is heard)
        assert run_lambdash("--local", f"{beacon.command()}; echo ok").stdout == b"ok\n"
        assert beacon.messages == ["ran"]
    assert b'echo ok"' in path.read_bytes()


def test_an_audit_log_of_another_user_or_a_link_is_refused(home: Path, tmp_path: Path) -> None:
    path = planted(home, "audit.jsonl")
    path.write_bytes(b"")
    path.chmod(0o600)
    os.chown(path, NOBODY, NOBODY)
    done = run_lambdash("--local", "echo secret")
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr.startswith(f"lambdash: error: refusing {path}: it belongs to uid {NOBODY}".encode())
    path.unlink()
    elsewhere = tmp_path / "elsewhere"
    path.symlink_to(elsewhere)
    done = run_lambdash("--local", "echo secret")
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr.startswith(f"lambdash: error: refusing {path}: it is a symbolic link".encode())
    assert not elsewhere.exists()


def test_a_linked_redaction_key_is_refused(home: Path, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("00" * 32 + "\n")
    path = planted(home, "redaction-key")
    path.symlink_to(key)
    done = run_lambdash("--local", "inventory", "--json")
    assert done.returncode == 255
    assert done.stderr.startswith(f"lambdash: error: refusing {path}: it is a symbolic link".encode())


def test_a_history_file_that_is_a_link_or_not_ours_is_refused(home: Path, tmp_path: Path) -> None:
    target = Target(local=True)
    path = history_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    bashrc = tmp_path / "bashrc"
    bashrc.write_text("# mine\n")
    bashrc.chmod(0o644)
    path.symlink_to(bashrc)
    with pytest.raises(UnsafeStateFile, match="it is a symbolic link"):
        open_history(target)
    path.unlink()
    path.write_text("")
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(UnsafeStateFile, match=f"belongs to uid {NOBODY}"):
        open_history(target)


def test_making_the_state_dir_private_goes_through_no_link(home: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared.txt"
    shared.write_text("x")
    shared.chmod(0o644)
    path = planted(home, "history-local")
    path.symlink_to(shared)
    run_lambdash("--local", "--no-audit", "true")
    done = run_lambdash("--local", "true")  # the audit log's setup tightens the state dir
    assert done.returncode == 0, done.stderr
    assert shared.stat().st_mode & 0o777 == 0o644


def test_a_config_file_every_user_can_change_is_read_with_a_warning(home: Path) -> None:
    path = config_file(home)
    path.parent.mkdir(parents=True)
    path.write_text('region = "eu-west-1"\n')
    path.chmod(0o666)
    done = run_lambdash("--local", "echo ok")
    assert done.returncode == 0
    assert done.stdout == b"ok\n"
    assert done.stderr == (f"lambdash: warning: {path} can be changed by every user (mode 666), and it chooses "
                           f"where commands run; fix it with `chmod 644 {path}`\n").encode()
