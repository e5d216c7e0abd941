"""Faults: lambdash keeps working, loses nothing silently, and says clearly what happened.

Each case breaks something on purpose (a sandbox killed mid-command, S3 gone, a
command eating the memory, a full temp dir, a throttling storm, serve restarted
or killed) against the installed ``lambdash`` and a ``lambdash serve`` started for it.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from lambdash.config import Target
from lambdash.local.credentials import pair_for_endpoint
from lambdash.repl import ReplSession
from lambdash.shell.targets import open_shell
from lambdash.terminal import Terminal
from tests.helpers import (
    LAMBDASH,
    closed_loopback_url,
    free_port,
    run_lambdash,
    serving,
    still_running,
    wait_for_port,
    wait_until,
)


def lambdash(*args: str, timeout: float = 120, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[bytes]:
    return run_lambdash(*args, timeout=timeout, env=env)


def served_processes(workdir_hint: str | None = None) -> set[int]:
    """Every process a local Lambda started: sandbox processes carry the marker, supervisors run supervisor.py."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ours = b"LAMBDASH_LOCAL_SANDBOX=" in environ or b"lambdash/local/supervisor.py" in cmdline
        if ours and (workdir_hint is None or workdir_hint.encode() in environ + cmdline):
            found.add(int(entry))
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--concurrency", "4", "--timeout", "60", "--memory", "256", "--ephemeral-storage", "16") as url:
        yield url


