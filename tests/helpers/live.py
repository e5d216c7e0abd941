"""The installed ``lambdash`` in a subprocess that a test talks to while it runs (a session)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import IO

from tests.helpers.cli import LAMBDASH
from tests.helpers.waiting import wait_until


class LiveLambdash:
    """`lambdash ARGS` with its stdin a pipe the test writes to, and its stdout and stderr collected as they come."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen([LAMBDASH, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._collect, args=(stream, into), daemon=True)
                         for stream, into in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    def _collect(self, stream: IO[bytes] | None, into: bytearray) -> None:
        assert isinstance(stream, io.BufferedReader)
        while chunk := stream.read1(65536):
            with self._lock:
                into += chunk

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait_for_stdout(self, expected: bytes, timeout: float = 60.0) -> None:
        wait_until(lambda: expected in self.stdout, timeout,
                   message=lambda: f"{expected!r} never came on stdout (stdout {bytes(self.stdout)!r}, "
                                   f"stderr {bytes(self.stderr)!r})")

    def wait_for_stderr(self, expected: bytes, timeout: float = 60.0) -> None:
        wait_until(lambda: expected in self.stderr, timeout,
                   message=lambda: f"{expected!r} never came on stderr ({bytes(self.stderr)!r})")

    def finish(self, timeout: float = 60.0) -> int:
        """The exit status, once lambdash has ended and everything it wrote has been read."""
        status = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return status

    def __enter__(self) -> LiveLambdash:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
