"""The installed ``lambdash`` command in a subprocess, on the local Lambda: bytes and exit statuses.

Every test runs twice: the one-shot in its own process, and handed to the agent (``one_shot_path``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import stat
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    LAMBDASH,
    bucket_keys,
    config_file,
    free_port,
    run_lambdash,
    serving,
    state_dir,
    wait_until,
)
from tests.helpers.servers import running, url_of

lambdash = run_lambdash
pytestmark = pytest.mark.usefixtures("one_shot_path")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """One warm `lambdash serve` shared by the tests that need many invocations."""
    with serving("--timeout", "20") as url:
        yield url


def test_all_256_byte_values_come_back_exactly(home: Path, served: str) -> None:
    octal = "".join(f"\\{value:03o}" for value in range(256))
    done = lambdash("--endpoint-url", served, f"printf '{octal}'")
    assert done.returncode == 0
    assert done.stdout == bytes(range(256))
    assert done.stderr == b""


def test_cat_of_a_binary_file_is_identical(home: Path, served: str, tmp_path: Path) -> None:
    original = tmp_path / "blob"
    original.write_bytes(os.urandom(300_000) + bytes(range(256)) * 100)
    copy = tmp_path / "copy"
    # The file goes up as stdin (the sandbox sees its own /tmp, not the host's), and is sent back by cat.
    with open(original, "rb") as source, open(copy, "wb") as out:
        done = subprocess.run([LAMBDASH, "--endpoint-url", served, "cat > /tmp/blob && cat /tmp/blob"], stdin=source,
                              stdout=out, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 0
    assert subprocess.run(["cmp", str(original), str(copy)]).returncode == 0


def test_a_reader_that_goes_away_is_no_failure(home: Path, served: str) -> None:
    """As `lambdash cat big | head`: lambdash stops writing, exits 0 and says nothing."""
    pipeline = f"{LAMBDASH} --endpoint-url {served} 'seq 1 2000000' | head -n 2; echo \"status ${{PIPESTATUS[0]}}\" >&2"
    done = subprocess.run(["/bin/bash", "-c", pipeline], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.stdout == b"1\n2\n"
    assert done.stderr == b"status 0\n"


def test_stdin_of_any_size_reaches_the_command_whole(home: Path, served: str) -> None:
    data = os.urandom(12_000_000)  # beyond what travels in a request: it goes through the bucket
    done = lambdash("--endpoint-url", served, "sha256sum; echo done >&2", stdin=data)
    assert (done.returncode, done.stderr) == (0, b"done\n")
    assert done.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_stderr_stays_separate(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "echo out; echo err >&2")
    assert done.stdout == b"out\n"
    assert done.stderr == b"err\n"


@pytest.mark.parametrize(("command", "status"), [("true", 0), ("false", 1), ("exit 7", 7), ("kill -9 $$", 137)])
def test_the_exit_status_is_the_remote_one(home: Path, served: str, command: str, status: int) -> None:
    assert lambdash("--endpoint-url", served, command).returncode == status


def test_a_timeout_exits_124_with_the_partial_output(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "-t", "1", "echo partial; sleep 10")
    assert done.returncode == 124
    assert done.stdout == b"partial\n"
    assert b"stopped at its time limit (1.0 s)" in done.stderr


def test_lambdash_failures_exit_255_with_one_line(home: Path) -> None:
    done = lambdash("-f", "nothing", "--endpoint-url", f"http://127.0.0.1:{free_port()}", "true")
    assert done.returncode == 255
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lambdash: error: cannot reach http://127.0.0.1:")
    assert "is `lambdash serve` running there?" in lines[0]


def test_another_function_than_serve_hosts_names_the_one_it_hosts(home: Path, served: str) -> None:
    done = lambdash("-f", "other", "--endpoint-url", served, "true")
    assert done.returncode == 255
    assert done.stderr.decode().splitlines() == [
        "lambdash: error: function 'other' not found: this local Lambda serves only lambdash: pass -f lambdash"
    ]


def test_a_serve_whose_pair_is_not_kept_names_the_pair_and_where_it_is_kept(home: Path, served: str) -> None:
    (state_dir(home) / "local-credentials").unlink()
    done = lambdash("--endpoint-url", served, "true")
    port = served.rsplit(":", 1)[1]
    assert (done.returncode, done.stdout) == (255, b"")
    assert done.stderr.decode().splitlines() == [
        f"lambdash: error: {served} rejected the credentials (UnrecognizedClientException): a `lambdash serve` "
        f"there accepts only its own pair, which lambdash reads from profile lambdash-local-127.0.0.1-{port} in "
        "~/.local/state/lambdash/local-credentials, and no pair is kept there for it; run lambdash as the user who "
        "started serve (with the same XDG_STATE_HOME), or pass --profile NAME with its pair"
    ]


class _NotLambdash(ThreadingHTTPServer):
    """A function that is not lambdash's: it answers every invoke with a page, and has no streaming API."""

    daemon_threads = True
    PAGE = b"<html><head><title>500 Internal Server Error</title></head><body>nginx</body></html>\n"