def test_a_sandbox_killed_mid_command_is_one_clear_error_and_the_next_command_works(
    served: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "runtime.pid"
    running = subprocess.Popen([LAMBDASH, "--endpoint-url", served,
                                f"echo started; echo $PPID > {pid_file}; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the handler's process: the runtime itself
    out, err = running.communicate(timeout=30)
    assert running.returncode == 255
    assert out == b"started\n"  # streamed before the kill: kept, and the error line comes after it
    lines = err.decode().splitlines()
    assert lines[0].startswith("lambdash: error: the function failed (Runtime.ExitError): "
                               "Runtime exited with error: signal: sigkill [request ")
    assert all(line.startswith("  | ") for line in lines[1:])
    again = lambdash("--endpoint-url", served, "echo back")
    assert (again.returncode, again.stdout) == (0, b"back\n")


def test_s3_down_before_a_spill_cuts_the_output_and_says_why(tmp_path: Path) -> None:
    done = lambdash("--local", "--no-stream", "--bucket", "spills", "head -c 7000000 /dev/urandom; echo end >&2",
                    env={"AWS_ENDPOINT_URL_S3": closed_loopback_url(), "AWS_ACCESS_KEY_ID": "x",
                         "AWS_SECRET_ACCESS_KEY": "x"})
    assert done.returncode == 0
    kept = len(done.stdout)
    assert 4_000_000 < kept < 7_000_000
    warning = done.stderr.decode()
    assert (f"lambdash: warning: stdout was truncated: {7_000_000 - kept} of 7000000 bytes lost because it was too "
            "big to return inline and the spill to s3://spills failed: EndpointConnectionError") in warning
    assert "end\n" in warning


def test_a_command_past_the_memory_limit_kills_its_sandbox_and_the_next_command_works(served: str) -> None:
    hog = ("python3 -c 'import time; b = bytearray(600 * 1024 * 1024); "
           "b[::4096] = b\"x\" * len(b[::4096]); time.sleep(20)'")
    done = lambdash("--endpoint-url", served, hog)
    assert done.returncode == 255
    first = done.stderr.decode().splitlines()[0]
    assert first.startswith("lambdash: error: the function failed (Runtime.OutOfMemory): RequestId: ")
    assert "the function has 256 MB" in first
    again = lambdash("--endpoint-url", served, "echo back")
    assert (again.returncode, again.stdout) == (0, b"back\n")


def test_a_full_temp_dir_is_said_and_freeing_it_brings_the_output_back(served: str) -> None:
    probe = lambdash("--endpoint-url", served, "df -k \"$TMPDIR\" | tail -n 1")
    if b"tmpfs" not in probe.stdout:
        pytest.skip("this kernel does not let the local Lambda give a sandbox a private temp dir")
    # One sandbox, so the second command lands where the first filled the temp dir.
    fill = lambdash("--endpoint-url", served, "--no-stream",
                    "head -c 20000000 /dev/zero > \"$TMPDIR/fill\"; echo after")
    assert fill.returncode == 1  # echo could not write: stdout's own spool file had no room left either
    assert b"after" not in fill.stdout
    assert "lambdash: warning: the sandbox's temp dir " in fill.stderr.decode()
    assert "(16 MB) is full; remove files from it, or give the function more ephemeral storage" \
        in fill.stderr.decode()
    # Streamed, the output goes through pipes, not the full temp dir: it comes back whole.
    streamed = lambdash("--endpoint-url", served, "echo streamed")
    assert (streamed.returncode, streamed.stdout) == (0, b"streamed\n")
    cleaned = lambdash("--endpoint-url", served, "--no-stream", "rm -f \"$TMPDIR/fill\"; echo cleaned")
    assert (cleaned.returncode, cleaned.stdout, cleaned.stderr) == (0, b"cleaned\n", b"")


def test_a_throttling_storm_still_gives_exactly_n_records() -> None:
    with serving("--concurrency", "5", "--timeout", "30") as url:
        done = lambdash("--endpoint-url", url, "census", "--json", "-n", "200", "-c", "20", "echo hi", timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    records = document["records"]
    assert len(records) == 200
    assert sorted(record["index"] for record in records) == list(range(200))


def test_300_invocations_at_c20_each_get_their_own_answer() -> None:
    with serving("--concurrency", "20", "--timeout", "30") as url:
        pair = pair_for_endpoint(url)
        assert pair is not None
        client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
                              config=Config(retries={"total_max_attempts": 1}, max_pool_connections=20,
                                            read_timeout=60))
        wrong: list[str] = []
        lock = threading.Lock()
        pending = list(range(300))

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    pending.pop()
                token = secrets.token_hex(16)
                answer = client.invoke(FunctionName="lambdash",
                                       Payload=json.dumps({"v": 1, "command": f"printf %s {token}"}).encode())
                body = json.loads(answer["Payload"].read())
                if base64.b64decode(body["stdout"]["data"]).decode() != token:
                    with lock:
                        wrong.append(token)

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert wrong == []
    assert pending == []


def test_serve_killed_with_sigkill_leaves_no_process_and_no_temp_dir(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--concurrency", "3", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        kept = lambdash("--endpoint-url", url, "--keep-background",
                        "sleep 300 & setsid sleep 301 & (sleep 302 &); echo $TMPDIR")
        assert kept.returncode == 0, kept.stderr
        workdir = str(Path(kept.stdout.decode().strip()).parent.parent)
        started = served_processes(workdir)
        assert len(started) >= 5, "the supervisor, the runtime and three kept sleeps"
    finally:
        server.kill()
        server.wait()
    wait_until(lambda: not still_running(started), message=lambda: f"still running: {still_running(started)}")
    wait_until(lambda: not Path(workdir).exists(), message=f"{workdir} outlived serve")


# --- the REPL against a serve that restarts, and a long session -------------------------------------------------

def start_serve(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server


def test_serve_restarted_between_two_repl_commands_the_repl_goes_on_with_its_cwd_and_env() -> None:
    port = free_port()
    server = start_serve(port)
    url = f"http://127.0.0.1:{port}"
    terminal = Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    target = Target(function="lambdash", endpoint_url=url, credentials=pair_for_endpoint(url))
    try:
        with open_shell(target) as shell, create_pipe_input() as pipe:
            session = ReplSession(shell, target, terminal, input=pipe, output=DummyOutput())
            ended: list[int] = []
            loop = threading.Thread(target=lambda: ended.append(session.run()))
            loop.start()
            pipe.send_text("cd /usr && export GREETING=kept\r")
            wait_until(lambda: session.shell.state.cwd == "/usr", 30, message="the first command did not finish")
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)
            server = start_serve(port)  # the same port, so the same kept credential pair
            pipe.send_text('echo "$GREETING in $(pwd)"\r')
            wait_until(lambda: b"kept in /usr" in terminal.stdout.getvalue(),  # type: ignore[attr-defined]
                       30, message="the second command did not finish")
            pipe.send_text("\x04")
            loop.join(timeout=30)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    assert ended == [0]
    assert terminal.stderr.getvalue() == b""  # type: ignore[attr-defined]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> set[int]:
    mine = str(os.getpid())
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] == mine:
                    children.add(int(entry))
            except (OSError, IndexError):
                continue
    return children


def test_500_commands_in_one_repl_session_leave_descriptors_and_children_as_they_were() -> None:
    """Counted once the session is warm (its connections made, after 20 commands) and again after 500."""
    port = free_port()
    server = start_serve(port)
    url = f"http://127.0.0.1:{port}"
    target = Target(function="lambdash", endpoint_url=url, credentials=pair_for_endpoint(url))
    out = io.BytesIO()
    terminal = Terminal(stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    try:
        with open_shell(target) as shell, create_pipe_input() as pipe:
            session = ReplSession(shell, target, terminal, input=pipe, output=DummyOutput())
            ended: list[int] = []
            loop = threading.Thread(target=lambda: ended.append(session.run()))
            loop.start()
            pipe.send_text("".join(f"echo {n}\r" for n in range(20)))
            wait_until(lambda: out.getvalue().endswith(b"\n19\n"), 30, message="the first 20 commands did not finish")
            warm = (open_descriptors(), child_processes())
            pipe.send_text("".join(f"echo {n}\r" for n in range(20, 500)))
            wait_until(lambda: out.getvalue().endswith(b"\n499\n"), 120, message="500 commands did not finish")
            after = (open_descriptors(), child_processes())
            pipe.send_text("\x04")
            loop.join(timeout=30)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    assert ended == [0]
    assert out.getvalue().decode().split() == [str(n) for n in range(500)]
    # Nothing piles up per command (other tests' leftovers may close meanwhile, so fewer is fine).
    assert after[0] <= warm[0], f"open descriptors once warm: {warm[0]}, after 500 commands: {after[0]}"
    assert after[1] == warm[1], f"child processes once warm: {warm[1]}, after 500 commands: {after[1]}"


def test_a_kept_background_job_is_frozen_with_its_sandbox(tmp_path: Path) -> None:
    with serving("--concurrency", "1") as url:
        counter = "$TMPDIR/counter"
        started = lambdash("--endpoint-url", url, "--keep-background",
                           f"(n=0; while :; do n=$((n+1)); echo $n > {counter}; echo tick; sleep 0.1; done) & "
                           "echo started")
        assert started.stdout.startswith(b"started\n")
        time.sleep(1.5)  # nothing to wait for: the frozen counter must not move meanwhile
        first = lambdash("--endpoint-url", url, f"cat {counter}; sleep 1; cat {counter}; echo second")
        values = first.stdout.split()
        assert values[-1] == b"second"
        before, during = int(values[0]), int(values[1])
        assert before <= 3, "the counter ran while its sandbox was frozen"
        assert during >= before + 5, "the counter did not resume when its sandbox thawed"
        assert b"tick" not in first.stdout, "a kept job's output landed in another command's output"
        time.sleep(1.5)  # frozen again: the counter must not move meanwhile
        later = lambdash("--endpoint-url", url, f"cat {counter}")
        assert int(later.stdout) <= during + 3


def test_serve_beyond_loopback_warns_of_the_risk() -> None:
    port = free_port()
    server = subprocess.Popen([LAMBDASH, "serve", "--host", "0.0.0.0", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=15)
    first = err.decode().splitlines()[0]
    assert first.startswith("lambdash: warning: listening on 0.0.0.0, beyond loopback: anyone who can reach port ")
    assert "commands and their output cross the network unencrypted" in first


def written(path: Path) -> str:
    """What ``path`` holds, stripped; empty while it does not exist."""
    return path.read_text().strip() if path.exists() else ""


def test_a_local_one_shot_stopped_by_sigterm_or_sighup_leaves_nothing_behind(tmp_path: Path) -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        marker = tmp_path / f"started-{signum}"
        running = subprocess.Popen([LAMBDASH, "--local", f"echo $TMPDIR > {marker}; sleep 300"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(functools.partial(written, marker), 30, message="the command did not start")
        workdir = str(Path(marker.read_text().strip()).parent.parent)
        started = served_processes(workdir)
        assert started
        running.send_signal(signum)
        running.communicate(timeout=30)
        assert running.returncode == 128 + signum
        assert still_running(started) == set()
        assert not Path(workdir).exists()


def test_ctrl_c_mid_stream_exits_130_at_once_and_says_the_command_may_go_on(served: str, tmp_path: Path) -> None:
    running = subprocess.Popen([LAMBDASH, "--endpoint-url", served, "echo begun; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert running.stdout is not None
    assert running.stdout.readline() == b"begun\n"
    running.send_signal(signal.SIGINT)
    _, err = running.communicate(timeout=10)  # the command would run 30 s more: lambdash did not wait for it
    assert running.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "lambdash: interrupted; the remote command may still be running"
