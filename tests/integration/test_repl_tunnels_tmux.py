"""The REPL's background tunnels in a real terminal: ``:forward``, ``:socks`` and ``:tunnels`` under tmux.

The REPL runs against ``lambdash serve``; real clients (Python's http.client and
curl) reach servers on loopback through the tunnels while the prompt goes on.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, serving, wait_until
from tests.integration.test_repl_tmux import Pane, repl_in_tmux
from tests.integration.test_tunnels import BLOB, _relays, http_port

__all__ = ["http_port"]

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed; the terminal tests need it"),
]

PROMPT = re.compile(r"^\S*\$", re.MULTILINE)


@pytest.fixture
def repl(tmp_path: Path, home: Path) -> Iterator[Pane]:
    with serving("--timeout", "120") as url, repl_in_tmux(tmp_path, home, "--endpoint-url", url) as made:
        made.wait_for(lambda screen: PROMPT.search(screen) is not None, 30, "the first prompt")
        yield made


def _run(pane: Pane, line: str, expected: str, timeout: float = 90) -> str:
    """Type ``line`` and wait for ``expected`` with the shell's prompt back after it."""
    pane.type(line)
    pane.send("Enter")
    return pane.wait_for(lambda screen: expected in screen and PROMPT.search(screen[screen.rfind(expected):])
                         is not None, timeout, f"{expected!r} and the prompt after it")


def _download(port: int) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    try:
        connection.request("GET", "/blob")
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


def test_tunnels_run_behind_the_prompt_are_listed_stopped_and_end_with_the_repl(repl: Pane, http_port: int) -> None:
    forward_port, socks_port, cut_port, idle_port = free_port(), free_port(), free_port(), free_port()
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nothing ever answers
    silent_port = silent.getsockname()[1]

    _run(repl, f":forward {forward_port}:127.0.0.1:{http_port}",
         f"tunnel 1: forwarding 127.0.0.1:{forward_port} to 127.0.0.1:{http_port} from the function "
         "(:tunnels stop 1 ends it)")
    # The prompt is free while the tunnel carries a 5 MB download, exact.
    assert hashlib.sha256(_download(forward_port)).digest() == hashlib.sha256(BLOB).digest()
    _run(repl, "echo typed-while-tunnelling", "\ntyped-while-tunnelling\n")

    _run(repl, f":socks {socks_port}", f"tunnel 2: SOCKS5 on 127.0.0.1:{socks_port}, connecting from the function")
    curl = subprocess.run(["curl", "-sS", "--noproxy", "", "--socks5-hostname", f"127.0.0.1:{socks_port}",
                           f"http://localhost:{http_port}/blob"], capture_output=True, timeout=120)
    assert curl.returncode == 0, curl.stderr
    assert hashlib.sha256(curl.stdout).digest() == hashlib.sha256(BLOB).digest()

    # A connection cut by the time limit is said above the prompt, naming its tunnel, while nothing is typed.
    _run(repl, f":forward --timeout 2 {cut_port}:127.0.0.1:{silent_port}", "tunnel 3: forwarding")
    with socket.create_connection(("127.0.0.1", cut_port), timeout=90) as cut:
        screen = repl.wait_for(lambda screen: "was cut by the function's time limit" in screen, 60,
                               "the cut connection's notice")
        assert cut.recv(1) == b""
    line = next(text for text in screen.splitlines() if "was cut" in text)
    assert re.fullmatch(rf"lambdash: tunnel 3: connection 1 from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:{silent_port} "
                        r"was cut by the function's time limit after \d+ s", line.strip()), line
    repl.wait_for(lambda screen: PROMPT.search(screen[screen.rfind("was cut"):]) is not None, 10,
                  "the prompt redrawn under the notice")

    repl.send("C-l")  # a clean screen for the table
    screen = _run(repl, ":tunnels", "  for")
    rows = {row.split()[0]: row.split() for row in screen.splitlines() if re.match(r"\s*[0-9]+\s", row)}
    assert rows["1"][:5] == ["1", f"127.0.0.1:{forward_port}", f"127.0.0.1:{http_port}", "0", "1"]
    assert rows["2"][:2] == ["2", f"127.0.0.1:{socks_port}"]
    assert "SOCKS5 (each client says where)" in screen
    assert rows["3"][:5] == ["3", f"127.0.0.1:{cut_port}", f"127.0.0.1:{silent_port}", "0", "1"]
    repl.wait_for(lambda screen: "3 tunnels, 0 open" in screen, 10, "the toolbar counting the tunnels")

    _run(repl, ":tunnels stop 1",
         f"tunnel 1 ended: 127.0.0.1:{forward_port} to 127.0.0.1:{http_port}, after 1 connection")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", forward_port), timeout=10)
    _run(repl, ":tunnels stop 1", "lambdash: error: no tunnel 1 (2, 3; :tunnels lists them)")

    # Leaving the REPL ends every tunnel, and the relay of a connection still open with it.
    _run(repl, f":forward {idle_port}:127.0.0.1:{silent_port}", "tunnel 4: forwarding")
    before = _relays()
    idle = socket.create_connection(("127.0.0.1", idle_port), timeout=90)
    wait_until(lambda: bool(_relays() - before), timeout=60, message=lambda: "no relay for the open connection")
    repl.wait_for(lambda screen: "3 tunnels, 1 open" in screen, 10,
                  "the toolbar counting the open connection")
    repl.send("C-d")
    wait_until(lambda: repl.status_file.exists(), timeout=30, message=lambda: f"the REPL never ended:\n{repl.screen()}")
    assert repl.status_file.read_text().strip() == "0"
    assert idle.recv(1) == b""
    idle.close()
    wait_until(lambda: not _relays(), timeout=30, message=lambda: f"relays left: {_relays()}")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", socks_port), timeout=10)
    silent.close()


