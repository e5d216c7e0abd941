"""Tunnels into the function's network (``lambdash forward``): local TCP connections carried by sessions.

Each accepted connection opens a session of its own whose command is a small
stdlib-Python relay in the sandbox (``RELAY``): it connects to HOST:PORT, copies
its stdin to the socket and the socket to its stdout, as raw bytes. The local end
sends what the client writes as the session's input and writes the session's
stdout back to the client; the client's EOF is the relay's ``shutdown(SHUT_WR)``,
and the relay ends, closing the local connection, once the server's side has
ended. A connection lasts at most the session's time limit.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdash.config import Target
from lambdash.errors import LambdashError, UsageError
from lambdash.local.http import is_loopback_address
from lambdash.shell.remote import RemoteShell
from lambdash.shell.session import InteractiveSession, TerminalSettings
from lambdash.text import is_decimal

READ_BYTES = 64 * 1024
# How long a SOCKS client may take to say where it goes.
SOCKS_HANDSHAKE_SECONDS = 10.0
# How long a session being ended is given to have its signal sent.
CLOSE_GRACE_SECONDS = 5.0
# The sandbox's end: connect, then copy stdin -> socket (half-close on EOF) and socket -> stdout until it ends.
RELAY = """\
import errno, os, socket, sys, threading
socks = len(sys.argv) > 3
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
except OSError as e:
    if socks:
        code = {errno.ECONNREFUSED: 5, errno.ENETUNREACH: 3, errno.EHOSTUNREACH: 4}.get(e.errno, 1)
        code = 4 if isinstance(e, socket.gaierror) else 6 if isinstance(e, TimeoutError) else code
        os.write(1, bytes([code]))
    sys.stderr.write("cannot connect to %s:%s: %s\\n" % (sys.argv[1], sys.argv[2], e.strerror or e))
    sys.exit(1)
s.settimeout(None)
if socks:
    os.write(1, b"\\0")
def up():
    while True:
        d = os.read(0, 65536)
        if not d:
            break
        s.sendall(d)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=up, daemon=True).start()
while True:
    try:
        d = s.recv(65536)
    except OSError:
        break
    if not d:
        break
    v = memoryview(d)
    while v:
        v = v[os.write(1, v):]
"""

Notice = Callable[[str], None]


@dataclass(frozen=True)
class Forward:
    """One ``[BIND:]LPORT:HOST:PORT``: listen on BIND:LPORT here, connect to HOST:PORT from the sandbox.

    With no HOST it is a SOCKS5 proxy (``[BIND:]PORT``): each client names where it goes.
    """

    bind: str
    port: int
    host: str = ""
    remote_port: int = 0

    @property
    def socks(self) -> bool:
        return not self.host

    @property
    def remote(self) -> str:
        return "SOCKS5 (each client says where)" if self.socks else host_port(self.host, self.remote_port)

    @property
    def beyond_loopback(self) -> bool:
        return not is_loopback_address(self.bind) and self.bind != "localhost"

    def exposure_warning(self) -> str | None:
        """The warning for a listener others can reach (as serve warns); None on loopback."""
        if not self.beyond_loopback:
            return None
        reaches = "whatever the function can reach" if self.socks else f"{self.remote} through the function"
        return f"listening on {self.bind}, beyond loopback: anyone who can reach port {self.port} reaches {reaches}"


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe(forward: Forward, port: int) -> str:
    """What a started tunnel does, said once it listens on ``port``."""
    if forward.socks:
        return f"SOCKS5 on {host_port(forward.bind, port)}, connecting from the function"
    return f"forwarding {host_port(forward.bind, port)} to {forward.remote} from the function"


def parse_port(text: str, spec: str) -> int:
    if not is_decimal(text) or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {text!r} in {spec!r} (a number from 1 to 65535)")
    return int(text)


def split_host(text: str) -> tuple[str, str]:
    """``HOST:REST`` or ``[V6]:REST``: (HOST, REST); ValueError without the colon."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(text)
        return host, rest[1:]
    host, colon, rest = text.partition(":")
    if not colon:
        raise ValueError(text)
    return host, rest


def _any_address(bind: str) -> str:
    """ssh's ``*`` and empty BIND: every address."""
    return "0.0.0.0" if bind in ("*", "") else bind


def parse_forward(spec: str) -> Forward:
    """``[BIND:]LPORT:HOST:PORT`` as ssh -L reads it; a one-line UsageError otherwise."""
    bad = UsageError(f"bad forward {spec!r} (expected [BIND:]LPORT:HOST:PORT, as ssh -L)")
    bind = "127.0.0.1"
    rest = spec
    try:
        first, after = split_host(rest)
        if not is_decimal(first) or spec.startswith("["):
            bind, rest = first, after
        port_text, rest = rest.split(":", 1)
        bracketed = rest.startswith("[")
        host, remote_text = split_host(rest) if bracketed else rest.rsplit(":", 1)
    except ValueError:
        raise bad from None
    if not host or ":" in remote_text or (":" in host and not bracketed):
        raise bad
    return Forward(bind=_any_address(bind), port=parse_port(port_text, spec), host=host,
                   remote_port=parse_port(remote_text, spec))


