"""The REPL's sessions in a real terminal: ``:py`` and ``:i`` under tmux, against the local Lambda.

What you type at their prompt goes to the running command; its output shows above
the line you edit. The pane and its fixture are the REPL terminal tests' own.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.helpers import LAMBDASH, run_lambdash, serving, state_dir, wait_until
from tests.integration.test_repl_tmux import Pane, pane

__all__ = ["pane"]


def start_pane(tmp_path: Path, home: Path, arguments: str) -> Pane:
    """A tmux pane running `lambdash ARGUMENTS`, as the REPL tests' own fixture starts one."""
    made = Pane(tmp_path / "tmux-code.sock", tmp_path / "status-code", state_dir(home))
    command = f"env TERM=screen PAGER=cat {shlex.quote(LAMBDASH)} {arguments}; echo $? > {made.status_file}"
    started = made.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "repl", command)
    assert started.returncode == 0, started.stderr
    return made


def shell_prompt_after(screen: str, text: str) -> bool:
    """Whether the shell's prompt (``local...$``) is on a line after ``text``."""
    at = screen.rfind(text)
    return at != -1 and re.search(r"^local\S*\$", screen[at:], re.MULTILINE) is not None


def test_py_keeps_its_state_reads_input_and_ctrl_d_returns_to_the_shell(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type(":py")
    pane.send("Enter")
    pane.wait_for(lambda screen: "Ctrl-D returns to lambdash" in screen and screen.rstrip().endswith(">>>"), 30,
                  "the console's banner and first prompt")
    pane.type("answer = 20")
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.count(">>>") >= 2, 10, "the prompt after a statement")
    pane.type("def twice(n):")
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.rstrip().endswith("..."), 10, "the continuation prompt")
    pane.type("    return n * 2")
    pane.send("Enter")
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.count(">>>") >= 3, 10, "the prompt after the definition")
    pane.type("twice(answer) + 2")
    pane.send("Enter")
    pane.wait_for(lambda screen: "\n42\n" in screen, 10, "the value, printed as Python prints it")
    pane.type("name = input('Name? ')")
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.rstrip().endswith("Name?"), 10, "input()'s own prompt")
    pane.type("Ada")
    pane.send("Enter")
    pane.type("name")
    pane.send("Enter")
    pane.wait_for(lambda screen: "'Ada'" in screen, 10, "the value read by input()")
    pane.type("import time; time.sleep(60)")
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.rstrip().endswith("time.sleep(60)"), 10, "the line running")
    pane.send("C-c")
    pane.wait_for(lambda screen: "KeyboardInterrupt" in screen and screen.rstrip().endswith(">>>"), 10,
                  "Ctrl-C interrupting the running line")
    pane.send("C-d")
    pane.wait_for(lambda screen: shell_prompt_after(screen, "KeyboardInterrupt"), 20,
                  "the shell's prompt back after Ctrl-D")
    history = (pane.state_dir / "history-local-python").read_text()
    assert "+answer = 20" in history
    assert "+Ada" in history
    assert ":py" not in (pane.state_dir / "history-local-python").read_text()


def test_i_relays_typed_lines_and_a_command_without_input_gets_a_hint(pane: Pane) -> None:
    pane.wait_for(lambda screen: "local$" in screen, 20, "the first prompt")
    pane.type("python3")
    pane.send("Enter")
    pane.wait_for(lambda screen: "`python3` got no input" in screen and "`:i python3`" in screen, 20,
                  "the hint naming :i")
    pane.type(':i printf "Who? "; read name; echo "hi $name"; exit 3')
    pane.send("Enter")
    pane.wait_for(lambda screen: screen.rstrip().endswith("Who?"), 20, "the command's unfinished line as the prompt")
    pane.type("Bob")
    pane.send("Enter")
    screen = pane.wait_for(lambda screen: shell_prompt_after(screen, "hi Bob"), 20,
                           "the command's answer and the shell's prompt back")
    assert "Who? Bob\nhi Bob\n" in screen
    assert "+Bob" in (pane.state_dir / "history-local-input").read_text()


def test_py_in_a_local_lambda_with_your_code_names_its_handler_and_imports_it(tmp_path: Path, home: Path) -> None:
    code = tmp_path / "orders"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {'orders': len(event)}\n")
    with serving("--code", str(code), "--code-handler", "app.handler") as url:
        made = start_pane(tmp_path, home, f"--endpoint-url {url} repl")
        try:
            made.wait_for(lambda screen: "$" in screen, 20, "the first prompt")
            made.type(":py")
            made.send("Enter")
            made.wait_for(lambda screen: "its handler is app.handler (from app import handler)" in screen
                          and screen.rstrip().endswith(">>>"), 30, "the banner naming the handler")
            made.type("from app import handler; handler({'a': 1, 'b': 2}, None)")
            made.send("Enter")
            made.wait_for(lambda screen: "{'orders': 2}" in screen, 20, "the function's own code answering")
        finally:
            made.tmux("kill-server")


def test_serve_refuses_code_that_clashes_with_lambdashs_handler(tmp_path: Path) -> None:
    (tmp_path / "lambdash_handler").mkdir()
    refused = run_lambdash("serve", "--port", "0", "--code", str(tmp_path))
    assert refused.returncode == 255
    assert refused.stderr.decode().startswith(f"lambdash: error: --code {tmp_path} has a lambdash_handler/ of its own")


def test_tty_sends_keys_as_typed_follows_resizes_and_leaves_on_tilde_dot(tmp_path: Path, home: Path) -> None:
    # A pseudo-terminal in the sandbox (serve --pty), so the window's size can be read and set there.
    with serving("--pty") as url:
        tty_in_a_pane(tmp_path, home, url)


def tty_in_a_pane(tmp_path: Path, home: Path, url: str) -> None:
    made = start_pane(tmp_path, home, f"--endpoint-url {url} --tty 'python3 -i -q'")
    try:
        made.wait_for(lambda screen: screen.rstrip().endswith(">>>"), 30, "python's prompt, through --tty")
        made.type("import os; print(os.environ['TERM'], tuple(os.get_terminal_size(0)))")
        made.send("Enter")
        made.wait_for(lambda screen: "screen (120, 40)" in screen, 20, "TERM and the window's size remotely")
        made.tmux("resize-window", "-t", "repl", "-x", "100", "-y", "30")
        made.type("print(tuple(os.get_terminal_size(0)))")
        made.send("Enter")
        made.wait_for(lambda screen: "(100, 30)" in screen, 20, "the new size after a resize")
        made.type("import time; time.sleep(60)")
        made.send("Enter")
        made.send("C-c")
        made.wait_for(lambda screen: "KeyboardInterrupt" in screen and screen.rstrip().endswith(">>>"), 20,
                      "Ctrl-C reaching python as a signal")
        made.send("Enter")
        made.type("~.")
        made.wait_for(lambda screen: "left the session (~.)" in screen, 20, "~. leaving at once")
        wait_until(lambda: made.status_file.exists() and made.status_file.read_text().strip(), 20,
                   message="lambdash did not exit after ~.")
        assert made.status_file.read_text().strip() == "255"
    finally:
        made.tmux("kill-server")
