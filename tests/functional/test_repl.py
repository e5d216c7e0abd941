"""The REPL driven through prompt_toolkit's pipe input, against a real in-process local Lambda.

Each test types keys into a ReplSession (``create_pipe_input``, ``DummyOutput``)
and reads what a user would see: the bytes on stdout and stderr, and the exit
status of the loop.
"""

from __future__ import annotations

import _thread
import io
import json
import os
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target
from lambdash.repl import ReplSession, open_history
from lambdash.repl.history import history_path
from lambdash.repl.listing import ListingRequest
from lambdash.shell.audit import AuditLog
from lambdash.shell.remote import RemoteShell
from lambdash.shell.targets import open_shell
from lambdash.terminal import RED, RESET, Terminal
from tests.helpers import Beacon, free_port, state_dir, wait_until

LOCAL = Target(local=True)
ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"
CTRL_R = "\x12"
DOWN = "\x1b[B"


@pytest.fixture(scope="module")
def shell() -> Iterator[RemoteShell]:
    """One local Lambda for the module: sandboxes stay warm between tests."""
    with open_shell(LOCAL) as remote:
        yield remote


@dataclass
class Transcript:
    """What a REPL run left behind."""

    status: int
    stdout: bytes
    stderr: bytes
    session: ReplSession

    @property
    def out(self) -> str:
        return self.stdout.decode()

    @property
    def err(self) -> str:
        return self.stderr.decode()


def make_terminal(*, color: bool = False) -> Terminal:
    return Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO(),
                    stdout_isatty=color, stderr_isatty=color)


def repl(shell: RemoteShell, keys: str, *, terminal: Terminal | None = None, target: Target = LOCAL,
         **options: Any) -> Transcript:
    """Type ``keys`` into a fresh REPL and run it until it ends."""
    terminal = terminal or make_terminal()
    with create_pipe_input() as pipe:
        session = ReplSession(shell, target, terminal, input=pipe, output=DummyOutput(), **options)
        pipe.send_text(keys)
        status = session.run()
    assert isinstance(terminal.stdout, io.BytesIO)
    assert isinstance(terminal.stderr, io.BytesIO)
    return Transcript(status, terminal.stdout.getvalue(), terminal.stderr.getvalue(), session)


def lines(*typed: str) -> str:
    """Each line followed by Enter, then Ctrl-D."""
    return "".join(line + ENTER for line in typed) + CTRL_D


# --- carried state ----------------------------------------------------------------


def test_cd_then_pwd_prints_the_new_directory(shell: RemoteShell) -> None:
    run = repl(shell, lines("cd /tmp", "pwd"))
    assert run.out == "/tmp\n"
    assert run.status == 0


def test_export_then_echo_prints_the_value_and_unset_removes_it(shell: RemoteShell) -> None:
    run = repl(shell, lines("export FOO=bar", "echo $FOO", "unset FOO", 'echo "[$FOO]"'))
    assert run.out == "bar\n[]\n"


def test_cd_dash_cd_without_argument_and_tilde_behave_as_in_bash(shell: RemoteShell) -> None:
    run = repl(shell, lines("export HOME=/usr", "cd /tmp", "cd /etc", "cd -", "cd", "pwd", "echo ~"))
    # `cd -` prints the directory it goes back to, as in bash.
    assert run.out == "/tmp\n/usr\n/usr\n"


def test_cd_alone_goes_to_tmp_when_the_sandbox_has_no_home(shell: RemoteShell) -> None:
    run = repl(shell, lines("cd", "pwd", "echo ~", "env | grep -c ^HOME="))
    # HOME is the shell's own (Lambda sets none): programs still see no HOME.
    assert run.out == "/tmp\n/tmp\n0\n"


def test_the_last_status_is_the_next_commands_dollar_question_mark(shell: RemoteShell) -> None:
    run = repl(shell, lines("false", "echo $?", "sh -c 'exit 3'", "echo $?; echo again $?", "kill -9 $$",
                            "echo $?"))
    assert run.out == "1\n3\nagain 0\n137\n"
    assert "[exit 1]" in run.err