def parse_listen(spec: str) -> Forward:
    """``[BIND:]PORT`` as ssh -D reads it: a SOCKS5 proxy's address; a one-line UsageError otherwise."""
    bind, port_text = "127.0.0.1", spec
    if ":" in spec or spec.startswith("["):
        try:
            bind, port_text = split_host(spec)
        except ValueError:
            raise UsageError(f"bad listening address {spec!r} (expected [BIND:]PORT, as ssh -D)") from None
    return Forward(bind=_any_address(bind), port=parse_port(port_text, spec))


def check_routes(shell: RemoteShell, remotes: list[str]) -> None:
    """Probe each HOST:PORT from the sandbox; the first one not reachable raises with the probe's hint."""
    document = shell.probe(sorted(set(remotes)))
    for check in document["checks"]:
        if not check["ok"]:
            hint = f" (hint: {check['hint']})" if check.get("hint") else ""
            raise LambdashError(f"{check['check']} is not reachable from the function: {check['verdict']}, "
                                f"{check['detail']}{hint}")


def relay_command(host: str, port: int, *, socks: bool = False) -> str:
    """The session command that carries one connection to host:port.

    With ``socks``, its stdout starts with one byte: 0 once connected, else a SOCKS5 reply code.
    """
    return f"exec python3 -u -c {shlex.quote(RELAY)} {shlex.quote(host)} {port}{' socks' if socks else ''}"


# SOCKS5 (RFC 1928): no authentication, CONNECT only.
SOCKS_VERSION = 5
SOCKS_GENERAL_FAILURE = 1
SOCKS_HOST_UNREACHABLE = 4
SOCKS_COMMAND_NOT_SUPPORTED = 7
SOCKS_ADDRESS_NOT_SUPPORTED = 8


class SocksRefused(Exception):
    """A client's SOCKS request that gets a failure reply (or none: a broken greeting)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


def _exactly(connection: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise SocksRefused(None)
        data += chunk
    return bytes(data)


def socks_reply(code: int) -> bytes:
    return bytes([SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0])


def socks_request(connection: socket.socket) -> tuple[str, int]:
    """Read a SOCKS5 greeting and CONNECT request: (host, port); a name is left for the sandbox to resolve."""
    version, count = _exactly(connection, 2)
    methods = _exactly(connection, count)
    if version != SOCKS_VERSION:
        raise SocksRefused(None)
    if 0 not in methods:
        connection.sendall(bytes([SOCKS_VERSION, 0xFF]))
        raise SocksRefused(None)
    connection.sendall(bytes([SOCKS_VERSION, 0]))
    version, command, _, kind = _exactly(connection, 4)
    if kind == 1:
        host = socket.inet_ntop(socket.AF_INET, _exactly(connection, 4))
    elif kind == 3:
        name = _exactly(connection, _exactly(connection, 1)[0])
        if not name.isascii() or not name:  # names go as ASCII (IDNA's punycode)
            raise SocksRefused(SOCKS_HOST_UNREACHABLE)
        host = name.decode("ascii")
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, _exactly(connection, 16))
    else:
        raise SocksRefused(SOCKS_ADDRESS_NOT_SUPPORTED)
    port = int.from_bytes(_exactly(connection, 2), "big")
    if version != SOCKS_VERSION or command != 1:
        raise SocksRefused(SOCKS_COMMAND_NOT_SUPPORTED)
    return host, port


class _ToSocket:
    """A session's live output: stdout to the client's socket, stderr kept for the end."""

    def __init__(self, connection: socket.socket, *, socks: bool = False) -> None:
        self.connection = connection
        self.stderr = bytearray()
        self.broken = False
        # With SOCKS, the relay's first byte is its connect's outcome: the client's reply.
        self.awaiting_reply = socks

    def write(self, name: str, data: bytes) -> None:
        if name == "stderr":
            self.stderr += data
            return
        if self.awaiting_reply and data:
            self.awaiting_reply = False
            self.reply(data[0])
            data = data[1:]
        if self.broken:
            return
        try:
            self.connection.sendall(data)
        except OSError:
            self.broken = True

    def reply(self, code: int) -> None:
        """The SOCKS reply for the connect's outcome; a failure ends what reaches the client."""
        try:
            self.connection.sendall(socks_reply(code))
        except OSError:
            self.broken = True
        if code:
            self.broken = True