class _NotLambdashHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        streaming = "response-streaming-invocations" in self.path
        body = b'{"message": "Unknown operation"}' if streaming else _NotLambdash.PAGE
        self.send_response(404 if streaming else 200)
        if streaming:
            self.send_header("x-amzn-ErrorType", "UnknownOperationException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def not_lambdash() -> Iterator[str]:
    server = _NotLambdash(("127.0.0.1", 0), _NotLambdashHandler)
    with running(server):
        yield url_of(server)


def test_a_function_that_is_not_lambdash_is_named_and_debug_shows_its_answer(home: Path, not_lambdash: str) -> None:
    done = lambdash("-f", "orders", "--endpoint-url", not_lambdash, "true")
    size = len(_NotLambdash.PAGE)
    message = (f"lambdash: error: orders answered something that is not JSON ({size} bytes): it is probably not a "
               "lambdash function; name one with -f, or make one with `lambdash deploy`")
    assert (done.returncode, done.stderr.decode().splitlines()) == (255, [message])
    debugged = lambdash("--debug", "-f", "orders", "--endpoint-url", not_lambdash, "true")
    assert debugged.returncode == 255
    assert debugged.stderr.decode().splitlines()[-2:] == [
        message, f"  | the first bytes of its answer: {_NotLambdash.PAGE!r}"]


def test_stdin_goes_to_the_command(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "tr a-z A-Z", stdin=b"hi\n")
    assert done.stdout == b"HI\n"


def test_a_script_on_stdin_is_run(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, stdin=b"x=4\necho $((x * 2))\necho to-err >&2\nexit 5\n")
    assert done.stdout == b"8\n"
    assert done.stderr == b"to-err\n"
    assert done.returncode == 5


def test_a_background_child_does_not_hold_the_command(home: Path, served: str) -> None:
    started = time.monotonic()
    done = lambdash("--endpoint-url", served, "sleep 300 & echo done")
    assert done.stdout == b"done\n"
    assert time.monotonic() - started < 10


def test_words_are_joined_for_the_remote_shell(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "echo", "a", "|", "tr", "a", "b")
    assert done.stdout == b"b\n"
    done = lambdash("--endpoint-url", served, "--", "echo", "status")
    assert done.stdout == b"status\n"


def test_json_output_describes_the_whole_result(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "--json", r"printf 'text'; printf '\377' >&2; exit 3")
    assert done.returncode == 3
    result = json.loads(done.stdout)
    assert result["exit_status"] == 3
    assert result["stdout"] == {"lost": 0, "size": 4, "text": "text"}
    assert result["stderr"] == {"base64": "/w==", "lost": 0, "size": 1}
    assert result["sandbox"]["id"]
    assert result["request_id"]


def test_with_no_function_it_runs_locally_and_says_so(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An endpoint in the environment (as LocalStack users set) would be a target of its own.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    done = lambdash("echo", "local")
    assert done.returncode == 0
    assert done.stdout == b"local\n"
    assert done.stderr.decode().splitlines() == [
        "lambdash: no function configured; running on the local sandbox "
        "(target AWS with -f NAME or LAMBDASH_FUNCTION; --local, or `local_notice = false` in "
        "~/.config/lambdash/config.toml, hides this notice)"
    ]
    quiet = lambdash("--local", "echo", "local")
    assert quiet.stdout == b"local\n"
    assert quiet.stderr == b""


def test_the_config_file_silences_the_local_notice_for_good(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    config = config_file(home)
    config.parent.mkdir(parents=True)
    config.write_text("local_notice = false\n")
    done = lambdash("echo", "local")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"local\n", b"")
    config.write_text('local_notice = "no"\n')
    refused = lambdash("echo", "local")
    assert (refused.returncode, refused.stderr) == (
        255, f"lambdash: error: {config}: local_notice must be true or false\n".encode())


def test_the_local_sandbox_needs_none_of_the_users_aws_configuration(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    done = lambdash("--local", "echo", "fine")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"fine\n", b"")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # else it would be a target of its own
    defaulted = lambdash("echo", "fine")
    assert (defaulted.returncode, defaulted.stdout) == (0, b"fine\n")
    assert b"no function configured; running on the local sandbox" in defaulted.stderr


def test_big_output_comes_through_s3_verified_and_cleaned_up(
    home: Path, aws_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    expected = hashlib.sha256()
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        done = subprocess.run(
            [LAMBDASH, "--local", "--no-stream", "--bucket", bucket,
             "head -c 20000000 /dev/zero | tr '\\0' x; printf 'end'"],
            stdout=sink, stderr=subprocess.PIPE, timeout=120, env={**os.environ, **aws_env},
        )
    assert done.returncode == 0, done.stderr
    expected.update(b"x" * 20_000_000 + b"end")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected.hexdigest()
    random_out = subprocess.run(
        [LAMBDASH, "--local", "--no-stream", "--bucket", bucket,
         'cd "$TMPDIR"; head -c 20000000 /dev/urandom > out; sha256sum out >&2; cat out; rm out'],
        capture_output=True, timeout=120, env={**os.environ, **aws_env},
    )
    assert random_out.returncode == 0
    assert len(random_out.stdout) == 20_000_000
    assert hashlib.sha256(random_out.stdout).hexdigest().encode() in random_out.stderr
    assert bucket_keys(s3, bucket) == []


def test_stdin_too_big_for_a_request_goes_through_the_bucket(
    home: Path, aws_env: dict[str, str], s3: Any, bucket: str
) -> None:
    data = os.urandom(5_000_000)
    done = lambdash("--local", "--bucket", bucket, "sha256sum", stdin=data, env=aws_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert bucket_keys(s3, bucket) == []


def test_one_shot_commands_are_audited(home: Path, served: str) -> None:
    lambdash("--endpoint-url", served, "exit 4")
    audit = state_dir(home) / "audit.jsonl"
    assert audit.stat().st_mode & 0o777 == 0o600
    entry = json.loads(audit.read_text().splitlines()[-1])
    assert entry["status"] == "done"
    assert entry["command"] == "exit 4"
    assert entry["command_bytes"] == 6
    assert entry["command_sha256"] == hashlib.sha256(b"exit 4").hexdigest()
    assert entry["exit_status"] == 4
    assert entry["target"] == f"lambdash @ {served}"
    assert entry["request_id"]
    assert entry["sandbox_id"]
    lambdash("--no-audit", "--endpoint-url", served, "exit 5")
    assert len(audit.read_text().splitlines()) == 1


def test_an_interrupted_command_is_audited_as_interrupted(home: Path, served: str) -> None:
    process = subprocess.Popen([LAMBDASH, "--endpoint-url", served, "echo started; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"started\n"  # streamed: the command runs now
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"lambdash: interrupted; the remote command may still be running" in err
    entry = json.loads((state_dir(home) / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["status"] == "interrupted"
    assert entry["command"] == "echo started; sleep 30"
    assert entry["exit_status"] is None


def unread_bytes(pipe: Any) -> int:
    """How many bytes wait in a pipe for its reader."""
    waiting: int = struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    return waiting


def test_ctrl_c_while_nobody_reads_the_output_exits_130_at_once(home: Path, served: str) -> None:
    """Ctrl-C in `lambdash big | less`, with less not reading: lambdash stops, as it would on a terminal."""
    process = subprocess.Popen([LAMBDASH, "--endpoint-url", served, "echo started >&2; head -c 20000000 /dev/zero"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stderr.readline() == b"started\n"
    wait_until(lambda: unread_bytes(process.stdout) >= 65536, message="the output pipe never filled")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130  # nothing more of its output was read
    assert process.stderr.read() == b"\nlambdash: interrupted; the remote command may still be running\n\n"
    process.stdout.close()


def test_a_big_script_is_audited_by_its_head_size_and_sha256(home: Path, served: str) -> None:
    script = b"".join(b"echo line %d\n" % number for number in range(30_000)) + b"exit 3\n"
    done = lambdash("--endpoint-url", served, stdin=script)
    assert done.returncode == 3
    entry = json.loads((state_dir(home) / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["command_bytes"] == len(script)
    assert entry["command_sha256"] == hashlib.sha256(script).hexdigest()
    assert entry["command_cut"] is True
    assert len(entry["command"].encode()) <= 4096
    assert script.decode().startswith(entry["command"])


def test_an_existing_state_dir_is_made_private_with_one_notice(home: Path, served: str) -> None:
    directory = state_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "audit.jsonl").write_text("")
    (directory / "history-local").write_text("")
    for path, mode in ((directory, 0o755), (directory / "audit.jsonl", 0o644), (directory / "history-local", 0o640)):
        path.chmod(mode)
    done = lambdash("--endpoint-url", served, "true")
    assert done.returncode == 0
    assert done.stderr.decode() == (
        f"lambdash: made the state dir {directory} private (commands can hold secrets): "
        "lambdash 755 -> 700, history-local 640 -> 600, audit.jsonl 644 -> 600\n"
    )
    assert [stat.S_IMODE(path.stat().st_mode) for path in (directory, directory / "audit.jsonl",
                                                          directory / "history-local")] == [0o700, 0o600, 0o600]
    assert lambdash("--endpoint-url", served, "true").stderr == b""  # said once


@pytest.mark.parametrize("size", [200_000, 7_000_000], ids=["over-argv-limit", "over-request-limit"])
def test_a_big_script_on_stdin_runs_whole(home: Path, served: str, size: int) -> None:
    """Over the kernel's 128 KiB argument limit it runs from a file; over the request limit it goes by the bucket."""
    body = b"".join(b"n=$((n + 1))  # %08d\n" % number for number in range(size // 22))
    script = b"n=0\n" + body + b'echo "$n lines ran"; exit 6\n'
    done = lambdash("--endpoint-url", served, stdin=script)
    assert (done.returncode, done.stdout, done.stderr) == (6, b"%d lines ran\n" % (size // 22), b"")


def test_put_then_get_round_trips_a_binary_file(home: Path, served: str, tmp_path: Path) -> None:
    original = tmp_path / "original.bin"
    original.write_bytes(os.urandom(200_000) + bytes(range(256)))
    remote = f"/tmp/lambdash-test-{os.getpid()}-{time.monotonic_ns()}.bin"
    put = lambdash("--endpoint-url", served, "put", str(original), remote)
    assert put.returncode == 0, put.stderr
    assert put.stderr == f"lambdash: copied {original} to {remote} (200256 bytes)\n".encode()
    copy = tmp_path / "copy.bin"
    got = lambdash("--endpoint-url", served, "get", remote, str(copy))
    assert got.returncode == 0, got.stderr
    assert copy.read_bytes() == original.read_bytes()
    lambdash("--endpoint-url", served, "rm", "-f", remote)


def test_get_of_a_missing_file_is_one_line(home: Path, served: str, tmp_path: Path) -> None:
    done = lambdash("--endpoint-url", served, "get", "/no/such/file", str(tmp_path / "x"))
    assert done.returncode == 255
    assert done.stderr == (
        b"lambdash: error: cannot read /no/such/file in the sandbox: "
        b"cat: /no/such/file: No such file or directory\n"
    )
    assert not (tmp_path / "x").exists()
