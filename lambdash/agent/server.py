"""The agent process: its socket, who may connect, one forked worker per request, and leaving when idle.

One agent runs per user and installation: it holds a lock in its directory for as
long as it lives, so a second one started at the same moment leaves at once, and
a socket left by an agent that died (``kill -9``) is replaced by the next one.
It binds its socket under a temporary name and renames it into place once it
listens, so a client never finds a socket nobody listens on.

Each connection's peer must be this user (SO_PEERCRED); any other uid is refused.
A request is prepared here, in the agent, with the caller's environment and cwd
applied for that moment (the service picks or makes a warm client), and then run
in a worker forked for it, which takes the caller's environment, cwd and umask
for good, and the caller's streams over the socket. Forking per request keeps
requests apart (``os.environ`` and the cwd are the process's; signals raise in
a main thread) while every worker starts with what the agent keeps warm. The
agent itself runs no threads, so forking is safe.

The agent leaves after its idle timeout with no request running, on ``lambdash
agent stop``, or on SIGTERM; workers still running finish their requests.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from lambdash.agent.directory import LOCK_NAME, LOG_NAME, SOCKET_NAME, AgentDirectory
from lambdash.agent.protocol import (
    CONTROL,
    DECLINED,
    PROTOCOL_VERSION,
    REFUSED,
    REPLY,
    REQUEST,
    ProtocolError,
    frame,
    read_frame,
)
from lambdash.agent.relay import Connection, relay_standard_streams

# How long a caller may take to send its request once connected.
HANDSHAKE_SECONDS = 10.0
# How often running workers are looked at (to count them finished) while any run.
REAP_SECONDS = 0.5
PEER_CREDENTIALS = struct.Struct("3i")


@dataclass(frozen=True)
class Declined:
    """The agent does not serve this request: the caller runs it itself (or says ``error``)."""

    reason: str
    error: str | None = None


class Service(Protocol):
    """What the agent runs: how a request is prepared in the agent and run in its worker."""

    def start(self) -> None:
        """Load, once, what every request needs (the socket listens already: early callers wait)."""

    def prepare(self, request: dict[str, Any]) -> Any:
        """Made in the agent, with the caller's environment and cwd applied: what the worker gets, or Declined."""

    def handed(self, prepared: Any) -> None:
        """The worker now owns what it was given (its connections): the agent's copies are let go."""

    def run(self, request: dict[str, Any], prepared: Any, accept: Callable[[], None]) -> int:
        """In the worker: the exit status of the request.

        ``accept`` tells the caller the request is taken and starts passing on its
        signals: it is called once the worker's own signal handlers are in place.
        """

    def tidy(self) -> bool:
        """Work to do while nothing else is waiting (warm connections); whether there was any."""

    def describe(self) -> list[dict[str, Any]]:
        """What the agent keeps warm, for ``lambdash agent status``."""


@contextlib.contextmanager
def caller_context(request: dict[str, Any]) -> Iterator[None]:
    """The caller's environment, cwd and umask in this process, for the time of the ``with``."""
    saved_environ, saved_cwd, saved_umask = dict(os.environ), os.getcwd(), os.umask(0o077)
    os.umask(saved_umask)
    apply_caller(request)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)
        os.umask(saved_umask)


def apply_caller(request: dict[str, Any]) -> None:
    """Take the caller's environment, cwd and umask."""
    os.environ.clear()
    os.environ.update(request["env"])
    with contextlib.suppress(OSError, TypeError):
        os.chdir(request["cwd"])
    os.umask(int(request.get("umask", 0o022)))