def test_a_failed_cd_prints_the_shells_error_and_leaves_the_cwd_alone(shell: RemoteShell) -> None:
    run = repl(shell, lines("cd /tmp", "cd /nope", "pwd"))
    assert "cd: /nope: No such file or directory" in run.err
    assert "[exit 1]" in run.err
    assert run.out == "/tmp\n"
    assert run.session.shell.state.cwd == "/tmp"


def test_the_state_survives_a_change_of_sandbox(beacon: Beacon) -> None:
    terminal = make_terminal()
    # A Lambda of its own, so the test knows every sandbox there is.
    with open_shell(LOCAL) as own, create_pipe_input() as pipe:
        session = ReplSession(own, LOCAL, terminal, input=pipe, output=DummyOutput())
        session.run_command("cd /tmp && export FOO=carried")
        first = session.shell.sandbox
        assert first is not None
        # Keep the only sandbox busy, so the next command must go to a new one.
        busy = threading.Thread(target=own.run, args=(f"{beacon.command('busy')}; sleep 1.5",))
        busy.start()
        wait_until(lambda: beacon.messages == ["busy"], 10, 0.01, message="the busy command never started")
        session.run_command("pwd; echo $FOO")
        busy.join()
        session.close()
    assert session.shell.sandbox is not None
    assert session.shell.sandbox.id != first.id
    assert session.shell.sandbox.cold
    assert terminal.stdout.getvalue() == b"/tmp\ncarried\n"  # type: ignore[attr-defined]


def test_a_cwd_missing_in_the_sandbox_falls_back_with_a_notice(shell: RemoteShell) -> None:
    directory = f"/tmp/lambdash-repl-{uuid.uuid4().hex[:8]}"
    terminal = make_terminal()
    with create_pipe_input() as pipe:
        session = ReplSession(shell, LOCAL, terminal, input=pipe, output=DummyOutput())
        session.run_command(f"mkdir {directory} && cd {directory}")
        session.run_command(f"rmdir {directory}")
        session.run_command("echo still here")
        session.close()
    assert terminal.stdout.getvalue() == b"still here\n"  # type: ignore[attr-defined]
    assert f"{directory} does not exist in this sandbox" in terminal.stderr.getvalue().decode()  # type: ignore[attr-defined]
    assert session.shell.state.cwd != directory


# --- input ---------------------------------------------------------------------------


def test_a_line_ending_in_a_backslash_continues_on_the_next(shell: RemoteShell) -> None:
    run = repl(shell, "echo one \\" + ENTER + "two" + ENTER + CTRL_D)
    assert run.out == "one two\n"


def test_an_open_quote_continues_on_the_next_line(shell: RemoteShell) -> None:
    run = repl(shell, "echo 'first" + ENTER + "second'" + ENTER + CTRL_D)
    assert run.out == "first\nsecond\n"


def test_enter_in_a_history_search_runs_the_line_found(shell: RemoteShell) -> None:
    history = InMemoryHistory(["echo found-it", "echo other"])
    # Ctrl-C then clears whatever is left at the prompt, so Ctrl-D leaves either way.
    run = repl(shell, CTRL_R + "found" + ENTER + CTRL_C + CTRL_D, history=history)
    assert run.out == "found-it\n"


def test_a_listing_landing_after_its_line_ran_opens_no_menu_at_the_next_prompt(shell: RemoteShell,
                                                                               tmp_path: Path) -> None:
    release = threading.Event()
    asked: list[ListingRequest] = []

    def slow_lister(request: ListingRequest) -> list[str]:
        asked.append(request)
        if request.kind == "commands":
            release.wait(10)
        return ["zz-remote-only"] if request.kind == "commands" else []

    audit = tmp_path / "audit.jsonl"
    with create_pipe_input() as pipe:
        session = ReplSession(shell, LOCAL, make_terminal(), input=pipe, output=DummyOutput(), audit=AuditLog(audit),
                              lister=slow_lister)

        def at_the_next_prompt() -> None:
            # Down, then Enter twice: with a menu open, Down picks its first name and the second Enter runs it.
            keys = DOWN + ENTER + ENTER + CTRL_D
            try:
                wait_until(lambda: asked, 10, message="typing `ls` asked for no listing")
                wait_until(lambda: session.last is not None and session.prompt.app.is_running, 20,
                           message="the prompt after `ls` never came")
                # A second listing waits behind the first: once it is asked for, the first has landed and
                # the REPL has been told (and has queued any refresh of the menu before these keys).
                session.listings.get(ListingRequest(kind="directory", directory="/"))
                release.set()
                wait_until(lambda: len(asked) >= 2, 10, message="the second listing was never asked for")
                loop = session.prompt.app.loop
                assert loop is not None
                loop.call_soon_threadsafe(pipe.send_text, keys)
                keys = ""
            finally:
                release.set()
                if keys:
                    pipe.send_text(keys)

        typist = threading.Thread(target=at_the_next_prompt)
        typist.start()
        pipe.send_text("ls" + ENTER)
        status = session.run()
        typist.join()
    assert status == 0
    assert [json.loads(line)["command"] for line in audit.read_text().splitlines()] == ["ls"]


