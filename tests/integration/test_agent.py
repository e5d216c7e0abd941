"""The agent, through the installed command: who it serves, what it keeps warm, how it ends, and who may use it.

The one-shot behaviours themselves (bytes, statuses, signals, stdin, spills, --json,
errors) are asserted both ways by the one-shot suites (``one_shot_path``); here is
what only the agent has.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lambdash.agent.directory import SOCKET_NAME
from lambdash.agent.protocol import REFUSED, REQUEST, frame, read_frame
from tests.helpers import LAMBDASH, config_file, run_lambdash, serving, still_running, wait_until
from tests.helpers.servers import running, url_of

lambdash = run_lambdash


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--timeout", "30") as url:
        yield url


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR, with the agent on; the agent it gets is stopped afterwards."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("LAMBDASH_AGENT", "300")
    yield runtime
    status = agent_status()
    lambdash("agent", "stop")
    if status is not None:
        wait_until(lambda: not still_running({status["pid"]}), message="the agent did not stop")


def agent_status() -> dict[str, Any] | None:
    """What `lambdash agent status --json` says of the running agent; None when none runs."""
    done = lambdash("agent", "status", "--json")
    document: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if document["running"] else 1), done.stderr
    return document if document["running"] else None


def served_count() -> int:
    """How many requests the running agent has served."""
    status = agent_status()
    assert status is not None, "no agent is running"
    served: int = status["served"]
    return served


def wait_for_agent(message: str) -> dict[str, Any]:
    """The status of the agent, once one runs."""
    status = wait_until(agent_status, message=message)
    assert status is not None
    return status


def start_agent() -> dict[str, Any]:
    started = lambdash("agent", "start")
    assert started.returncode == 0, started.stderr
    status = agent_status()
    assert status is not None
    return status


def test_the_first_one_shot_starts_the_agent_and_later_ones_go_through_it(runtime_dir: Path, served: str) -> None:
    assert agent_status() is None
    first = lambdash("--endpoint-url", served, "echo one")
    assert (first.returncode, first.stdout, first.stderr) == (0, b"one\n", b"")
    status = wait_for_agent("the first one-shot did not start the agent")
    assert status["served"] == 0  # the first one ran in its own process
    for word in ("two", "three"):
        done = lambdash("--endpoint-url", served, f"echo {word}; echo to-err >&2; exit 4")
        assert (done.returncode, done.stdout, done.stderr) == (4, f"{word}\n".encode(), b"to-err\n")
    status = wait_for_agent("the agent went away")
    assert status["served"] == 2
    assert status["idle_timeout"] == 300
    assert status["socket"] == str(runtime_dir / "lambdash" / SOCKET_NAME)
    assert [warm["target"] for warm in status["warm"]] == [f"lambdash @ {served}"]
    assert status["warm"][0]["requests"] == 2


@pytest.mark.parametrize("through_agent", [True, False])
def test_the_remote_command_gets_the_size_of_the_callers_terminal(runtime_dir: Path, served: str,
                                                                 through_agent: bool) -> None:
    controller, shown_on = pty.openpty()
    fcntl.ioctl(shown_on, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
    start_agent()
    try:
        done = subprocess.run([LAMBDASH, "--endpoint-url", served, *([] if through_agent else ["--no-agent"]),
                               "echo size $COLUMNS x $LINES"], stdin=subprocess.DEVNULL, stdout=shown_on,
                              stderr=subprocess.PIPE, timeout=120)
        os.close(shown_on)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0, done.stderr
    assert bytes(shown) == b"size 97 x 31\r\n"
    assert served_count() == (1 if through_agent else 0)


def test_functions_reached_the_same_way_share_one_warm_client(runtime_dir: Path, served: str) -> None:
    start_agent()
    assert lambdash("-f", "lambdash", "--endpoint-url", served, "true").returncode == 0
    missing = lambdash("-f", "other", "--endpoint-url", served, "true")
    assert missing.returncode == 255
    assert missing.stderr.startswith(b"lambdash: error: function 'other' not found")
    assert lambdash("-f", "lambdash", "--endpoint-url", served, "true").returncode == 0
    warm = wait_for_agent("the agent went away")["warm"]
    assert [(entry["target"], entry["requests"]) for entry in warm] == [(f"lambdash, other @ {served}", 3)]


def test_status_for_people_names_the_pid_socket_timeout_targets_and_requests(runtime_dir: Path, served: str) -> None:
    pid = start_agent()["pid"]
    lambdash("--endpoint-url", served, "true")
    wait_until(lambda: wait_for_agent("the agent went away")["in_progress"] == 0,
               message="the agent's worker did not end")
    done = lambdash("agent", "status")
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith(f"agent running, pid {pid}, up ")
    assert lines[1] == f"  socket        {runtime_dir / 'lambdash' / SOCKET_NAME}"
    assert re.fullmatch(r"  idle timeout  300 s \(idle for [0-9.]+ s\)", lines[2])
    assert lines[3] == "  requests      1 served, 0 in progress"
    assert lines[4] == "  warm targets  1"
    assert re.fullmatch(rf"    lambdash @ {re.escape(served)}  settings [0-9a-f]{{12}}  1 requests", lines[5])


def test_stop_ends_it_and_status_then_says_none_runs(runtime_dir: Path) -> None:
    pid = start_agent()["pid"]
    stopped = lambdash("agent", "stop")
    assert stopped.returncode == 0
    assert stopped.stderr == f"lambdash: stopped the agent (pid {pid})\n".encode()
    wait_until(lambda: not still_running({pid}), message="the agent did not leave")
    done = lambdash("agent", "status")
    assert done.returncode == 1
    socket_path = runtime_dir / "lambdash" / SOCKET_NAME
    assert done.stdout == f"no agent is running (its socket would be {socket_path})\n".encode()
    assert not (runtime_dir / "lambdash" / SOCKET_NAME).exists()
    assert lambdash("agent", "stop").stderr == b"lambdash: no agent is running\n"


def test_no_agent_and_the_local_sandbox_run_in_the_callers_own_process(
    runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_agent()
    done = lambdash("--no-agent", "--endpoint-url", served, "echo here")
    assert (done.returncode, done.stdout) == (0, b"here\n")
    local = lambdash("--local", "echo local")
    assert (local.returncode, local.stdout, local.stderr) == (0, b"local\n", b"")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # else it would be a target of its own
    defaulted = lambdash("echo defaulted")
    assert (defaulted.returncode, defaulted.stdout) == (0, b"defaulted\n")
    assert b"no function configured; running on the local sandbox" in defaulted.stderr
    status = agent_status()
    assert status is not None
    assert status["served"] == 0


def test_subcommands_and_no_agent_never_start_an_agent(runtime_dir: Path, served: str) -> None:
    assert lambdash("--no-agent", "--endpoint-url", served, "true").returncode == 0
    assert lambdash("--version").returncode == 0
    assert lambdash("--endpoint-url", served, "get", "/no/such/file", str(runtime_dir / "x")).returncode == 255
    assert agent_status() is None


def test_an_agent_killed_with_sigkill_is_replaced_and_its_socket_cleaned_up(runtime_dir: Path, served: str) -> None:
    old = start_agent()["pid"]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not still_running({old}), message="the agent survived SIGKILL")
    assert (runtime_dir / "lambdash" / SOCKET_NAME).exists()  # left behind
    done = lambdash("--endpoint-url", served, "echo still works")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"still works\n", b"")
    new = wait_for_agent("no new agent started")
    assert new["pid"] != old
    assert lambdash("--endpoint-url", served, "echo through the new one").stdout == b"through the new one\n"
    assert served_count() == 1


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    return {int(line) for line in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_a_worker_killed_mid_command_is_one_line_and_exit_255(runtime_dir: Path, served: str) -> None:
    agent = start_agent()["pid"]
    running = subprocess.Popen([LAMBDASH, "--endpoint-url", served, "echo started; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert running.stdout is not None
    assert running.stdout.readline() == b"started\n"
    (worker,) = children_of(agent)
    os.kill(worker, signal.SIGKILL)
    _, err = running.communicate(timeout=30)
    assert running.returncode == 255
    assert err == (b"lambdash: error: the agent stopped before the command ended; the remote command may still be "
                   b"running (`lambdash --no-agent ...` runs without it)\n")
    assert lambdash("--endpoint-url", served, "echo next").stdout == b"next\n"  # the agent itself goes on


def test_status_removes_the_socket_of_an_agent_that_is_gone(runtime_dir: Path) -> None:
    pid = start_agent()["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not still_running({pid}), message="the agent survived SIGKILL")
    socket_path = runtime_dir / "lambdash" / SOCKET_NAME
    done = lambdash("agent", "status")
    assert done.returncode == 1
    assert done.stderr == f"lambdash: removed the socket {socket_path} of an agent that is gone\n".encode()
    assert not socket_path.exists()


def test_the_idle_timeout_ends_the_agent(runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDASH_AGENT", "2")
    pid = start_agent()["pid"]
    assert lambdash("--endpoint-url", served, "true").returncode == 0
    wait_until(lambda: not still_running({pid}), timeout=30, message="the agent outlived its idle timeout")
    assert agent_status() is None
    assert not (runtime_dir / "lambdash" / SOCKET_NAME).exists()


def test_a_request_running_longer_than_the_idle_timeout_keeps_the_agent(
    runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMBDASH_AGENT", "3")
    pid = start_agent()["pid"]
    done = lambdash("--endpoint-url", served, "sleep 6; echo done")
    assert (done.returncode, done.stdout) == (0, b"done\n")
    assert still_running({pid})  # it was busy: its idle time starts when the request ends
    assert served_count() == 1
    wait_until(lambda: not still_running({pid}), timeout=30, message="the agent outlived its idle timeout")


@pytest.mark.parametrize("agent_running", [False, True], ids=["no-agent-yet", "agent-running"])
def test_a_bad_setting_is_one_line(runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch,
                                   home: Path, agent_running: bool) -> None:
    if agent_running:
        start_agent()
    monkeypatch.setenv("LAMBDASH_AGENT", "soon")
    done = lambdash("--endpoint-url", served, "true")
    assert done.returncode == 255
    assert done.stderr == (b"lambdash: error: LAMBDASH_AGENT must be a number of seconds the agent stays idle "
                           b"(0 turns it off): 'soon'\n")
    monkeypatch.delenv("LAMBDASH_AGENT")
    config = config_file(home)
    config.parent.mkdir(parents=True)
    config.write_text('agent = "later"\n')
    done = lambdash("--endpoint-url", served, "true")
    assert done.returncode == 255
    assert done.stderr == (f"lambdash: error: {config}: agent must be a number of seconds the agent stays idle "
                           "(0 turns it off): 'later'\n").encode()
    config.unlink()  # so the agent can be stopped


def test_the_config_files_agent_key_turns_it_on(runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch,
                                                home: Path) -> None:
    monkeypatch.delenv("LAMBDASH_AGENT")
    config = config_file(home)
    config.parent.mkdir(parents=True)
    config.write_text("agent = 120\n")
    assert lambdash("--endpoint-url", served, "true").returncode == 0
    status = wait_for_agent("the config file's agent key did not start the agent")
    assert status["idle_timeout"] == 120
    config.write_text("agent = 0\n")  # off for this caller: the running agent declines
    assert lambdash("--endpoint-url", served, "true").returncode == 0
    assert served_count() == 0


# --- security ------------------------------------------------------------------------------


def test_the_agents_directory_and_socket_are_private(runtime_dir: Path) -> None:
    start_agent()
    directory = runtime_dir / "lambdash"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert directory.stat().st_uid == os.getuid()
    assert stat.S_IMODE((directory / SOCKET_NAME).stat().st_mode) == 0o600


def test_without_the_agent_state_dir_fallback_is_private_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             home: Path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("LAMBDASH_AGENT", "300")
    status = start_agent()
    try:
        directory = home / ".local" / "state" / "lambdash" / "agent"
        assert status["socket"] == str(directory / SOCKET_NAME)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    finally:
        lambdash("agent", "stop")


@pytest.mark.parametrize(("mode", "owner", "problem"), [
    (0o755, None, "is open to others (mode 755); it must be private: run `chmod 700 {path}` or remove it"),
    (0o700, 65534, "belongs to uid 65534, not to you (uid 0): another user could stand in for the agent; remove it"),
], ids=["mode", "owner"])
def test_a_directory_that_is_not_private_is_refused_naming_it(
    runtime_dir: Path, served: str, monkeypatch: pytest.MonkeyPatch, mode: int, owner: int | None, problem: str
) -> None:
    if owner is not None and os.getuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    directory = runtime_dir / "lambdash"
    directory.mkdir(mode=mode)
    directory.chmod(mode)
    if owner is not None:
        os.chown(directory, owner, owner)
    try:
        done = lambdash("--endpoint-url", served, "true")
        assert done.returncode == 255
        assert done.stderr == f"lambdash: error: the agent's directory {directory} {problem}\n".format(
            path=directory).encode()
        assert lambdash("agent", "start").stderr == done.stderr
        monkeypatch.setenv("LAMBDASH_AGENT", "0")  # with the agent off, the directory is none of lambdash's business
        fine = lambdash("--endpoint-url", served, "echo fine")
        assert (fine.returncode, fine.stdout, fine.stderr) == (0, b"fine\n", b"")
    finally:
        shutil.rmtree(directory)


_AS_ANOTHER_USER = """
import os, socket, sys
from lambdash.agent.protocol import REQUEST, frame, read_frame
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    connection.connect(sys.argv[1])
except OSError as problem:
    print("connect:", type(problem).__name__)
    sys.exit(0)
