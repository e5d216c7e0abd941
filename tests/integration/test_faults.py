"""Faults: lambdash keeps working, loses nothing silently, and says clearly what happened.

Each case breaks something on purpose (a sandbox killed mid-command, S3 gone, a
command eating the memory, a full temp dir, a throttling storm, serve restarted
or killed) against the installed ``lambdash`` and a ``lambdash serve`` started for it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import signal
import socket
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
from lambdash.local.s3 import MAX_RESTARTS
from lambdash.local.sandbox import SANDBOX_MARKER
from lambdash.repl import ReplSession
from lambdash.shell.targets import open_shell
from lambdash.terminal import Terminal
from tests.helpers import (
    LAMBDASH,
    Beacon,
    closed_loopback_url,
    embedded_s3_children,
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


def sandbox_processes(sandbox_id: str) -> set[int]:
    """A sandbox's processes and its supervisor: they carry its marker, or (supervisor.py) name its directory."""
    marker, directory = f"{SANDBOX_MARKER}={sandbox_id}".encode(), f"/sandbox-{sandbox_id}\0".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ or (b"lambdash/local/supervisor.py" in cmdline and directory in cmdline):
            found.add(int(entry))
    return found


def local_lambda_workdir(sandbox_id: str) -> Path:
    """The work dir of the local Lambda running this sandbox, named by the sandbox's supervisor (which must run)."""
    for pid in sandbox_processes(sandbox_id):
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        if len(arguments) > 1 and arguments[-2].endswith(b"lambdash/local/supervisor.py"):
            return Path(arguments[-1].decode()).parent
    raise AssertionError(f"no supervisor runs sandbox {sandbox_id}")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--concurrency", "4", "--timeout", "60", "--memory", "256", "--ephemeral-storage", "16") as url:
        yield url


