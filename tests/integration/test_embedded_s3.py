"""The embedded default has S3: big output, big stdin and big files need no configuration.

Through the installed command, on ``--local`` and on ``lambdash serve``, whose
sandboxes get a moto server on loopback (started on first use, never outliving
serve) with a spill bucket in it and a key pair of its own.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import (
    LAMBDASH,
    Beacon,
    embedded_s3_children,
    free_port,
    run_lambdash,
    serving,
    still_running,
    wait_for_port,
)

lambdash = run_lambdash
TWENTY_MB = 20_000_000
# Writes 20 MB of random bytes to stdout, and their sha256 to stderr.
RANDOM_OUTPUT = 'cd "$TMPDIR"; head -c 20000000 /dev/urandom > out; sha256sum out >&2; cat out; rm out'


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--timeout", "60") as url:
        yield url


@pytest.mark.parametrize("stream", [[], ["--no-stream"]], ids=["streamed", "buffered"])
def test_big_output_on_the_local_default_comes_back_whole(home: Path, stream: list[str]) -> None:
    done = lambdash("--local", *stream, RANDOM_OUTPUT)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == TWENTY_MB
    digest = hashlib.sha256(done.stdout).hexdigest()
    assert done.stderr == f"{digest}  out\n".encode()  # no warning: nothing was cut


def test_big_stdin_goes_through_the_embedded_bucket(home: Path) -> None:
    data = os.urandom(7_000_000)
    done = lambdash("--local", "sha256sum", stdin=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_put_and_get_of_a_big_file_need_no_bucket(home: Path, served: str, tmp_path: Path) -> None:
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(9_000_000))
    put = lambdash("--endpoint-url", served, "put", str(original), "/tmp/big.bin")
    assert put.returncode == 0, put.stderr
    copy = tmp_path / "copy.bin"
    got = lambdash("--endpoint-url", served, "get", "/tmp/big.bin", str(copy))
    assert got.returncode == 0, got.stderr
    assert copy.read_bytes() == original.read_bytes()


def test_sandboxes_get_a_dummy_key_pair_and_a_loopback_endpoint_never_the_users(home: Path, served: str) -> None:
    users = {"AWS_ACCESS_KEY_ID": "AKIAUSERSOWNKEY00000", "AWS_SECRET_ACCESS_KEY": "the-users-own-secret"}
    done = lambdash("--endpoint-url", served, "env", env=users)
    variables = dict(line.split("=", 1) for line in done.stdout.decode().splitlines() if "=" in line)
    assert "the-users-own-secret" not in done.stdout.decode()
    assert variables["AWS_ACCESS_KEY_ID"] != users["AWS_ACCESS_KEY_ID"]
    assert variables["LAMBDASH_BUCKET"] == "lambdash-local"
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS"):
        assert urlsplit(variables[name]).hostname == "127.0.0.1"


def test_the_inventory_identity_section_answers_on_the_embedded_default(home: Path) -> None:
    done = lambdash("--local", "inventory", "--json")
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)["sections"]["identity"]
    assert identity["status"] == "ok", identity
    assert identity["arn"].startswith(("arn:aws:sts::", "arn:aws:iam::"))
    assert identity["account"].isdigit()


def test_the_embedded_s3_grants_no_browser_cross_origin_access(home: Path, served: str) -> None:
    endpoint = lambdash("--endpoint-url", served, 'printf %s "$AWS_ENDPOINT_URL_S3"').stdout.decode()
    address = urlsplit(endpoint)
    assert address.hostname == "127.0.0.1"
    assert address.port is not None
    for method in ("OPTIONS", "GET"):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.request(method, "/lambdash-local", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.getheader("Access-Control-Allow-Origin") is None, method


def script_of(size: int) -> bytes:
    return b"n=0\n" + b"n=$((n + 1))  # padding\n" * (size // 24) + b'echo "$n"\n'


def test_serve_no_s3_cuts_big_output_and_refuses_what_needs_a_bucket(home: Path, beacon: Beacon) -> None:
    with serving("--no-s3") as url:
        done = lambdash("--endpoint-url", url, "--no-stream", "head -c 6000000 /dev/urandom")
        # A script runs inline up to the request limit; beyond it, it needs a bucket.
        inline = lambdash("--endpoint-url", url, stdin=script_of(3_000_000))
        too_big_script = script_of(7_000_000)
        too_big = lambdash("--endpoint-url", url, stdin=too_big_script)
        big_stdin = lambdash("--endpoint-url", url, f"{beacon.command()}; wc -c", stdin=b"x" * 5_000_000)
    assert big_stdin.returncode == 255
    assert big_stdin.stderr.startswith(b"lambdash: error: stdin is over 4500000 bytes, more than fits in a "
                                       b"request, and stdin cannot go through S3: ")
    assert beacon.messages == []
    assert (inline.returncode, inline.stdout, inline.stderr) == (0, b"125000\n", b"")
    assert too_big.returncode == 255
    assert too_big.stderr.startswith(f"lambdash: error: the command is {len(too_big_script)} bytes, more than fits "
                                     "in a request, and the command cannot go through S3: ".encode())
    assert too_big.stderr.count(b"\n") == 1
    assert done.returncode == 0
    lost = 6_000_000 - len(done.stdout)
    assert lost > 0
    assert (f"lambdash: warning: stdout was truncated: {lost} of 6000000 bytes lost").encode() in done.stderr
    assert b"--bucket NAME" in done.stderr
    assert b"LAMBDASH_BUCKET" in done.stderr


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_embedded_s3_starts_on_first_use_and_never_outlives_serve(home: Path, ending: signal.Signals) -> None:
    port = free_port()
    server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        assert lambdash("--endpoint-url", url, "echo small").stdout == b"small\n"
        assert embedded_s3_children(server.pid) == set()  # a small command never starts moto
        big = lambdash("--endpoint-url", url, "--no-stream", "head -c 7000000 /dev/urandom")
        assert len(big.stdout) == 7_000_000, big.stderr
        children = embedded_s3_children(server.pid)
        assert len(children) == 1
        server.send_signal(ending)
        server.wait(timeout=20)
        deadline = time.monotonic() + 15
        while still_running(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert still_running(children) == set()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def peak_rss_mb(arguments: list[str], stdin_path: Path, stdout_path: Path) -> tuple[int, bytes, float]:
    """Run the installed command between two files; its exit status, stderr and peak RSS (MB).

    The peak is the kernel's high-water mark of the command's own memory (VmHWM), read
    until it exits: the rusage of a waited-for child would also count the memory of
    the process that started it, shared until the exec.
    """
    with open(stdin_path, "rb") as stdin, open(stdout_path, "wb") as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen([LAMBDASH, *arguments], stdin=stdin, stdout=stdout, stderr=stderr)
        peak = 0
        while process.poll() is None:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                break
            peak = max([peak, *(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))])
            time.sleep(0.01)
        process.wait()
        stderr.seek(0)
        err = stderr.read()
    return process.returncode, err, peak / 1024


def test_client_memory_stays_flat_at_300_mb_of_stdin_and_of_spilled_output(home: Path, tmp_path: Path) -> None:
    size = 300 * 1024 * 1024
    big, out = tmp_path / "big.bin", tmp_path / "out.bin"
    with open(big, "wb") as file:
        for _ in range(size // (16 * 1024 * 1024)):
            file.write(os.urandom(16 * 1024 * 1024))
    with serving("--ephemeral-storage", "1024", "--timeout", "300") as url:
        # Kept in the sandbox's /tmp, for the next command (the same warm sandbox) to send back.
        status, err, stdin_rss = peak_rss_mb(["--endpoint-url", url, "tee /tmp/big.bin | sha256sum"], big, out)
        assert (status, err) == (0, b"")
        assert out.read_bytes().split()[0].decode() == file_sha256(big)
        status, err, output_rss = peak_rss_mb(["--endpoint-url", url, "--no-stream", "cat -- /tmp/big.bin"],
                                              Path(os.devnull), out)
        assert (status, err) == (0, b"")
        assert file_sha256(out) == file_sha256(big)
    assert stdin_rss < 100, f"{stdin_rss:.0f} MB of client RSS for 300 MB of stdin"
    assert output_rss < 100, f"{output_rss:.0f} MB of client RSS for 300 MB of spilled output"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def test_client_memory_stays_flat_for_compressible_buffered_output_and_json(home: Path, tmp_path: Path) -> None:
    """300 MB of zeros come back inline, compressed: inflated a chunk at a time; --json is written as a stream."""
    out = tmp_path / "out.bin"
    zeros = 300 * 1024 * 1024
    with serving("--ephemeral-storage", "1024", "--timeout", "300") as url:
        status, err, buffered_rss = peak_rss_mb(["--endpoint-url", url, "--no-stream", f"head -c {zeros} /dev/zero"],
                                                Path(os.devnull), out)
        assert (status, err) == (0, b"")
        assert out.stat().st_size == zeros
        assert file_sha256(out) == hashlib.sha256(bytes(zeros)).hexdigest()
        size = 100 * 1024 * 1024
        status, err, json_rss = peak_rss_mb(["--endpoint-url", url, "--json", f"head -c {size} /dev/zero"],
                                            Path(os.devnull), out)
        assert (status, err) == (0, b"")
    # NULs are UTF-8: the stdout text is 100 MB of \u0000 escapes, the rest a small document around it.
    with open(out, "rb") as document:
        head = document.read(64 * 1024)
        start = head.index(b'"text": "', head.index(b'"stdout": {')) + len(b'"text": "')
        document.seek(start)
        remaining = size
        while remaining:
            chunk = document.read(min(remaining, 1024 * 1024) * 6)
            assert chunk == b"\\u0000" * (len(chunk) // 6)
            remaining -= len(chunk) // 6
        rest = document.read()
    assert head[:start].endswith(b'"stdout": {\n    "lost": 0,\n    "size": 104857600,\n    "text": "')
    assert rest.startswith(b'"\n  },\n  "timed_out": false,')
    assert buffered_rss < 100, f"{buffered_rss:.0f} MB of client RSS for 300 MB of compressible buffered output"
    assert json_rss < 100, f"{json_rss:.0f} MB of client RSS for --json with 100 MB of output"