class Agent:
    """Serves one-shots on the socket in ``directory`` until ``idle_seconds`` pass with nothing to do."""

    def __init__(self, directory: AgentDirectory, idle_seconds: float, service: Service) -> None:
        self.directory = directory
        self.idle_seconds = idle_seconds
        self.service = service
        self.started = time.time()
        self.pid = os.getpid()
        self.last_active = time.monotonic()
        self.served = 0
        self.workers: set[int] = set()
        self.stopping = False
        self._lock_descriptor = -1
        self._listener: socket.socket | None = None
        # Readable when a signal came, so the wait for callers ends at once (SIGTERM stops the agent).
        self._wake = socket.socketpair()

    def serve(self) -> int:
        """Listen and serve; 0 when it ends, 1 when another agent already holds the lock."""
        if not self._lock():
            return 1
        self._log_to_directory()
        self._listener = listener = self._listen()
        for end in self._wake:
            end.setblocking(False)
        signal.set_wakeup_fd(self._wake[1].fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._stop_on_signal)
        signal.signal(signal.SIGINT, self._stop_on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print(f"lambdash agent {os.getpid()}: serving {self.directory.shown(SOCKET_NAME)}, "
              f"idle timeout {self.idle_seconds:g} s", file=sys.stderr, flush=True)
        try:
            self.service.start()
            self._loop(listener)
        finally:
            # The socket is ours while we hold the lock: no successor has replaced it yet.
            with contextlib.suppress(OSError):
                os.unlink(SOCKET_NAME, dir_fd=self.directory.descriptor)
            listener.close()
            signal.set_wakeup_fd(-1)
            for end in self._wake:
                end.close()
            os.close(self._lock_descriptor)
        print(f"lambdash agent {os.getpid()}: leaving after {self.served} requests", file=sys.stderr, flush=True)
        return 0

    def _lock(self) -> bool:
        self._lock_descriptor = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                                        dir_fd=self.directory.descriptor)
        try:
            fcntl.flock(self._lock_descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_descriptor)
            return False
        return True

    def _log_to_directory(self) -> None:
        """The agent's stdout and stderr (its own messages, a traceback if it fails) go to its log, anew each start."""
        log = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600,
                      dir_fd=self.directory.descriptor)
        for descriptor in (1, 2):
            os.dup2(log, descriptor)
        os.close(log)

    def _listen(self) -> socket.socket:
        temporary = f".{SOCKET_NAME}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=self.directory.descriptor)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.directory.address(temporary))
        os.chmod(temporary, 0o600, dir_fd=self.directory.descriptor)
        listener.listen(64)
        # Into place only once it listens; this replaces a socket a dead agent left.
        os.rename(temporary, SOCKET_NAME, src_dir_fd=self.directory.descriptor, dst_dir_fd=self.directory.descriptor)
        return listener

    def _stop_on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _loop(self, listener: socket.socket) -> None:
        while not self.stopping:
            self._reap()
            if not self.workers and time.monotonic() - self.last_active >= self.idle_seconds:
                return
            ready, _, _ = select.select([listener], [], [], 0)
            if not ready and self.service.tidy():
                continue  # there was warm-up work; look for callers again before more of it
            if not ready:
                ready, _, _ = select.select([listener, self._wake[0]], [], [], self._wait_seconds())
            if self._wake[0] in ready:
                with contextlib.suppress(BlockingIOError):
                    while self._wake[0].recv(4096):
                        pass
            if listener in ready:
                try:
                    connection, _ = listener.accept()
                except OSError as problem:  # the caller left already, or no descriptor is free now
                    print(f"lambdash agent: accept failed: {problem}", file=sys.stderr, flush=True)
                    time.sleep(0.05)  # out of descriptors, the caller stays queued: do not spin on it
                    continue
                with connection:
                    self._answer(connection)

    def _wait_seconds(self) -> float:
        if self.workers:
            return REAP_SECONDS
        return max(0.0, self.idle_seconds - (time.monotonic() - self.last_active))

    def _reap(self) -> None:
        for pid in list(self.workers):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.workers.discard(pid)
                self.last_active = time.monotonic()

    def _answer(self, connection: socket.socket) -> None:
        """One caller: refused, answered (a control), declined, or handed to a worker."""
        _, uid, _ = PEER_CREDENTIALS.unpack(
            connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEER_CREDENTIALS.size))
        try:
            if uid != os.getuid():
                print(f"lambdash agent: refused a connection from uid {uid}", file=sys.stderr, flush=True)
                connection.sendall(frame(REFUSED, f"this lambdash agent serves only uid {os.getuid()}".encode()))
                return
            connection.settimeout(HANDSHAKE_SECONDS)
            received = read_frame(connection)
            if received is None:
                return
            kind, payload = received
            document = json.loads(payload)
            if not isinstance(document, dict) or document.get("v") != PROTOCOL_VERSION:
                connection.sendall(frame(REFUSED, b"this lambdash agent speaks another protocol version"))
            elif kind == CONTROL:
                connection.sendall(frame(REPLY, json.dumps(self._control(str(document.get("op")))).encode()))
            elif kind == REQUEST:
                self._hand_over(connection, document)
            else:
                connection.sendall(frame(REFUSED, f"unexpected {kind!r} frame".encode()))
        except (OSError, ProtocolError, ValueError) as problem:
            print(f"lambdash agent: a caller's connection failed: {problem}", file=sys.stderr, flush=True)

    def _control(self, operation: str) -> dict[str, Any]:
        if operation == "stop":
            self.stopping = True
            return {"stopping": os.getpid()}
        if operation == "status":
            self._reap()
            return {
                "pid": os.getpid(), "socket": self.directory.shown(SOCKET_NAME), "idle_timeout": self.idle_seconds,
                "idle_for": 0.0 if self.workers else round(time.monotonic() - self.last_active, 1),
                "uptime": round(time.time() - self.started, 1), "served": self.served,
                "in_progress": len(self.workers),
                "warm": self.service.describe(),
            }
        return {"error": f"unknown operation {operation!r}"}

    def _hand_over(self, connection: socket.socket, request: dict[str, Any]) -> None:
        self.last_active = time.monotonic()  # only requests keep the agent: asking its status does not
        try:
            with caller_context(request):
                prepared = self.service.prepare(request)
        except Exception as problem:  # a bug here must not end the agent: the caller runs the command itself
            traceback.print_exc()
            prepared = Declined(f"the agent failed to prepare the request: {problem}")
        if isinstance(prepared, Declined):
            connection.sendall(frame(DECLINED, json.dumps({"reason": prepared.reason, "error": prepared.error})
                                     .encode()))
            return
        if threading.active_count() > 1:  # pragma: no cover - a bug: forking with threads can deadlock the worker
            raise RuntimeError("the agent must not run threads")
        # What the agent holds is never collected in the worker (its pages stay shared, not copied);
        # here it is collected as usual.
        gc.freeze()
        try:
            pid = os.fork()
        except OSError as problem:
            connection.sendall(frame(DECLINED, json.dumps({"reason": f"cannot fork: {problem}"}).encode()))
            return
        finally:
            if os.getpid() == self.pid:
                gc.unfreeze()
        if pid == 0:
            self._work(connection, request, prepared)
        self.workers.add(pid)
        self.served += 1
        self.service.handed(prepared)

    def _work(self, connection: socket.socket, request: dict[str, Any], prepared: Any) -> NoReturn:
        """The worker: the caller's environment and streams, the request run, the status sent, then gone."""
        status = 1
        relayed: Connection | None = None
        try:
            if self._listener is not None:
                self._listener.close()
            os.close(self._lock_descriptor)  # the lock is the agent's alone: it must end with the agent
            self.directory.close()
            signal.set_wakeup_fd(-1)
            for end in self._wake:
                end.close()
            for signum in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            connection.settimeout(None)
            apply_caller(request)
            relayed = Connection(connection)
            relay_standard_streams(relayed, list(request.get("tty") or [False, False, False]))
            status = self.service.run(request, prepared, relayed.start)
        except SystemExit as leaving:
            status = leaving.code if isinstance(leaving.code, int) else 1
        except BaseException:  # as Python itself would: the traceback on stderr, status 1
            # Before the request was taken, the caller runs it itself: the traceback is the agent's, for its log.
            traceback.print_exc(file=sys.stderr if relayed is not None and relayed.started else sys.__stderr__)
            status = 1
        finally:
            try:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(BaseException):
                        stream.flush()
                if relayed is not None and relayed.started:
                    relayed.finish(status)
            finally:
                os._exit(0)
