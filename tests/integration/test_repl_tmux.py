"""The installed ``lambdash repl`` in a real terminal: tmux runs it, sends keys and reads the screen.

Each test gets its own tmux server (a private socket in tmp) and its own XDG
directories, so it touches neither the user's tmux nor their home.
"""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import LAMBDASH, serving, state_dir, wait_until

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed; the terminal tests need it"),
]


@dataclass
class Pane:
    """One tmux session running the REPL."""

    socket: Path
    status_file: Path
    state_dir: Path

    def tmux(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), *arguments], capture_output=True, text=True,
                              timeout=10)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "repl", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "repl", "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "repl").stdout

    def wait_for(self, check: Callable[[str], bool], timeout: float, what: str) -> str:
        """Poll the screen until ``check`` holds; fail naming ``what`` and showing the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {timeout} s; the screen was:\n{screen}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "repl").returncode == 0


@contextmanager
def repl_in_tmux(tmp_path: Path, home: Path, *options: str) -> Iterator[Pane]:
    """``lambdash OPTIONS repl`` in a 120x40 tmux pane of its own, for the length of a ``with`` block."""
    socket, status_file = tmp_path / "tmux.sock", tmp_path / "status"
    # The tmux server passes on this process's (hermetic) environment, with these on top.
    environment = {"TERM": "screen", "PAGER": "cat"}
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in environment.items())
    arguments = " ".join(shlex.quote(option) for option in options)
    # The shell around lambdash records its exit status once the REPL ends.
    command = (f"env {assignments} {shlex.quote(LAMBDASH)} {arguments} repl; "
               f"echo $? > {shlex.quote(str(status_file))}")
    made = Pane(socket, status_file, state_dir(home))
    started = made.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "repl", command)
    assert started.returncode == 0, started.stderr
    try:
        yield made
    finally:
        made.tmux("kill-server")


@pytest.fixture
def pane(tmp_path: Path, home: Path) -> Iterator[Pane]:
    with repl_in_tmux(tmp_path, home, "--local") as made:
        yield made


def shown_lines(screen: str) -> list[str]:
    """The screen's lines that are not blank, the bottom toolbar last."""
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


def prompt_lines(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.startswith("local")]


def test_the_repl_in_a_real_terminal(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.wait_for(lambda screen: "local │ no sandbox yet" in screen, 5, "the bottom toolbar")

    pane.type("echo hello")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\nhello\n" in screen and len(prompt_lines(screen)) >= 2, 20,
                  "the output of echo hello and the next prompt")
    pane.wait_for(lambda screen: "warm │ exit 0 in" in screen or "cold │ exit 0 in" in screen, 5,
                  "the toolbar showing the sandbox and the last status")

    # Ctrl-C while a command runs returns to the prompt at once.
    pane.type("sleep 30")
    pane.send("Enter")
    pane.wait_for(lambda screen: "sleep 30" in screen, 5, "sleep 30 echoed")
    time.sleep(0.5)
    pane.send("C-c")
    pane.wait_for(
        lambda screen: "the remote command may still be running" in screen and len(prompt_lines(screen)) >= 3,
        2, "the prompt coming back after Ctrl-C",
    )

    # State carried across the interrupted command: cd holds in whichever sandbox answers.
    pane.type("cd /tmp && pwd")
    pane.send("Enter")
    pane.wait_for(lambda screen: "local:/tmp$" in screen, 20, "the prompt showing the new cwd")

    # Ctrl-D on an empty line ends the REPL with status 0, and the pane goes away.
    pane.send("C-d")
    deadline = time.monotonic() + 10
    while pane.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pane.alive()
    assert pane.status_file.read_text().strip() == "0"

    history = pane.state_dir / "history-local"
    audit = pane.state_dir / "audit.jsonl"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert "+echo hello" in history.read_text()
    commands = [json.loads(line)["command"] for line in audit.read_text().splitlines()]
    assert commands[:3] == ["echo hello", "sleep 30", "cd /tmp && pwd"]