try:
    connection.sendall(frame(REQUEST, b'{"v": 1, "argv": ["true"]}'))
except OSError:
    pass  # refused before it was read
answer = read_frame(connection)
print("answer:", answer)
"""


@pytest.fixture
def traversable_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runtime dir another user may pass through (pytest's own temporary dirs are closed to others)."""
    runtime = Path(tempfile.mkdtemp(prefix="lambdash-agent-test-"))
    runtime.chmod(0o711)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("LAMBDASH_AGENT", "300")
    try:
        yield runtime
    finally:
        lambdash("agent", "stop")
        shutil.rmtree(runtime)


@pytest.mark.skipif(os.getuid() != 0, reason="connecting as another user needs root")
def test_another_user_cannot_reach_the_socket_and_is_refused_if_it_could(traversable_runtime_dir: Path,
                                                                         served: str) -> None:
    start_agent()
    directory = traversable_runtime_dir / "lambdash"
    socket_path = str(directory / SOCKET_NAME)
    blocked = subprocess.run([sys.executable, "-c", _AS_ANOTHER_USER, socket_path], capture_output=True, text=True,
                             timeout=30)
    assert blocked.stdout == "connect: PermissionError\n", blocked.stderr
    # Even where the directory let them through, the agent checks who is calling (SO_PEERCRED).
    directory.chmod(0o711)
    os.chmod(socket_path, 0o777)
    try:
        refused = subprocess.run([sys.executable, "-c", _AS_ANOTHER_USER, socket_path], capture_output=True,
                                 text=True, timeout=30)
    finally:
        directory.chmod(0o700)
        os.chmod(socket_path, 0o600)
    assert refused.stdout == f"answer: ({REFUSED!r}, b'this lambdash agent serves only uid 0')\n", refused.stderr
    status = agent_status()
    assert status is not None
    assert status["served"] == 0
    assert lambdash("--endpoint-url", served, "echo mine").stdout == b"mine\n"  # its own user is still served


