"""``lambdash serve`` for the length of a ``with`` block."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers.cli import LAMBDASH
from tests.helpers.waiting import free_port, wait_for_port


@contextmanager
def serving(*extra: str) -> Iterator[str]:
    """`lambdash serve --quiet` on a free port; it must stop cleanly (exit 0) on SIGTERM.

    It keeps its credential pair in the state dir of whoever starts it: a test's own
    home, or (for a server a whole module shares) the session's, which the ``home``
    fixture copies into every test's.
    """
    port = free_port()
    server = subprocess.Popen([LAMBDASH, "serve", "--port", str(port), "--quiet", *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert status == 0, f"lambdash serve exited {status} on SIGTERM"
