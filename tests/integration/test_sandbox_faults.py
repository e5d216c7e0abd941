"""The local Lambda's sandboxes under attack or accident: what their supervisors show, count and clean up.

Each case runs the installed ``lambdash`` against a ``lambdash serve`` started for it:
secrets in command lines, memory counted as Lambda counts it, a supervisor killed
with SIGKILL, and a Runtime API connection dropped before its invocation came.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdash.local.sandbox import SANDBOX_MARKER
from tests.helpers import LAMBDASH, free_port, run_lambdash, still_running, wait_for_port, wait_until


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def process_tree(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(parent_of(int(entry)), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        pending.extend(children.get(pid, []))
    return found


def marked_processes(sandbox_id: str) -> set[int]:
    """Living processes anywhere on the machine that carry this sandbox's marker."""
    needle = f"{SANDBOX_MARKER}={sandbox_id}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.add(int(entry))
        except OSError:
            continue
    return still_running(found)


@pytest.fixture
def serve_process() -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], str]]]:
    """Starts `lambdash serve --quiet` with the given options; each must stop cleanly (exit 0) on SIGTERM."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*options: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet", *options],
                                  env={**os.environ, **(env or {})},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(server)
        wait_for_port(port)
        return server, f"http://127.0.0.1:{port}"

    yield start
    statuses = []
    for server in started:
        server.send_signal(signal.SIGTERM)
        try:
            statuses.append(server.wait(timeout=15))
        except subprocess.TimeoutExpired:
            server.kill()
            statuses.append(server.wait())
    assert statuses == [0] * len(started), f"lambdash serve exited {statuses} on SIGTERM"


# --- no secret in a command line -------------------------------------------------------------------------------


def test_no_secret_shows_in_the_command_line_of_any_process_serve_starts(
    serve_process: Callable[..., tuple[subprocess.Popen[bytes], str]], tmp_path: Path
) -> None:
    token = secrets.token_hex(8)
    from_env, from_file, aws_key, bucket = (f"hunter2-{token}", f"filehunter-{token}", f"awshunter-{token}",
                                            f"spill-{token}")
    env_file = tmp_path / "function.env"
    env_file.write_text(f"FILE_SECRET={from_file}\n")
    server, url = serve_process(
        "--no-s3", "--bucket", bucket, "--env", f"SECRET_X={from_env}", "--env-file", str(env_file),
        "--concurrency", "2", env={"AWS_ACCESS_KEY_ID": "AKIDLOCALUSER", "AWS_SECRET_ACCESS_KEY": aws_key},
    )
    seen = run_lambdash("--endpoint-url", url, "--keep-background",
                        'sleep 60 & echo "$SECRET_X $FILE_SECRET $AWS_SECRET_ACCESS_KEY $LAMBDASH_BUCKET"')
    assert (seen.returncode, seen.stdout) == (0, f"{from_env} {from_file} {aws_key} {bucket}\n".encode())
    tree = process_tree(server.pid)
    assert len(tree) >= 4, "serve, a supervisor, its runtime and the kept sleep"
    for pid in tree:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        # serve's own line holds what the user typed on it; nothing else holds any of it.
        leaks = [aws_key, from_file] if pid == server.pid else [aws_key, from_file, from_env, bucket]
        for secret in leaks:
            assert secret.encode() not in cmdline, f"process {pid} shows {secret} in {cmdline[:200]!r}"


# --- memory counted as Lambda counts it ------------------------------------------------------------------------


def test_many_small_processes_are_not_out_of_memory_when_their_shared_pages_fit(
    serve_process: Callable[..., tuple[subprocess.Popen[bytes], str]]
) -> None:
    """300 sleeps: their resident sizes add up to about 500 MB, their proportional shares to a fraction of it."""
    _, url = serve_process("--memory", "256", "--timeout", "60")
    done = run_lambdash("--endpoint-url", url, "for i in $(seq 300); do sleep 4 & done; wait; echo done")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"done\n", b"")


def test_a_command_allocating_past_the_memory_size_is_still_out_of_memory(
    serve_process: Callable[..., tuple[subprocess.Popen[bytes], str]]
) -> None:
    _, url = serve_process("--memory", "256", "--timeout", "60")
    hog = ("python3 -c 'import time; b = bytearray(400 * 1024 * 1024); "
           "b[::4096] = b\"x\" * len(b[::4096]); time.sleep(20)'")
    done = run_lambdash("--endpoint-url", url, hog)
    assert done.returncode == 255
    first = done.stderr.decode().splitlines()[0]
    assert first.startswith("lambdash: error: the function failed (Runtime.OutOfMemory): RequestId: ")
    assert "the function has 256 MB" in first
    again = run_lambdash("--endpoint-url", url, "echo back")
    assert (again.returncode, again.stdout) == (0, b"back\n")


# --- a supervisor killed -----------------------------------------------------------------------------------------


def test_a_supervisor_killed_with_sigkill_takes_its_whole_sandbox_along_and_the_next_command_works(
    serve_process: Callable[..., tuple[subprocess.Popen[bytes], str]]
) -> None:
    _, url = serve_process("--concurrency", "1", "--timeout", "30")
    kept = run_lambdash("--endpoint-url", url, "--keep-background",
                        "sleep 300 & a=$!; setsid sleep 301 & b=$!; (sleep 302 &); env -i sleep 303 & c=$!; "
                        'echo $PPID $LAMBDASH_LOCAL_SANDBOX $a $b $c; df -k "$TMPDIR" | tail -n 1')
    assert kept.returncode == 0, kept.stderr
    first, mount = kept.stdout.decode().splitlines()
    runtime, sandbox_id, *jobs = first.split()
    supervisor = parent_of(int(runtime))
    assert b"lambdash/local/supervisor.py" in Path(f"/proc/{supervisor}/cmdline").read_bytes()
    wait_until(lambda: len(marked_processes(sandbox_id)) >= 4, 30,
               message="the runtime and its three marked kept jobs never all ran")
    # `env -i` drops the marker; a sandbox with namespaces of its own (a private temp dir) is known by them too.
    unmarked = {int(jobs[2])} if mount.startswith("tmpfs") else set()
    sandbox = marked_processes(sandbox_id) | unmarked
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: not marked_processes(sandbox_id) and not still_running(sandbox),
               20, message="processes of the sandbox outlived it")
    again = run_lambdash("--endpoint-url", url, "echo back")
    assert (again.returncode, again.stdout) == (0, b"back\n")


# --- a Runtime API connection dropped ----------------------------------------------------------------------------


def test_runtime_api_connections_dropped_while_waiting_for_an_invocation_lose_nothing(
    serve_process: Callable[..., tuple[subprocess.Popen[bytes], str]]
) -> None:
    """Each asks for the next invocation and hangs up; every later invocation still reaches the runtime."""
    _, url = serve_process("--concurrency", "1", "--timeout", "20")
    address = run_lambdash("--endpoint-url", url, "printf %s $AWS_LAMBDA_RUNTIME_API").stdout.decode()
    host, port = address.rsplit(":", 1)
    for _ in range(4):  # beside the runtime's own wait, each dropped one used to take an invocation to nowhere
        with socket.create_connection((host, int(port)), timeout=10) as dropped:
            dropped.sendall(f"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
    for n in range(4):
        done = run_lambdash("--endpoint-url", url, f"echo {n}", timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"{n}\n".encode(), b"")
