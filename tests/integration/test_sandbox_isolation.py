"""The local sandbox is shaped like Lambda's, seen through the installed command on this machine's kernel.

A read-only root (nothing a command writes reaches the host), a private /tmp kept while
the sandbox is warm, an unprivileged uid that cannot win root back, no /dev/shm, no
pseudo-terminal unless `serve --pty`, the code at /var/task and layers at /opt; where
the kernel refuses namespaces, one line says so and nothing runs unless asked to run
on the host.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import LAMBDASH, run_lambdash, serving

HAS_UNSHARE = shutil.which("unshare") is not None


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """One sandbox, so a second command lands where the first ran."""
    with serving("--concurrency", "1", "--ephemeral-storage", "64") as url:
        yield url


def lambdash(url: str, command: str) -> subprocess.CompletedProcess[bytes]:
    return run_lambdash("--endpoint-url", url, command)


def test_a_write_to_etc_fails_read_only_and_nothing_reaches_the_host(served: str) -> None:
    name = f"lambdash-test-{secrets.token_hex(6)}"
    # As `vi /etc/hosts` would: its swap file next to the file.
    done = lambdash(served, f"touch /etc/.{name}.swp; mkdir /usr/{name}")
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        f"touch: cannot touch '/etc/.{name}.swp': Read-only file system",
        f"mkdir: cannot create directory '/usr/{name}': Read-only file system",
    ]
    assert not Path("/etc", f".{name}.swp").exists()
    assert not Path("/usr", name).exists()


def test_tmp_is_the_sandboxs_own_and_kept_while_it_is_warm(served: str, tmp_path: Path) -> None:
    name = f"lambdash-test-{secrets.token_hex(6)}"
    on_the_host = Path("/tmp", f"{name}-host")
    on_the_host.write_text("the host's\n")
    try:
        first = lambdash(served, f"echo kept > /tmp/{name}; ls /tmp/{on_the_host.name}; "
                                 'echo "$TMPDIR $LAMBDASH_LOCAL_SANDBOX"; df -k /tmp | tail -n 1')
        assert first.returncode == 0
        assert b"No such file or directory" in first.stderr  # the host's file is not there
        tmpdir, sandbox_id = first.stdout.decode().splitlines()[0].split()
        assert tmpdir == "/tmp"
        assert first.stdout.decode().splitlines()[1].split()[:2] == ["tmpfs", str(64 * 1024)]  # --ephemeral-storage
        assert not Path("/tmp", name).exists()
        # The same warm sandbox sees its file; a user's `rm -rf /tmp/*` empties that /tmp only.
        second = lambdash(served, f'cat /tmp/{name}; echo "$LAMBDASH_LOCAL_SANDBOX"; rm -rf /tmp/*; ls -A /tmp')
        # A Python that lives under /tmp (a checkout there) stays visible, read-only, where it is: nothing else.
        python = Path(sys.executable)
        left = f"{python.relative_to('/tmp').parts[0]}\n" if python.is_relative_to("/tmp") else ""
        assert (second.returncode, second.stdout) == (0, f"kept\n{sandbox_id}\n{left}".encode())
        assert on_the_host.read_text() == "the host's\n"
    finally:
        on_the_host.unlink()


def test_commands_run_as_an_unprivileged_uid_that_cannot_win_root_back(served: str) -> None:
    done = lambdash(served, "id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    assert done.stdout.decode().split() == ["993", "990", "CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    regain = lambdash(served, "python3 -c 'import os; os.setuid(0)' 2>/dev/null || echo no setuid; "
                              "unshare -r sh -c 'mount -o remount,rw / || touch /etc/passwd' 2>/dev/null || echo no rw")
    assert regain.stdout == b"no setuid\nno rw\n"


def test_there_is_no_shared_memory_as_on_lambda(served: str) -> None:
    done = lambdash(served, "python3 -c 'import multiprocessing; multiprocessing.Queue()'")
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1].startswith("OSError: ")


def test_there_is_no_pseudo_terminal_unless_serve_is_given_pty(served: str) -> None:
    openpty = "python3 -c 'import os; os.openpty(); print(\"opened\")'"
    without = lambdash(served, openpty)
    assert without.returncode == 1
    assert without.stderr.decode().splitlines()[-1].startswith("OSError: ")
    with serving("--pty") as url:
        given = lambdash(url, f"{openpty}; touch /etc/pty-test 2>/dev/null || echo read-only")
    assert (given.returncode, given.stdout, given.stderr) == (0, b"opened\nread-only\n", b"")


def test_the_code_is_at_var_task_read_only(served: str) -> None:
    done = lambdash(served, 'echo "$LAMBDA_TASK_ROOT"; ls /var/task/lambdash_handler/app.py; touch /var/task/x')
    assert done.stdout == b"/var/task\n/var/task/lambdash_handler/app.py\n"
    assert b"Read-only file system" in done.stderr


def test_layers_are_merged_under_opt_read_only_the_later_over_the_earlier(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for layer, name in ((first, "one"), (second, "two")):
        (layer / "python" / "lib").mkdir(parents=True)
        (layer / "python" / "lib" / f"{name}.py").write_text(f"{name}\n")
        (layer / "both").write_text(f"{name}\n")
    with serving("--layer", str(first), "--layer", str(second)) as url:
        merged = lambdash(url, "ls /opt; ls /opt/python/lib; cat /opt/both; touch /opt/x")
    assert merged.stdout == b"both\npython\none.py\ntwo.py\ntwo\n"
    assert b"Read-only file system" in merged.stderr
    with serving("--layer", str(first)) as url:
        alone = lambdash(url, "cat /opt/both /opt/python/lib/one.py")
    assert alone.stdout == b"one\none\n"


def test_a_sandbox_that_cannot_be_built_is_one_clear_error(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    with serving("--layer", str(layer)) as url:
        layer.rmdir()  # gone before the first sandbox lays it under /opt
        done = lambdash(url, "echo never")
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr.decode().splitlines()[0].startswith(
        "lambdash: error: the function failed (Runtime.Unknown): the local sandbox could not be built: "
        f"{layer}: No such file or directory [request ")


def test_a_layer_that_is_not_a_directory_is_one_line() -> None:
    done = run_lambdash("serve", "--layer", "/nonexistent/layer")
    assert (done.returncode, done.stderr) == (255, b"lambdash: error: --layer /nonexistent/layer: not a directory\n")


def test_pty_and_layers_need_the_isolated_sandbox() -> None:
    done = run_lambdash("serve", "--unisolated", "--pty")
    assert (done.returncode, done.stderr) == (
        255, b"lambdash: error: --layer and --pty need the isolated sandbox: leave out --unisolated "
             b"(LAMBDASH_UNISOLATED)\n")


def test_inventory_shows_the_sandboxs_view(served: str) -> None:
    done = run_lambdash("--endpoint-url", served, "inventory", "--json")
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)["sections"]
    assert inventory["user"]["uid"] == 993
    mounts = {entry["mountpoint"]: entry for entry in inventory["mounts"]["entries"]}
    assert mounts["/"]["options"].startswith("ro,")
    assert mounts["/var/task"]["options"].startswith("ro,")
    assert inventory["tmp"]["size_bytes"] == 64 * 1024 * 1024


# --- where the kernel refuses namespaces ---------------------------------------------------------------------


def refusing_kernel(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed lambdash in a user namespace whose kernel limit allows no more: as a distribution refusing them.

    Inside, user.max_user_namespaces is 0 (a user namespace's root may lower it), so
    the unshare of a sandbox fails as it fails under that sysctl, ENOSPC.
    """
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    return subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", LAMBDASH, *arguments],
                          capture_output=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.skipif(not HAS_UNSHARE, reason="needs util-linux's unshare")
