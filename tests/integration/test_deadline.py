"""The deadline covers the output too: near the function's timeout, the output so far still comes back.

Against a serve whose function times out after 4 s, through the buffered path
(``--no-stream``), with the embedded S3, with no bucket, and with an S3 that
accepts connections and never answers. Never "Task timed out" with nothing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.helpers import run_lambdash, serving

# About 100 MB/s, without end: it runs into the deadline, whatever the machine.
ENDLESS = "echo first; while :; do head -c 10000000 /dev/urandom; sleep 0.1; done"
# Ends just inside its time limit (3 s of a 4 s function: Lambda's margin keeps 1 s) with 30 MB written at the
# end. The bytes are made first, and the wait is measured from the start, so a busy machine does not push the
# command itself past its limit: what is tested is the handler's work after it.
LATE_AND_BIG = ("python3 -c 'import os, sys, time; started = time.monotonic(); print(\"first\", flush=True); "
                "data = os.urandom(30_000_000); time.sleep(max(0.0, 2.7 - (time.monotonic() - started))); "
                "sys.stdout.buffer.write(data); sys.exit(3)'")


@pytest.fixture
def hanging_s3() -> Iterator[str]:
    """An endpoint that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


SETUPS = ["embedded-s3", "no-bucket", "hanging-s3"]


def serve_options(setup: str, monkeypatch: pytest.MonkeyPatch, hanging: str) -> list[str]:
    if setup == "no-bucket":
        return ["--no-s3"]
    if setup == "hanging-s3":
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", hanging)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
        return ["--bucket", "spills"]
    return []


@pytest.mark.parametrize("setup", SETUPS)
def test_a_command_running_into_the_deadline_gives_124_its_first_line_and_the_cut(
    setup: str, monkeypatch: pytest.MonkeyPatch, hanging_s3: str
) -> None:
    with serving("--timeout", "4", *serve_options(setup, monkeypatch, hanging_s3)) as url:
        done = run_lambdash("--endpoint-url", url, "--no-stream", ENDLESS, timeout=60)
    assert done.returncode == 124, done.stderr
    assert done.stdout.startswith(b"first\n")
    warnings = done.stderr.decode().splitlines()
    assert warnings[0].startswith("lambdash: warning: stdout was truncated: ")
    assert " bytes lost because it was too big to return inline" in warnings[0]
    assert warnings[-1].startswith("lambdash: warning: the command was stopped at its time limit")
    assert "Task timed out" not in done.stderr.decode()


@pytest.mark.parametrize("setup", SETUPS)
def test_a_command_ending_just_inside_its_limit_keeps_its_status_and_its_output_or_the_facts(
    setup: str, monkeypatch: pytest.MonkeyPatch, hanging_s3: str
) -> None:
    with serving("--timeout", "4", *serve_options(setup, monkeypatch, hanging_s3)) as url:
        done = run_lambdash("--endpoint-url", url, "--no-stream", LATE_AND_BIG, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith(b"first\n")
    if len(done.stdout) == 30_000_006:  # spilled in time, and fetched whole
        assert done.stderr == b""
    else:  # cut, and said so: how much, and why
        lost = 30_000_006 - len(done.stdout)
        assert done.stderr.decode().startswith(
            f"lambdash: warning: stdout was truncated: {lost} of 30000006 bytes lost because it was too big to "
            "return inline")
    assert "Task timed out" not in done.stderr.decode()