def test_tab_completes_a_remote_path(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type("ls /et")
    pane.send("Tab")
    # The listing is fetched in the background; the menu appears when it lands.
    pane.wait_for(lambda screen: "local$ ls /etc/" in screen, 20, "the completed path")
    pane.send("C-u", "C-d")
    deadline = time.monotonic() + 10
    while pane.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pane.status_file.read_text().strip() == "0"


# Five lines two seconds apart: shown as written, the first is on screen long before the last.
COUNTING = "for i in 1 2 3 4 5; do echo $i; sleep 2; done"


def test_the_repl_shows_output_as_it_is_written(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type("true")  # the sandbox is warm before the timed command
    pane.send("Enter")
    pane.wait_for(lambda screen: len(prompt_lines(screen)) >= 2, 20, "the prompt after `true`")
    pane.type(COUNTING)
    pane.send("Enter")
    first = pane.wait_for(lambda screen: "\n1\n" in screen, 20, "the first line")
    assert "\n5\n" not in first, "the output came at the end, not as it was written"
    pane.wait_for(lambda screen: "\n5\n" in screen and len(prompt_lines(screen)) >= 3, 20, "the last line")
    pane.send("C-d")


def test_a_one_shot_shows_output_as_it_is_written(tmp_path: Path, home: Path) -> None:
    socket = tmp_path / "tmux.sock"
    shown = Pane(socket, tmp_path / "status", state_dir(home))
    command = f"env TERM=screen {shlex.quote(LAMBDASH)} --local {shlex.quote(COUNTING)}; sleep 30"
    started = shown.tmux("new-session", "-d", "-x", "80", "-y", "20", "-s", "repl", command)
    assert started.returncode == 0, started.stderr
    try:
        first = shown.wait_for(lambda screen: screen.startswith("1\n"), 30, "the first line")
        assert "5" not in first, "the output came at the end, not as it was written"
        shown.wait_for(lambda screen: screen.startswith("1\n2\n3\n4\n5\n"), 20, "the last line")
    finally:
        shown.tmux("kill-server")


def test_a_served_target_is_named_by_its_endpoint(tmp_path: Path, home: Path) -> None:
    with serving() as endpoint, repl_in_tmux(tmp_path, home, "--endpoint-url", endpoint) as shown:
        label = f"lambdash @ {endpoint}"
        shown.wait_for(lambda screen: f" {label} │ no sandbox yet" in screen, 20, "the toolbar naming the endpoint")
        shown.type("echo served")
        shown.send("Enter")
        shown.wait_for(lambda screen: "\nserved\n" in screen, 20, "the output of echo served")
        shown.send("C-d")
        wait_until(shown.status_file.exists, 10, message="the REPL did not end after Ctrl-D")
    records = [json.loads(line) for line in (shown.state_dir / "audit.jsonl").read_text().splitlines()]
    assert [(record["target"], record["command"]) for record in records] == [(label, "echo served")]


def test_commands_get_the_terminals_size_and_type_unless_the_user_set_them(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    width, height = pane.tmux("display-message", "-p", "-t", "repl", "#{pane_width} #{pane_height}").stdout.split()
    pane.type("echo size $COLUMNS x $LINES on $TERM; ls -C /usr | head -1 | wc -c")
    pane.send("Enter")
    shown = pane.wait_for(lambda screen: len(prompt_lines(screen)) >= 2, 20, "the next prompt")
    assert f"\nsize {width} x {height} on screen\n" in shown
    # ls lays its columns out for the terminal's width, as it does on a terminal.
    assert int(shown.split("on screen\n")[1].split()[0]) > 40
    pane.type("export COLUMNS=33; echo now $COLUMNS")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\nnow 33\n" in screen, 20, "the exported value")
    pane.type("echo still $COLUMNS")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\nstill 33\n" in screen, 20, "the exported value kept")
    pane.send("C-d")


def test_a_one_shot_on_a_terminal_gets_its_size_and_type(tmp_path: Path, home: Path) -> None:
    shown = Pane(tmp_path / "tmux.sock", tmp_path / "status", state_dir(home))
    command = (f"env TERM=screen {shlex.quote(LAMBDASH)} --local 'echo size $COLUMNS x $LINES on $TERM'; "
               f"env TERM=screen {shlex.quote(LAMBDASH)} --local 'echo \"piped [$COLUMNS]\"' | cat; sleep 30")
    started = shown.tmux("new-session", "-d", "-x", "90", "-y", "20", "-s", "repl", command)
    assert started.returncode == 0, started.stderr
    try:
        screen = shown.wait_for(lambda screen: "piped" in screen, 40, "both one-shots")
        assert screen.startswith("size 90 x 20 on screen\npiped []\n")
    finally:
        shown.tmux("kill-server")


def test_a_full_screen_program_is_stopped_at_once_with_a_hint(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    stopped = "vi was stopped: it asked the terminal to report the mouse (ESC[?1000h)"
    # Streamed, then buffered: either way it is back well before the function's time limit (300 s).
    for turn, (setting, count) in enumerate([(":stream on", 1), (":stream off", 2)]):
        pane.type(setting)
        pane.send("Enter")
        pane.type(f"vi /tmp/x{turn}")
        pane.send("Enter")
        pane.wait_for(lambda screen, count=count: screen.count(stopped) == count  # type: ignore[misc]
                      and shown_lines(screen)[-2].startswith("local") and shown_lines(screen)[-2].endswith("$"),
                      30, f"vi stopped ({setting}) and the prompt back")
    # A pipeline that merely carries the bytes is not a full-screen program.
    pane.type(r"printf '\033[?1049h' | od -c | head -1; sleep 1; echo done")
    pane.send("Enter")
    screen = pane.wait_for(lambda screen: "\ndone\n" in screen, 20, "the pipeline's output")
    assert "033   [   ?   1   0   4   9   h" in screen
    assert screen.count(" was stopped") == 2
    pane.send("C-d")


def test_a_one_shot_full_screen_program_is_stopped_with_a_warning(tmp_path: Path, home: Path) -> None:
    shown = Pane(tmp_path / "tmux.sock", tmp_path / "status", state_dir(home))
    command = f"env TERM=screen {shlex.quote(LAMBDASH)} --local vi /tmp/x; echo status $?; sleep 30"
    started = shown.tmux("new-session", "-d", "-x", "200", "-y", "20", "-s", "repl", command)
    assert started.returncode == 0, started.stderr
    try:
        screen = shown.wait_for(lambda screen: "status " in screen, 30, "vi stopped")
        assert ("lambdash: warning: the command was stopped: it asked the terminal to report the mouse "
                "(ESC[?1000h), and the sandbox has no terminal for a full-screen program\n") in screen
        assert "\nstatus 137\n" in screen
    finally:
        shown.tmux("kill-server")


def test_ctrl_c_during_a_streamed_command_names_its_request_and_reports_its_end(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type("echo started; sleep 3; echo finished; exit 4")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\nstarted\n" in screen, 20, "the first line, streamed")
    pane.send("C-c")
    screen = pane.wait_for(lambda screen: "may still be running (request " in screen and len(prompt_lines(screen)) >= 2,
                           5, "the prompt back at once, naming the request")
    request_id = screen.split("may still be running (request ")[1].split(")")[0]
    assert request_id != "unknown"
    # Its end is told at the next prompt after it: Enter on an empty line shows one.
    late = f"the interrupted command finished in the background [exit 4] (request {request_id})"
    deadline = time.monotonic() + 20
    while late not in (screen := pane.screen()):
        if time.monotonic() > deadline:
            pytest.fail(f"the late result was not reported; the screen was:\n{screen}")
        pane.send("Enter")
        time.sleep(0.3)
    assert "finished\n" not in screen  # nothing of it is shown after Ctrl-C
    assert "Error" not in screen
    assert "Abandoned" not in screen
    pane.type("echo after")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\nafter\n" in screen, 20, "the next command's output")
    pane.send("C-d")
    records = [json.loads(line) for line in (pane.state_dir / "audit.jsonl").read_text().splitlines()]
    assert [record["request_id"] for record in records[:2]] == [request_id, request_id]
    assert records[1]["exit_status"] == 4


def test_stderr_never_lands_inside_an_unfinished_stdout_line(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type("printf 'out-start '; echo err-line >&2; sleep 0.2; echo out-end")
    pane.send("Enter")
    screen = pane.wait_for(lambda screen: "out-end" in screen and len(prompt_lines(screen)) >= 2, 20, "the output")
    # Each line whole, in whichever order the two lines were read.
    assert "\nout-start out-end\n" in screen
    assert "\nerr-line\n" in screen
    pane.send("C-d")


def test_tab_at_an_empty_prompt_lists_command_names_alone(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.send("Tab")
    screen = pane.wait_for(lambda screen: any(line.strip().startswith("alias") for line in screen.splitlines()), 20,
                           "the menu of commands")
    assert [line.strip() for line in screen.splitlines() if line.strip().startswith("alias")] == ["alias"]
    pane.send("Escape")
    pane.send("C-d")