def test_a_request_from_this_user_is_answered_on_the_socket(runtime_dir: Path) -> None:
    """The check above is not vacuous: the same frames from this user get an answer other than a refusal."""
    start_agent()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(runtime_dir / "lambdash" / SOCKET_NAME))
        connection.sendall(frame(REQUEST, json.dumps({"v": 1, "argv": ["agent"], "env": dict(os.environ), "cwd": "/",
                                                      "tty": [False, False, False]}).encode()))
        answer = read_frame(connection)
    assert answer is not None
    assert answer[0] != REFUSED


# --- staleness: a change in the caller's AWS settings gets another client ---------------------


class _EchoSigner(BaseHTTPRequestHandler):
    """A Lambda endpoint that answers every invoke 'not found', naming the key and region it was signed with."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = re.search(r"Credential=([^/]+)/\d+/([^/]+)/", self.headers.get("Authorization", ""))
        key, region = found.groups() if found else ("none", "none")
        body = json.dumps({"Type": "User", "message": f"signed by {key} for {region}"}).encode()
        self.send_response(404)
        self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoSigner)
    with running(server):
        yield url_of(server)


def signed_by(endpoint: str, env: dict[str, str]) -> str:
    done = lambdash("-f", "fn", "--endpoint-url", endpoint, "true", env=env)
    assert done.returncode == 255
    found = re.fullmatch(rb"lambdash: error: function 'fn' not found: signed by (\S+) for (\S+); "
                         rb"create it with `lambdash deploy`\n", done.stderr)
    assert found, done.stderr
    return f"{found.group(1).decode()} {found.group(2).decode()}"


def test_a_change_in_the_callers_aws_settings_gets_another_client_never_a_stale_one(
    runtime_dir: Path, echo_endpoint: str, home: Path
) -> None:
    start_agent()
    credentials = home / ".aws" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text("[p1]\naws_access_key_id = PROFILEONE\naws_secret_access_key = s\n"
                           "[p2]\naws_access_key_id = PROFILETWO\naws_secret_access_key = s\n")
    keys = {"AWS_ACCESS_KEY_ID": "KEYA", "AWS_SECRET_ACCESS_KEY": "secret"}
    steps = [
        ({**keys, "AWS_REGION": "eu-west-1"}, "KEYA eu-west-1"),
        ({**keys, "AWS_REGION": "us-west-2"}, "KEYA us-west-2"),
        ({**keys, "AWS_ACCESS_KEY_ID": "KEYB", "AWS_REGION": "us-west-2"}, "KEYB us-west-2"),
        ({"AWS_PROFILE": "p1", "AWS_REGION": "us-west-2"}, "PROFILEONE us-west-2"),
        ({"AWS_PROFILE": "p2", "AWS_REGION": "us-west-2"}, "PROFILETWO us-west-2"),
        ({**keys, "AWS_REGION": "eu-west-1"}, "KEYA eu-west-1"),  # the first settings again: the first client
    ]
    for env, expected in steps:
        assert signed_by(echo_endpoint, env) == expected
    # The same profile with its key changed in the credentials file, and a region from the config file.
    credentials.write_text("[p1]\naws_access_key_id = PROFILEONENEW\naws_secret_access_key = s\n")
    assert signed_by(echo_endpoint, {"AWS_PROFILE": "p1", "AWS_REGION": "us-west-2"}) == "PROFILEONENEW us-west-2"
    config = config_file(home)
    config.parent.mkdir(parents=True)
    config.write_text('region = "ap-south-1"\n')
    assert signed_by(echo_endpoint, keys) == "KEYA ap-south-1"
    config.write_text('region = "sa-east-1"\n')
    assert signed_by(echo_endpoint, keys) == "KEYA sa-east-1"
    status = agent_status()
    assert status is not None
    assert status["served"] == len(steps) + 3
    # One client per distinct settings; the repeated first settings found their client again.
    assert sorted(warm["requests"] for warm in status["warm"]) == [1] * (len(steps) - 2 + 3) + [2]