def test_bad_tunnel_lines_are_one_line_each_and_start_nothing(repl: Pane) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = free_port()
    _run(repl, ":forward 8080", "lambdash: error: bad forward '8080' (expected [BIND:]LPORT:HOST:PORT, as ssh -L)")
    _run(repl, ":forward --timeout 0 8080:db:5432",
         "lambdash: error: --timeout must be more than 0 and at most 900 seconds: 0")
    _run(repl, ":socks --bogus 1080", "lambdash: error: unknown option --bogus (usage: :socks [OPTIONS] [BIND:]PORT; "
         ":help socks lists the options)")
    _run(repl, ":help socks", "  --timeout SECONDS  how long each connection may last")
    closed = free_port()
    _run(repl, f":forward {port}:127.0.0.1:{closed}",
         f"lambdash: error: 127.0.0.1:{closed} is not reachable from the function: refused")
    # Two forwards, the second's port taken: neither is left listening, and neither keeps a number.
    _run(repl, f":forward --no-probe {port}:127.0.0.1:1 {taken.getsockname()[1]}:127.0.0.1:1",
         f"lambdash: error: cannot listen on 127.0.0.1:{taken.getsockname()[1]}: Address already in use")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10)
    _run(repl, ":tunnels", "(no tunnels: :forward or :socks starts one)")
    _run(repl, f":socks {port} {free_port()}",
         "lambdash: error: usage: :socks [OPTIONS] [BIND:]PORT (one proxy a line)")
    _run(repl, ":tunnels stop ²", "lambdash: error: usage: :tunnels [stop N|all]")
    # A SOCKS client that never finishes its greeting is cut when its tunnel ends.
    _run(repl, f":socks -- {port}", f"tunnel 1: SOCKS5 on 127.0.0.1:{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as greeting:
        greeting.sendall(b"\x05")
        _run(repl, ":tunnels stop 1", "tunnel 1 ended")
        assert greeting.recv(1) == b""
    _run(repl, ":tunnels stop x", "lambdash: error: usage: :tunnels [stop N|all] (N a tunnel's number, as :tunnels "
         "lists them)")
    taken.close()