def test_a_sandbox_killed_mid_command_is_one_clear_error_and_the_next_command_works(
    served: str, beacon: Beacon
) -> None:
    running = subprocess.Popen([LAMBDASH, "--endpoint-url", served,
                                f"echo started; {beacon.command('$PPID')}; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runtime = wait_until(lambda: beacon.messages, 20, message="the command never started")[0]
    os.kill(int(runtime), signal.SIGKILL)  # the handler's process: the runtime itself
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
                        "sleep 300 & setsid sleep 301 & (sleep 302 &); echo $LAMBDASH_LOCAL_SANDBOX")
        assert kept.returncode == 0, kept.stderr
        sandbox_id = kept.stdout.decode().strip()
        workdir = local_lambda_workdir(sandbox_id)
        started = sandbox_processes(sandbox_id)
        assert len(started) >= 5, "the supervisor, the runtime and three kept sleeps"
    finally:
        server.kill()
        server.wait()
    wait_until(lambda: not still_running(started), message=lambda: f"still running: {still_running(started)}")
    wait_until(lambda: not workdir.exists(), message=f"{workdir} outlived serve")


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


@pytest.mark.usefixtures("one_shot_path")  # the agent leaves the local sandbox to the caller's own process
def test_a_local_one_shot_stopped_by_sigterm_or_sighup_leaves_nothing_behind() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with Beacon() as beacon:
            running = subprocess.Popen([LAMBDASH, "--local", f"{beacon.command('$LAMBDASH_LOCAL_SANDBOX')}; sleep 300"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            sandbox_id = wait_until(lambda: beacon.messages, 30, message="the command did not start")[0]
        workdir = local_lambda_workdir(sandbox_id)
        started = sandbox_processes(sandbox_id)
        assert len(started) >= 3, "the supervisor, the runtime and the sleep"
        running.send_signal(signum)
        running.communicate(timeout=30)
        assert running.returncode == 128 + signum
        assert still_running(started) == set()
        assert not workdir.exists()


@pytest.mark.usefixtures("one_shot_path")
def test_ctrl_c_mid_stream_exits_130_at_once_and_says_the_command_may_go_on(served: str, tmp_path: Path) -> None:
    running = subprocess.Popen([LAMBDASH, "--endpoint-url", served, "echo begun; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert running.stdout is not None
    assert running.stdout.readline() == b"begun\n"
    running.send_signal(signal.SIGINT)
    _, err = running.communicate(timeout=10)  # the command would run 30 s more: lambdash did not wait for it
    assert running.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "lambdash: interrupted; the remote command may still be running"


def test_serve_that_cannot_keep_its_credential_pair_exits_255_naming_the_file(home: Path) -> None:
    kept = home / ".local" / "state" / "lambdash" / "local-credentials"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.unlink(missing_ok=True)  # the shared serves' pairs, copied in for every test
    kept.mkdir()  # a directory where the file should be
    done = lambdash("serve", "--port", str(free_port()), timeout=60)
    assert done.returncode == 255
    assert done.stderr.decode() == f"lambdash: error: cannot keep the credential pair in {kept}: Is a directory\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--access-key-id", "AKIDGIVEN"], "--access-key-id and --secret-access-key go together; give both, or neither"),
    (["--secret-access-key", "s3cret"], "--access-key-id and --secret-access-key go together; give both, or neither"),
    (["--code-handler", "app.handler"], "--code-handler names the handler of --code DIR; give --code too"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_serve_options_that_go_together_given_alone_are_one_line(args: list[str], message: str) -> None:
    port = free_port()
    done = lambdash("serve", "--port", str(port), *args, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (255, b"", f"lambdash: error: {message}\n".encode())


def test_serve_on_a_port_already_taken_is_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = lambdash("serve", "--port", str(port), timeout=60)
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr == f"lambdash: error: cannot listen on 127.0.0.1:{port}: Address already in use\n".encode()


@pytest.mark.parametrize(("args", "message"), [
    (["serve", "--port", "99999"], "argument --port: port must be from 0 to 65535: 99999"),
    (["serve", "--idle-timeout", "0"], "argument --idle-timeout: the idle timeout must be more than 0 and at most "
                                       "86400 seconds: 0"),
    (["serve", "--idle-timeout", "-1"], "argument --idle-timeout: the idle timeout must be more than 0"),
    (["serve", "--idle-timeout", "nan"], "argument --idle-timeout: the idle timeout must be more than 0"),
    (["serve", "--memory", "64"], "argument --memory: memory must be from 128 to 10240 MB: 64"),
    (["serve", "--concurrency", "0"], "argument --concurrency: concurrency must be from 1 to 1000: 0"),
    (["serve", "--ephemeral-storage", "20000"], "argument --ephemeral-storage: ephemeral storage must be from 1 to "
                                                "10240 MB: 20000"),
    (["serve", "--timeout", "0"], "argument --timeout: must be more than 0 and at most 900 seconds: 0"),
    (["deploy", "--ephemeral-storage", "100"], "argument --ephemeral-storage: ephemeral storage must be from 512 to "
                                               "10240 MB: 100"),
    (["deploy", "--timeout", "901"], "argument --timeout: the function's timeout must be from 1 to 900 seconds: 901"),
    (["census", "-c", "0", "true"], "argument -c/--concurrency: concurrency must be from 1 to 1000: 0"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_a_numeric_option_out_of_its_range_is_one_line_naming_the_option(args: list[str], message: str) -> None:
    done = lambdash(*args, timeout=60)
    assert done.returncode == 255
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"lambdash: error: {message}")
    assert lines[0].endswith(f"(see `lambdash {args[0]} --help`)")


# --- the embedded S3 dies -----------------------------------------------------------------------------------------

def test_a_killed_embedded_s3_is_started_again_on_next_use_a_few_times_and_serve_says_so(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.err"
    with open(log, "wb") as err:
        server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet"], stdout=subprocess.DEVNULL,
                                  stderr=err)
    url = f"http://127.0.0.1:{port}"
    spill = ["--endpoint-url", url, "--no-stream", "head -c 7000000 /dev/urandom"]
    try:
        wait_for_port(port)
        for restart in range(1, MAX_RESTARTS + 2):
            first = lambdash(*spill)
            assert (first.returncode, len(first.stdout), first.stderr) == (0, 7_000_000, b""), restart
            children = embedded_s3_children(server.pid)
            assert len(children) == 1
            os.kill(children.pop(), signal.SIGKILL)
            wait_until(lambda: not embedded_s3_children(server.pid), 30, message="the killed S3 was never reaped")
        # Every restart used: the next spill is cut, and says so, and serve says why.
        cut = lambdash(*spill)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert cut.returncode == 0
    assert 0 < len(cut.stdout) < 7_000_000
    assert b"lambdash: warning: stdout was truncated" in cut.stderr
    lines = log.read_text().splitlines()
    restarted = [line for line in lines if "the embedded S3 had stopped (killed by SIGKILL); started it again" in line]
    assert [line.split("(restart ")[1] for line in restarted] == [f"{n} of at most {MAX_RESTARTS})"
                                                                 for n in range(1, MAX_RESTARTS + 1)]
    assert all(line.startswith("lambdash: warning: local Lambda: ") for line in restarted)
    assert any(f"stopped (killed by SIGKILL) after {MAX_RESTARTS} restarts and is not started again" in line
               for line in lines)