@pytest.mark.parametrize("arguments", [("--local", "echo ran"), ("serve", "--port", "0")])
def test_a_kernel_refusing_namespaces_is_said_in_one_line_and_nothing_runs(arguments: tuple[str, ...]) -> None:
    done = refusing_kernel(*arguments)
    assert (done.returncode, done.stdout) == (255, b"")
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == (
        "lambdash: error: the local sandbox cannot be isolated: this kernel refuses it user and mount namespaces "
        "(unshare: No space left on device), so commands would run on your machine as you, with your real /, /tmp "
        "and /etc writable; allow them with `sudo sysctl -w user.max_user_namespaces=15000`, or run them there on "
        "purpose: `lambdash serve --unisolated`, or LAMBDASH_UNISOLATED=1 for --local"
    )


@pytest.mark.skipif(not HAS_UNSHARE, reason="needs util-linux's unshare")
def test_asked_to_run_unisolated_it_runs_on_the_host() -> None:
    name = f"lambdash-test-{secrets.token_hex(6)}"
    try:
        done = refusing_kernel("--local", f"touch /tmp/{name} && echo written", env={"LAMBDASH_UNISOLATED": "1"})
        assert (done.returncode, done.stdout, done.stderr) == (0, b"written\n", b"")
        assert Path("/tmp", name).exists()
    finally:
        Path("/tmp", name).unlink(missing_ok=True)


def test_serve_unisolated_warns_that_commands_run_on_the_host() -> None:
    server = subprocess.Popen([LAMBDASH, "serve", "--port", "0", "--unisolated"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    assert server.stderr is not None
    first = server.stderr.readline().decode()
    server.terminate()
    server.communicate(timeout=15)
    assert first == ("lambdash: warning: sandboxes run unisolated, on the host as you: commands read and write your "
                     "real /, /tmp and home; only TMPDIR is private\n")


@pytest.mark.skipif(not HAS_UNSHARE, reason="needs util-linux's unshare")
def test_a_caller_who_may_map_only_their_own_uid_still_gets_an_isolated_sandbox() -> None:
    """Root of a user namespace holding only uid 0 maps no 993 of its own: the sandbox's 993 is the caller."""
    done = subprocess.run(["unshare", "--user", "--map-root-user", LAMBDASH, "--local",
                           "id -u; touch /etc/lambdash-test 2>&1; echo x > /tmp/x && cat /tmp/x"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "993"
    assert "Read-only file system" in lines[1]
    assert lines[2] == "x"
    assert not Path("/etc/lambdash-test").exists()


def test_a_user_who_is_not_root_gets_the_same_sandbox() -> None:
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", 'exec "$@"', "sh"]
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run lambdash as nobody")
    if subprocess.run([*as_nobody, LAMBDASH, "--help"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("nobody may not run the installed lambdash here (its Python is under a private directory)")
    home = Path(tempfile.mkdtemp(prefix="lambdash-test-nobody-"))
    try:
        os.chown(home, 65534, 65534)
        command = "id -u; touch /etc/x 2>&1; echo x > /tmp/x && cat /tmp/x"
        done = subprocess.run([*as_nobody, LAMBDASH, "--local", command], capture_output=True, timeout=120, cwd=home,
                              env={**os.environ, "HOME": str(home)})
    finally:
        shutil.rmtree(home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"993\ntouch: cannot touch '/etc/x': Read-only file system\nx\n"
