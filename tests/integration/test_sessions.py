"""Sessions end to end: the installed ``lambdash -i`` and ``--tty`` against the local Lambda and its embedded moto.

Input goes up an SQS queue the handler makes in moto, with credentials it gets from
moto's STS; output comes down the response stream. Each test writes to lambdash's
stdin while the command runs and reads what comes back.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from tests.helpers import LiveLambdash, run_lambdash, serving


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """One `lambdash serve` for the module: its sandboxes stay warm between tests."""
    with serving("--timeout", "120") as url:
        yield url


def test_a_shell_answers_line_by_line(endpoint: str) -> None:
    with LiveLambdash("--endpoint-url", endpoint, "-i", "sh") as shell:
        shell.write(b"echo one\n")
        shell.wait_for_stdout(b"one\n")
        shell.write(b"echo $((6 * 7))\n")
        shell.wait_for_stdout(b"one\n42\n")
        # sh reads its commands a buffer at a time: the answer to `read` goes once it is waiting for it.
        shell.write(b"echo name?; read name; echo \"hello $name\"\n")
        shell.wait_for_stdout(b"name?\n")
        shell.write(b"world\n")
        shell.wait_for_stdout(b"hello world\n")
        shell.write(b"exit 3\n")
        assert shell.finish() == 3
    assert bytes(shell.stdout) == b"one\n42\nname?\nhello world\n"
    assert bytes(shell.stderr) == b""


def test_python_keeps_its_state_for_the_session(endpoint: str) -> None:
    with LiveLambdash("--endpoint-url", endpoint, "-i", "python3 -i -q -u") as python:
        python.write(b"answer = 40\n")
        python.write(b"import sys; answer += 2\n")
        python.write(b"print(answer, sys.version_info >= (3, 11))\n")
        python.wait_for_stdout(b"42 True\n")
        python.close_stdin()  # EOF: the interpreter leaves
        assert python.finish() == 0


def test_eof_ends_the_input_and_binary_bytes_arrive_whole(endpoint: str) -> None:
    data = os.urandom(600_000)  # more than one SQS message holds
    with LiveLambdash("--endpoint-url", endpoint, "-i", "sha256sum; wc -c") as command:
        command.write(data)
        command.close_stdin()
        assert command.finish() == 0
    # sha256sum read everything up to EOF, so wc saw nothing left.
    assert bytes(command.stdout) == f"{hashlib.sha256(data).hexdigest()}  -\n0\n".encode()


def test_ctrl_c_interrupts_the_remote_command_and_lambdash_exits_with_its_status(endpoint: str) -> None:
    with LiveLambdash("--endpoint-url", endpoint, "-i",
                      "trap 'echo caught INT; exit 42' INT; echo ready; while :; do sleep 0.1; done") as command:
        command.wait_for_stdout(b"ready\n")
        command.interrupt()
        assert command.finish() == 42
    assert bytes(command.stdout) == b"ready\ncaught INT\n"


def test_ctrl_c_that_kills_the_command_exits_130(endpoint: str) -> None:
    with LiveLambdash("--endpoint-url", endpoint, "-i", "echo ready; sleep 60") as command:
        command.wait_for_stdout(b"ready\n")
        command.interrupt()
        assert command.finish() == 130


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "line-discipline"])
def test_tty_keys_are_a_terminals_keys(pty: bool) -> None:
    """--tty sends raw keys: Enter is a carriage return, Ctrl-C a signal, Ctrl-D the end, with a pseudo-terminal
    (`serve --pty`) or without one (the handler's line discipline, where Python prompts on stderr)."""
    extra = ("--pty",) if pty else ()
    with serving("--timeout", "120", *extra) as url, \
            LiveLambdash("--endpoint-url", url, "--tty", "python3 -i -q") as python:
        if pty:
            python.wait_for_stdout(b">>> ")
        else:
            python.wait_for_stderr(b">>> ")
        python.write(b"x = 6 * 7\r")
        python.write(b"print(x)\r")
        python.wait_for_stdout(b"42\r\n")
        python.write(b"import time; time.sleep(60)\r")
        python.write(b"\x03")
        (python.wait_for_stdout if pty else python.wait_for_stderr)(b"KeyboardInterrupt")
        python.write(b"print(x + 1)\r")
        python.wait_for_stdout(b"43\r\n")
        python.write(b"\x04")
        assert python.finish() == 0


def test_a_session_says_when_its_end_is_near_and_when_it_comes() -> None:
    with serving("--timeout", "10") as short, LiveLambdash("--endpoint-url", short, "-i", "sleep 15") as command:
        command.wait_for_stderr(b"the session ends in ")
        assert command.finish() == 124
    lines = bytes(command.stderr).decode().splitlines()
    assert lines[0].startswith("lambdash: the session ends in ")
    assert lines[-1].startswith("lambdash: the session reached its time limit (")
    assert len(lines) == 2


def test_a_session_whose_queue_disappears_ends_with_one_line(endpoint: str) -> None:
    delete_own_queue = (
        "python3 -c 'import boto3; sqs = boto3.client(\"sqs\"); "
        "[sqs.delete_queue(QueueUrl=url) for url in sqs.list_queues(QueueNamePrefix=\"lambdash-session-\")"
        "[\"QueueUrls\"]]' && echo deleted && cat"
    )
    with LiveLambdash("--endpoint-url", endpoint, "-i", delete_own_queue) as command:
        command.wait_for_stdout(b"deleted\n")
        # stdin stays open: the session must end by itself.
        status = command.finish(timeout=60)
    assert status == 255
    stderr = bytes(command.stderr).decode()
    assert stderr.startswith("lambdash: error: the session's queue lambdash-session-")
    assert "was deleted" in stderr
    assert len(stderr.splitlines()) == 1


def test_interactive_needs_a_command_and_refuses_json() -> None:
    missing = run_lambdash("--local", "-i")
    assert missing.returncode == 255
    assert missing.stderr == b"lambdash: error: -i and --tty need a command (usage: lambdash -i COMMAND...)\n"
    refused = run_lambdash("--local", "-i", "--json", "cat")
    assert refused.returncode == 255
    assert b"--json cannot go with -i or --tty" in refused.stderr
