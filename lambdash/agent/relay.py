"""A worker's standard streams, carried over the socket to the caller's own.

In a worker the agent forked for one request, ``sys.stdin``, ``sys.stdout`` and
``sys.stderr`` become streams over the connection: what is written goes to the
caller as STDOUT and STDERR frames; what is read is asked of the caller (WANT),
a bounded piece at a time, so stdin of any size flows through with flat memory.
Each says it is a terminal exactly when the caller's stream is one, so
``Terminal.from_system()`` sees the caller's streams as the direct path would.

A thread reads what the caller sends: stdin, and signals, which it raises in the
main thread (SIGINT becomes KeyboardInterrupt there, as Ctrl-C does without the
agent). A caller that goes away is a closed terminal: SIGHUP.
"""

from __future__ import annotations

import errno
import io
import queue
import signal
import socket
import sys
import threading
from typing import Any

from lambdash.agent.protocol import (
    ACCEPTED,
    EXIT,
    RELAYED_SIGNALS,
    SIGNAL,
    STDERR,
    STDIN,
    STDIN_CHUNK_BYTES,
    STDOUT,
    STDOUT_CLOSED,
    WANT,
    ProtocolError,
    frame,
    number,
    number_frame,
    read_frame,
)


class Connection:
    """The worker's end of the socket: frames out under a lock, and a thread taking frames in."""

    def __init__(self, connection: socket.socket) -> None:
        self.socket = connection
        self._lock = threading.Lock()
        self.stdin: queue.Queue[bytes] = queue.Queue()
        self.stdout_closed = False
        self.caller_gone = False
        self.started = False
        self.finished = False
        self._main = threading.main_thread().ident or 0

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        self._send_whole(frame(kind, payload))

    def send_number(self, kind: bytes, value: int) -> None:
        self._send_whole(number_frame(kind, value))

    def _send_whole(self, data: bytes) -> None:
        """Send one frame whole: a relayed signal waits for its end, so KeyboardInterrupt never cuts a frame."""
        with self._lock:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, RELAYED_SIGNALS)
            try:
                self.socket.sendall(data)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def start(self) -> None:
        """Say the request is taken, and start reading what the caller sends."""
        self.send(ACCEPTED)
        self.started = True
        threading.Thread(target=self._read, name="lambdash-agent-caller", daemon=True).start()

    def finish(self, status: int) -> None:
        """The last frame: the exit status."""
        self.finished = True
        try:
            self.send_number(EXIT, status)
        except OSError:
            pass  # the caller is gone; there is no one to tell

    def _read(self) -> None:
        try:
            while (received := read_frame(self.socket)) is not None:
                kind, payload = received
                if kind == STDIN:
                    self.stdin.put(payload)
                elif kind == SIGNAL:
                    self._raise(number(payload))
                elif kind == STDOUT_CLOSED:
                    self.stdout_closed = True
        except (OSError, ProtocolError):
            pass
        # The caller went away before the end, as a closed terminal goes: stop as on SIGHUP.
        self.caller_gone = True
        self.stdin.put(b"")
        self._raise(signal.SIGHUP)

    def _raise(self, signum: int) -> None:
        if not self.finished and signum in RELAYED_SIGNALS:
            signal.pthread_kill(self._main, signum)


class CallerOutput(io.RawIOBase):
    """The caller's stdout or stderr: each write is sent as it is made."""

    def __init__(self, connection: Connection, kind: bytes, isatty: bool, descriptor: int) -> None:
        super().__init__()
        self._connection, self._kind, self._isatty, self._descriptor = connection, kind, isatty, descriptor

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._isatty

    def fileno(self) -> int:
        # The worker's own descriptor (the agent's log): code that redirects "stdout" at the
        # end, as ``main`` does after a broken pipe, touches nothing of the caller's.
        return self._descriptor

    def write(self, data: Any) -> int:
        if self._connection.caller_gone or (self._kind == STDOUT and self._connection.stdout_closed):
            raise BrokenPipeError(errno.EPIPE, "the caller's stream is closed")
        payload = bytes(data)
        if payload:
            self._connection.send(self._kind, payload)
        return len(payload)


class CallerInput(io.RawIOBase):
    """The caller's stdin, asked for a piece at a time as it is read."""

    def __init__(self, connection: Connection, isatty: bool) -> None:
        super().__init__()
        self._connection, self._isatty = connection, isatty
        self._ended = False

    def readable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._isatty

    def readinto(self, buffer: Any) -> int:
        if self._ended or not len(buffer):
            return 0
        self._connection.send_number(WANT, min(len(buffer), STDIN_CHUNK_BYTES))
        data = self._connection.stdin.get()  # interrupted by a relayed SIGINT, as a read of a pipe would be
        if not data:
            self._ended = True
            return 0
        buffer[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        """The rest of stdin (a script read whole), in big pieces rather than the default small ones."""
        whole = bytearray()
        piece = bytearray(STDIN_CHUNK_BYTES)
        while size := self.readinto(piece):
            whole += piece[:size]
        return bytes(whole)


def relay_standard_streams(connection: Connection, tty: list[bool]) -> None:
    """Make this process's sys.stdin, sys.stdout and sys.stderr the caller's, as the caller has them."""
    stdin_tty, stdout_tty, stderr_tty = (bool(flag) for flag in tty)
    stdin = io.BufferedReader(CallerInput(connection, stdin_tty))
    stdout = io.BufferedWriter(CallerOutput(connection, STDOUT, stdout_tty, 1))
    stderr = io.BufferedWriter(CallerOutput(connection, STDERR, stderr_tty, 2))
    sys.stdin = io.TextIOWrapper(stdin, encoding=sys.stdin.encoding, errors=sys.stdin.errors)
    sys.stdout = io.TextIOWrapper(stdout, encoding=sys.stdout.encoding, errors=sys.stdout.errors,
                                  line_buffering=stdout_tty)
    sys.stderr = io.TextIOWrapper(stderr, encoding=sys.stderr.encoding, errors="backslashreplace",
                                  line_buffering=True)
