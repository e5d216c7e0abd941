"""What the benchmark scripts share: free loopback ports and a `lambdash serve` in the background."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDASH = str(Path(sys.executable).parent / "lambdash")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listening on 127.0.0.1:{port} after {timeout:g} s")


@contextmanager
def background(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """A server process listening on ``port``, stopped with SIGTERM afterwards."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def served(extra: list[str] | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """`lambdash serve --quiet [extra]` on a free port; yields its endpoint URL."""
    port = free_port()
    with background([LAMBDASH, "serve", "--port", str(port), "--quiet", *(extra or [])], port, env) as url:
        yield url