class Tunnel:
    """Listens for each forward and carries every connection it accepts; ``close`` ends all of them."""

    def __init__(self, shell: RemoteShell, make_session: Callable[[str, _ToSocket], InteractiveSession],
                 notice: Notice, on_change: Callable[[], None] | None = None) -> None:
        self.shell = shell
        self.make_session = make_session
        self.notice = notice
        # Called (from a connection's thread) when a connection starts or stops being carried.
        self.on_change = on_change or (lambda: None)
        self._sessions: set[InteractiveSession] = set()
        self._lock = threading.Lock()
        self._listeners: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._count = 0
        self._closing = False

    def listen(self, forward: Forward) -> socket.socket:
        family = socket.AF_INET6 if ":" in forward.bind else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((forward.bind, forward.port))
            listener.listen(64)
        except OSError as problem:
            listener.close()
            raise LambdashError(f"cannot listen on {host_port(forward.bind, forward.port)}: "
                                f"{problem.strerror or problem}") from None
        self._listeners.append(listener)
        return listener

    def start(self, forward: Forward) -> int:
        """Listen for ``forward`` and carry its connections from a thread of their own; the port bound."""
        listener = self.listen(forward)
        threading.Thread(target=self.serve, args=(forward, listener), name=f"tunnel-{forward.port}",
                         daemon=True).start()
        port: int = listener.getsockname()[1]
        return port

    @property
    def accepted(self) -> int:
        """How many connections it has accepted."""
        return self._count

    @property
    def open_connections(self) -> int:
        """How many connections a session carries now."""
        with self._lock:
            return len(self._sessions)

    def serve(self, forward: Forward, listener: socket.socket) -> None:
        """Accept connections on ``listener`` until it is closed, each carried in a thread of its own.

        For a SOCKS5 ``forward``, each connection is a client that says where it goes.
        """
        while True:
            try:
                connection, peer = listener.accept()
            except OSError:
                return
            with self._lock:
                self._count += 1
                number = self._count
            threading.Thread(target=self._accepted, args=(forward, connection, peer, number),
                             name=f"tunnel-{number}", daemon=True).start()

    def _accepted(self, forward: Forward, connection: socket.socket, peer: tuple[str, int], number: int) -> None:
        output = _ToSocket(connection, socks=forward.socks)
        with self._lock:
            self._connections.add(connection)
        try:
            if forward.socks:
                try:
                    connection.settimeout(SOCKS_HANDSHAKE_SECONDS)
                    host, port = socks_request(connection)
                    connection.settimeout(None)
                except (SocksRefused, OSError) as refused:
                    if isinstance(refused, SocksRefused) and refused.code is not None:
                        output.reply(refused.code)
                    return
                forward = Forward(bind=forward.bind, port=forward.port, host=host, remote_port=port)
            self._carry(forward, output, f"connection {number} from {peer[0]}:{peer[1]} to {forward.remote}")
        finally:
            if output.awaiting_reply:
                output.reply(SOCKS_GENERAL_FAILURE)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
            with self._lock:
                self._connections.discard(connection)

    def _carry(self, forward: Forward, output: _ToSocket, label: str) -> None:
        command = relay_command(forward.host, forward.remote_port, socks=output.awaiting_reply)
        session = self.make_session(command, output)
        started = time.monotonic()
        try:
            with self._lock:
                if self._closing:
                    return
                self._sessions.add(session)
            self.on_change()
            try:
                session.open()
            except LambdashError as problem:
                if not self._closing:
                    self.notice(f"{label}: {problem.message}")
                return
            reader = threading.Thread(target=self._upload, args=(output.connection, session), daemon=True)
            reader.start()
            try:
                result = session.wait()
            except LambdashError as problem:
                if not self._closing:
                    self.notice(f"{label}: {problem.message}")
                return
            if self._closing or result is None:
                return
            if result.timed_out:
                self.notice(f"{label} was cut by the function's time limit after "
                            f"{time.monotonic() - started:.0f} s")
            elif result.status != 0:
                said = output.stderr.decode("utf-8", "replace").strip().splitlines()
                self.notice(f"{label}: {said[-1] if said else f'the relay ended with status {result.status}'}")
        finally:
            with self._lock:
                self._sessions.discard(session)
            self.on_change()

    @staticmethod
    def _upload(connection: socket.socket, session: InteractiveSession) -> None:
        while True:
            try:
                data = connection.recv(READ_BYTES)
            except OSError:
                data = b""
            if not data:
                session.send_eof()
                return
            session.send_input(data)

    def close(self) -> None:
        """Stop listening and end every connection's session (its relay is killed in the sandbox)."""
        self._closing = True
        for listener in self._listeners:
            # shutdown first: a close alone leaves the socket listening while a thread blocks in its accept.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sessions = list(self._sessions)
            connections = list(self._connections)
        for connection in connections:  # a SOCKS client still greeting, too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for session in sessions:
            session.send_signal("KILL")
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        for session in sessions:
            with contextlib.suppress(LambdashError):
                session.wait(max(0.0, deadline - time.monotonic()))
            session.close()


def session_maker(shell: RemoteShell, target: Target,
                  timeout: float | None) -> Callable[[str, _ToSocket], InteractiveSession]:
    """Sessions for a tunnel: plain input (no terminal), sh, the given time limit."""

    def make(command: str, output: _ToSocket) -> InteractiveSession:
        return InteractiveSession(shell, target, command, live=output, terminal=TerminalSettings(),
                                  timeout=timeout, shell_name="sh", require_shell=True, notice=lambda text: None)

    return make