def test_ctrl_c_at_the_prompt_clears_the_line(shell: RemoteShell) -> None:
    run = repl(shell, "echo never" + CTRL_C + "echo ok" + ENTER + CTRL_D)
    assert run.out == "ok\n"
    assert run.status == 0


def test_ctrl_d_ends_with_status_0(shell: RemoteShell) -> None:
    run = repl(shell, CTRL_D)
    assert run.status == 0
    assert run.stdout == b""


def test_blank_lines_and_comments_run_nothing(shell: RemoteShell, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    run = repl(shell, lines("", "   ", "# just a note"), audit=AuditLog(audit))
    assert run.stdout == b""
    assert run.stderr == b""
    assert not audit.exists()


# --- output ----------------------------------------------------------------------------


def test_stdout_bytes_arrive_unchanged(shell: RemoteShell) -> None:
    run = repl(shell, lines(r"printf 'a\000\377\r\n'"))
    assert run.stdout == b"a\x00\xff\r\n"


def test_a_non_zero_status_is_shown_after_the_output(shell: RemoteShell) -> None:
    run = repl(shell, lines("echo out; echo err >&2; exit 3"))
    assert run.out == "out\n"
    assert run.err == "err\n[exit 3]\n"


def test_stderr_is_red_on_a_colour_terminal(shell: RemoteShell) -> None:
    run = repl(shell, lines("echo bad >&2"), terminal=make_terminal(color=True))
    assert run.stderr == f"{RED}bad\n{RESET}".encode()


def test_stderr_is_plain_with_no_color(shell: RemoteShell) -> None:
    terminal = make_terminal(color=True)
    terminal.no_color = True
    run = repl(shell, lines("echo bad >&2"), terminal=terminal)
    assert run.stderr == b"bad\n"


def test_output_without_a_final_newline_still_leaves_the_prompt_on_its_own_line(shell: RemoteShell) -> None:
    run = repl(shell, lines("printf abc"))
    assert run.stdout == b"abc\n"


@pytest.mark.parametrize("stream", ["on", "off"])
def test_output_that_switches_the_terminal_to_another_screen_is_cut_there_and_said(shell: RemoteShell,
                                                                                    stream: str) -> None:
    run = repl(shell, lines(f":stream {stream}", r"printf 'kept\033[?1049hdrawn'"), terminal=make_terminal(color=True))
    assert run.stdout == f"stream: {stream}\nkept\n".encode()
    assert ("the command was stopped: it switched to the terminal's alternate screen (ESC[?1049h), "
            "and the sandbox has no terminal") in run.err


def test_a_signal_and_a_timeout_are_shown(shell: RemoteShell) -> None:
    run = repl(shell, lines("kill -9 $$", ":timeout 0.5", "sleep 5"))
    assert "[signal 9]" in run.err
    assert "[timed out" in run.err


# --- meta-commands -------------------------------------------------------------------------


def test_timeout_and_env_meta_commands(shell: RemoteShell) -> None:
    run = repl(shell, lines(":timeout 5", "cd /tmp", "export FOO=bar", ":env"))
    assert "timeout: 5 s" in run.out
    assert "cwd: /tmp" in run.out
    assert "  FOO=bar" in run.out
    assert run.session.timeout == 5


def test_a_bad_meta_command_prints_one_line_and_the_loop_goes_on(shell: RemoteShell) -> None:
    run = repl(shell, lines(":timeout soon", ":nope", "echo alive"))
    assert run.err.splitlines() == [
        "lambdash: error: :timeout not a number of seconds: 'soon'",
        "lambdash: error: unknown meta-command :nope (:help lists them)",
    ]
    assert run.out == "alive\n"
    assert run.status == 0


def test_help_lists_every_meta_command(shell: RemoteShell) -> None:
    from lambdash.repl.meta_commands import META_COMMANDS

    run = repl(shell, lines(":help", ":help get"))
    for name in META_COMMANDS:
        assert name in run.out
    assert ":get [-r] [-p] REMOTE [LOCAL]\n  copy a file, or with -r a directory, out of the sandbox\n" in run.out
    assert "  -r copies a directory and everything in it, -p keeps modes and modification times.\n" in run.out
    # A usage too long for the list's column has its summary on the next line.
    assert "  :forward [OPTIONS] [BIND:]LPORT:HOST:PORT...\n" + " " * 26 + "carry local ports" in run.out


@pytest.mark.parametrize("leave", [":exit", "exit", "logout"])
def test_exit_ends_with_status_0(shell: RemoteShell, leave: str) -> None:
    run = repl(shell, leave + ENTER + "echo never" + ENTER)
    assert run.status == 0
    assert run.stdout == b""


def test_exit_with_a_status_leaves_with_it(shell: RemoteShell) -> None:
    run = repl(shell, "exit 3" + ENTER + "echo never" + ENTER)
    assert run.status == 3
    assert run.stdout == b""


def test_exit_alone_leaves_with_the_last_commands_status(shell: RemoteShell) -> None:
    run = repl(shell, "sh -c 'exit 5'" + ENTER + "exit" + ENTER + "echo never" + ENTER)
    assert run.status == 5
    assert run.err == "[exit 5]\n"


def test_json_on_prints_each_result_as_json(shell: RemoteShell) -> None:
    run = repl(shell, lines(":json on", "echo hi; exit 2"))
    document = json.loads(run.out[run.out.index("{"):])
    assert document["stdout"]["text"] == "hi\n"
    assert document["status"] == 2
    assert document["request_id"]


def test_history_lists_the_commands(shell: RemoteShell) -> None:
    run = repl(shell, lines("echo one", "echo two", ":history"))
    assert "    1 echo one\n    2 echo two\n    3 :history\n" in run.out


@pytest.mark.parametrize("count", ["0", "x", "²"])  # ² is a digit to str.isdigit, and int() refuses it
def test_history_with_a_count_that_is_no_number_is_one_line(shell: RemoteShell, count: str) -> None:
    run = repl(shell, lines(f":history {count}"))
    assert run.err == "lambdash: error: usage: :history [N] (N a positive number of entries)\n"


def test_less_pages_the_last_output(shell: RemoteShell) -> None:
    # Not on a terminal, :less writes the kept output as it is (as git does without a pager).
    run = repl(shell, lines("seq 3", ":less"))
    assert run.out == "1\n2\n3\n1\n2\n3\n"


def test_sandbox_shows_the_answering_sandbox(shell: RemoteShell) -> None:
    run = repl(shell, lines(":sandbox"))
    assert run.session.shell.sandbox is not None
    assert f"sandbox: {run.session.shell.sandbox.id}" in run.out
    assert "invocations: " in run.out
    assert "uptime: " in run.out


def test_inventory_prints_the_rendered_inventory(shell: RemoteShell) -> None:
    run = repl(shell, lines(":inventory"))
    assert run.status == 0
    assert run.err == ""
    assert "lambdash" in run.out.lower()


def test_probe_checks_the_network_from_the_sandbox_and_the_prompt_stays(shell: RemoteShell) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        run = repl(shell, lines(f":probe 127.0.0.1:{port} 127.0.0.1:{free_port()}", ":probe nonsense", "echo after"))
    assert run.status == 0
    table = run.out.splitlines()
    assert table[0].split() == ["CHECK", "VERDICT", "TIME", "DETAIL"]
    assert table[1].startswith(f"127.0.0.1:{port}")
    assert table[1].split()[1] == "open"
    assert table[2].split()[1] == "refused"
    assert table[3].startswith("  hint: the host answered")
    assert table[4].startswith("2 checks: 1 passed, 1 failed (")
    assert table[5] == "after"
    assert run.err == ("lambdash: error: 'nonsense' is not a check: give HOST:PORT, dns:NAME[@SERVER[:PORT]], "
                       "http://URL, https://URL or aws:SERVICE\n")


def test_get_and_put_copy_files_both_ways(shell: RemoteShell, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 10
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    remote_dir = f"/tmp/lambdash-repl-{uuid.uuid4().hex[:8]}"
    back, again = tmp_path / "back.bin", tmp_path / "again.bin"
    # The files are in one sandbox's /tmp: no completion listing may run beside a command and start another.
    run = repl(shell, lines(f"mkdir {remote_dir}", f"cd {remote_dir}", f":put {source} copy.bin",
                            f":get copy.bin {back}", f":put {source} .", ":get missing.bin",
                            f":get {remote_dir}/source.bin {again}"), lister=lambda request: [])
    assert back.read_bytes() == payload
    assert again.read_bytes() == payload
    err = run.err.splitlines()
    assert err[0] == f"copied 2560 bytes from {source} to copy.bin"
    assert err[1] == f"copied 2560 bytes from copy.bin to {back}"
    assert err[2] == f"copied 2560 bytes from {source} to ./source.bin"
    assert err[3].startswith("lambdash: error: cannot read missing.bin in the sandbox: ")
    assert "No such file or directory" in err[3]
    assert err[4] == f"copied 2560 bytes from {remote_dir}/source.bin to {again}"


def test_get_and_put_copy_directories_with_r_and_keep_modes_and_times_with_p(shell: RemoteShell,
                                                                             tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_bytes(b"top\n")
    (tree / "sub" / "run.sh").write_bytes(b"#!/bin/sh\necho ran\n")
    (tree / "sub" / "run.sh").chmod(0o750)
    os.utime(tree / "top.txt", (1_000_000_000, 1_000_000_000))
    remote = f"/tmp/lambdash-tree-{uuid.uuid4().hex[:8]}"
    back = tmp_path / "back"
    run = repl(shell, lines(f"mkdir {remote}", f":put -rp {tree} {remote}", f":get --recursive -p {remote}/tree {back}",
                            f":put -x {tree} {remote}", f":get -r {remote}/tree {back} extra"),
               lister=lambda request: [])
    assert (back / "top.txt").read_bytes() == b"top\n"
    assert (back / "sub" / "run.sh").read_bytes() == b"#!/bin/sh\necho ran\n"
    assert stat.S_IMODE((back / "sub" / "run.sh").stat().st_mode) == 0o750
    assert (back / "top.txt").stat().st_mtime == 1_000_000_000
    err = run.err.splitlines()
    assert err[0] == f"copied 2 files (23 bytes) from {tree} to {remote}/tree"
    assert err[1] == f"copied 2 files (23 bytes) from {remote}/tree to {back}"
    assert err[2] == "lambdash: error: unknown option -x (usage: :put [-r] [-p] LOCAL REMOTE)"
    assert err[3] == "lambdash: error: usage: :get [-r] [-p] REMOTE [LOCAL]"


# --- it never dies ------------------------------------------------------------------------


def test_ctrl_c_while_a_command_runs_returns_to_the_prompt(shell: RemoteShell, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    def press_ctrl_c_once_the_command_runs() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(thread.name == "remote-command" for thread in threading.enumerate()):
                time.sleep(0.2)
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    presser = threading.Thread(target=press_ctrl_c_once_the_command_runs)
    presser.start()
    started = time.monotonic()
    run = repl(shell, lines("sleep 10", "echo back"), audit=AuditLog(audit))
    presser.join()
    assert time.monotonic() - started < 8  # the loop did not wait for the command
    assert "lambdash: interrupted; the remote command may still be running" in run.err
    assert run.out == "back\n"
    assert run.status == 0
    # The abandoned command is audited at once, as interrupted (and again when it ends).
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert records[0]["command"] == "sleep 10"
    assert records[0]["error"] == "interrupted at the prompt; the command may still be running"
    assert records[1]["command"] == "echo back"


def test_a_stream_walked_away_from_never_writes_into_the_next_commands_output(shell: RemoteShell) -> None:
    terminal = make_terminal()
    assert isinstance(terminal.stdout, io.BytesIO)
    shown = terminal.stdout

    def press_ctrl_c_once_it_ticks() -> None:
        deadline = time.monotonic() + 10
        while b"tick" not in shown.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()

    presser = threading.Thread(target=press_ctrl_c_once_it_ticks)
    presser.start()
    # It ticks on in the background while the next commands run and show their output.
    run = repl(shell, lines("while :; do echo tick; sleep 0.05; done", "sleep 0.5; echo back", "echo again"),
               terminal=terminal, timeout=3)
    presser.join()
    assert run.out.endswith("tick\nback\nagain\n")
    assert "request unknown" not in run.err
    assert "Error" not in run.err
    assert "unexpected" not in run.err


def test_a_transport_error_prints_one_line_and_the_prompt_stays(shell: RemoteShell) -> None:
    nowhere = Target(function="lambdash", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    unreachable = RemoteShell(LambdaClient(nowhere))
    run = repl(unreachable, lines("echo hi", ":exit"), target=nowhere)
    assert run.err.startswith("lambdash: error: cannot reach")
    assert len(run.err.splitlines()) == 1
    assert run.status == 0


class _BrokenClient:
    """A Lambda client whose transport fails in a way lambdash does not expect."""

    function = "lambdash"

    def invoke(self, payload: bytes, **options: Any) -> Any:
        raise ValueError("the wire is on fire")

    invoke_streaming = invoke


def test_an_unexpected_error_is_reported_and_the_loop_goes_on(shell: RemoteShell) -> None:
    broken = RemoteShell(_BrokenClient())  # type: ignore[arg-type]
    run = repl(broken, lines("echo hi", "echo again"))
    assert run.err.splitlines() == [
        "lambdash: error: unexpected ValueError in running the line: the wire is on fire (the REPL goes on)",
    ] * 2
    assert run.status == 0


def test_a_failing_completion_listing_is_reported_and_typing_goes_on(shell: RemoteShell) -> None:
    def broken_lister(request: Any) -> list[str]:
        raise RuntimeError("listing exploded")

    run = repl(shell, "ls /" + "\t" + "\x7f" * 4 + "echo fine" + ENTER + CTRL_D, lister=broken_lister)
    run.session.listings.wait_idle(5)
    assert run.out == "fine\n"
    assert run.session.background_problem == "completion listing failed: listing exploded"


# --- completion against the real sandbox ---------------------------------------------------------


def test_paths_complete_relative_to_the_carried_cwd(shell: RemoteShell) -> None:
    terminal = make_terminal()
    with create_pipe_input() as pipe:
        session = ReplSession(shell, LOCAL, terminal, input=pipe, output=DummyOutput())
        session.run_command("cd /usr")

        def complete(text: str) -> list[str]:
            list(session.completer.get_completions(Document(text), CompleteEvent()))
            assert session.listings.wait_idle(10)
            return [item.text for item in session.completer.get_completions(Document(text), CompleteEvent())]

        assert "lib/" in complete("ls li")
        assert "/etc/passwd" in complete("cat /etc/pass")
        assert "sh" in complete("s")
        session.close()


# --- history and audit --------------------------------------------------------------------------


def test_history_and_audit_files_are_private(shell: RemoteShell, home: Path) -> None:
    history, problem = open_history(LOCAL)
    assert problem is None
    audit = state_dir(home) / "audit.jsonl"
    run = repl(shell, lines("echo audited", ":env"), history=history, audit=AuditLog(audit))
    assert run.out.startswith("audited\n")
    saved = history_path(LOCAL)
    assert saved == state_dir(home) / "history-local"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert "+echo audited" in saved.read_text()
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(records) == 1  # meta-commands are not audited
    assert records[0]["command"] == "echo audited"
    assert records[0]["target"] == "local"
    assert records[0]["exit_status"] == 0
    assert records[0]["request_id"]
    assert records[0]["sandbox_id"]
