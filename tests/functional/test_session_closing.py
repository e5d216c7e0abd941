"""A session closed while it opens still gets what was sent to it meanwhile: a tunnel's KILL ends its command.

Against the local Lambda: the command is a process on this machine, found by its
unique sleep in /proc. The session is closed at once after ``open`` starts, so its
close nearly always comes before the session's first record.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from lambdash.config import Target
from lambdash.errors import LambdashError
from lambdash.shell.remote import RemoteShell
from lambdash.shell.session import InteractiveSession, TerminalSettings
from lambdash.shell.targets import open_shell
from tests.helpers import still_running, wait_until

# Long enough that a command never killed is still there when the test looks.
COMMAND_SECONDS = 20


@pytest.fixture(scope="module")
def shell() -> Iterator[RemoteShell]:
    with open_shell(Target(local=True)) as remote:
        yield remote


class _Discard:
    def write(self, name: str, data: bytes) -> None:
        pass


def _running(marker: bytes) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if marker in cmdline.read():
                    found.add(int(entry))
    return still_running(found)


def _session(shell: RemoteShell, command: str) -> InteractiveSession:
    return InteractiveSession(shell, Target(local=True), command, live=_Discard(), terminal=TerminalSettings(),
                              shell_name="sh", require_shell=True)


@pytest.mark.parametrize("close_at_once", [True, False])
def test_a_kill_sent_before_the_session_opened_ends_its_command(shell: RemoteShell, close_at_once: bool) -> None:
    seconds = f"{COMMAND_SECONDS}.{uuid.uuid4().int % 10**6:06d}"  # a sleep no other process has
    session = _session(shell, f"sleep {seconds}; echo outlived")

    def open_it() -> None:
        with contextlib.suppress(LambdashError):
            session.open()

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    session.send_signal("KILL")
    if close_at_once:
        session.close()
    else:
        opener.join(60)
        assert _running(f"sleep\x00{seconds}".encode()) or session.ended  # it opened, then the KILL went
    wait_until(lambda: session.ended, timeout=60, message="the session never ended")
    wait_until(lambda: not _running(f"sleep\x00{seconds}".encode()), timeout=COMMAND_SECONDS / 2,
               message=lambda: f"the command outlived its KILL: {_running(f'sleep{chr(0)}{seconds}'.encode())}")
    opener.join(60)
