"""The HTTP layer both of the local Lambda's APIs stand on: guards, bounded bodies, one answer each.

Both APIs (Invoke for clients, Runtime for sandboxes) listen on loopback and run
shell commands or hand out invocations, so:

- a request from a browser (any ``Origin`` header) or one naming a host this
  server is not (DNS rebinding) is refused before anything else;
- a body is read only up to the API's limit: a ``Content-Length`` over it is
  refused unread, and a chunked body is cut off as soon as it passes it; chunk-size
  lines and trailers are bounded too, and a chunk is read a piece at a time;
- bad framing gets a 400, never a closed connection with no answer;
- the listen backlog holds a burst of connections, so none is reset;
- a connection has a few seconds to send its request head (a minute between two
  requests; a server may lift these deadlines), and at most ``MAX_CONNECTIONS`` are
  open at once: a newcomer beyond that makes room by dropping the connection most
  overdue with its head, so clients that send nothing cannot hold the server's threads.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

from lambdash.text import is_decimal

# Connections waiting to be accepted (the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 1024
# Connections open at once, each with its thread.
MAX_CONNECTIONS = 256
# A new connection's request head (request line and headers) must have come whole within this long.
HEAD_SECONDS = 5.0
# After an answer, the next request's head must have come within this long (a REPL's connection waits here).
KEEPALIVE_SECONDS = 60.0
# A chunk-size line, and the trailers after a chunked body: lines, and bytes in all (as http.client bounds headers).
MAX_CHUNK_LINE_BYTES = 1024
MAX_TRAILER_LINES = 100
MAX_TRAILER_BYTES = 128 * 1024
# A chunk is read (and handed on) at most this much at a time, whatever size it declares.
CHUNK_PIECE_BYTES = 1024 * 1024
_TOO_MANY_BODY = b'{"message": "too many open connections; try again"}'
TOO_MANY_CONNECTIONS = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(_TOO_MANY_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _TOO_MANY_BODY)


class HTTPProblem(Exception):
    """A request refused with a status, an error type and a message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class Connections:
    """A server's open connections, and each one's deadline while it has yet to send a request head.

    The server's own loop drops the overdue (``drop_overdue``, shutting the socket so
    its thread's read ends), and ``admit`` makes room for a newcomer by dropping the
    connection whose head is most overdue, or refuses it when every one is busy.
    """

    def __init__(self, limit: int = MAX_CONNECTIONS, head_seconds: float | None = HEAD_SECONDS) -> None:
        self.limit = limit
        self.head_seconds = head_seconds
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float | None] = {}  # None: busy with a request

    def __len__(self) -> int:
        return len(self._deadlines)

    def admit(self, connection: socket.socket) -> bool:
        """Take a new connection (it gets ``head_seconds`` for its head); False when there is no room."""
        with self._lock:
            if len(self._deadlines) >= self.limit:
                waiting = [(deadline, sock) for sock, deadline in self._deadlines.items() if deadline is not None]
                if not waiting:
                    return False
                self._drop(min(waiting, key=lambda item: item[0])[1])
            self._deadlines[connection] = self._deadline(self.head_seconds)
        return True

    def expect(self, connection: socket.socket, seconds: float | None) -> None:
        """The connection must have sent what it owes (a head, a body) within ``seconds`` (None: no deadline)."""
        with self._lock:
            if connection in self._deadlines:
                self._deadlines[connection] = self._deadline(seconds)

    @staticmethod
    def _deadline(seconds: float | None) -> float | None:
        return None if seconds is None else time.monotonic() + seconds

    def busy(self, connection: socket.socket) -> bool:
        """The connection is being served: no deadline, never dropped to make room. False if it was dropped."""
        with self._lock:
            if connection not in self._deadlines:
                return False
            self._deadlines[connection] = None
            return True

    def forget(self, connection: socket.socket) -> None:
        """The connection is about to be closed (under the lock, so a drop never races its close)."""
        with self._lock:
            self._deadlines.pop(connection, None)

    def drop_overdue(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sock in [sock for sock, deadline in self._deadlines.items() if deadline is not None and deadline < now]:
                self._drop(sock)

    def _drop(self, connection: socket.socket) -> None:
        del self._deadlines[connection]
        try:
            connection.shutdown(socket.SHUT_RDWR)  # its thread's blocked read returns; the thread closes it
        except OSError:
            pass


class GuardedServer(ThreadingHTTPServer):
    """A threading HTTP server on one address, which knows the Host names that address answers to."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    # How long a new connection has for its request head, and one that had an answer for the next (None: no limit).
    head_seconds: float | None = HEAD_SECONDS
    keepalive_seconds: float | None = KEEPALIVE_SECONDS

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 listen: bool = True) -> None:
        """Bind ``address`` (so the port is known); listen at once, or only when ``listen()`` is called."""
        super().__init__(address, handler, bind_and_activate=False)
        self.closed = False
        self.connections = Connections(MAX_CONNECTIONS, self.head_seconds)
        self._lifecycle = threading.Lock()
        self._serving = False
        try:
            self.server_bind()
            if listen:
                self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def listen(self) -> None:
        """Start taking connections: until then a client is refused, never kept waiting half set up."""
        self.server_activate()

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        with self._lifecycle:
            if self.closed:  # closed before its thread got here: never serve
                return
            self._serving = True
        super().serve_forever(poll_interval)

    def service_actions(self) -> None:
        """Run by the serving loop between connections: close those overdue with their request head."""
        self.connections.drop_overdue()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request):
            self._turn_away(request)
            return
        super().process_request(request, client_address)

    def _turn_away(self, request: socket.socket) -> None:
        """Every connection is busy: a 503 if it fits in the socket's buffer, then close; no thread for it."""
        try:
            request.setblocking(False)
            request.send(TOO_MANY_CONNECTIONS)
        except OSError:
            pass
        self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        self.connections.forget(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.closed:
            report_unless_disconnected(client_address)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a Host header names this server: its own address, or ``localhost`` for loopback.

        On a wildcard address, any address of this machine's own, or its host name.
        Nothing is looked up in DNS.
        """
        if not host_header:
            return False
        host, port = split_host(host_header)
        if port != self.port:
            return False
        bound = str(self.server_address[0])
        if host == bound:
            return True
        if is_loopback_address(bound):
            return host == "localhost"
        if bound in ("0.0.0.0", "::"):
            return host in ("localhost", socket.gethostname()) or is_own_address(host)
        return False

    def close(self) -> None:
        """Stop serving and close the socket; also when serving never started (then there is nothing to stop)."""
        with self._lifecycle:
            self.closed = True
            serving = self._serving
        if serving:
            self.shutdown()
        self.server_close()


def split_host(value: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or a bare host, lower-cased; the port None when absent or bad."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    try:
        return host, int(port_text) if port_text else None
    except ValueError:
        return host, None


def is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_own_address(host: str) -> bool:
    """Whether ``host`` is an IP address of this machine: only those can be bound."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return False
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


def report_unless_disconnected(client_address: Any) -> None:
    """socketserver's error hook: a peer that hung up (a killed sandbox, a Ctrl-C'd client) is routine."""
    problem = sys.exc_info()[1]
    if isinstance(problem, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
        return
    print(f"lambdash: local Lambda: error serving {client_address}: {problem!r}", file=sys.stderr)


class GuardedRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with the guards; subclasses say how a refusal is written (``send_problem``)."""

    server: GuardedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would hold the second one back.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def handle(self) -> None:
        """Requests until the connection closes; between two, it has the server's ``keepalive_seconds`` for the next."""
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.server.connections.expect(self.connection, self.server.keepalive_seconds)
            self.handle_one_request()

    def parse_request(self) -> bool:
        """Read the head's headers; once they have come (whole, or broken), no deadline holds for the head."""
        parsed: bool = super().parse_request()
        if not self.server.connections.busy(self.connection):  # dropped while its head came: a torn head
            self.close_connection = True
            return False
        return parsed

    def send_problem(self, problem: HTTPProblem) -> None:
        send_json(self, problem.status, {"message": problem.message}, {"x-amzn-ErrorType": problem.error_type})

    def refuse_browsers_and_strangers(self) -> None:
        """Raise HTTPProblem for a request a browser sent, or one naming another host."""
        if self.headers.get("Origin") is not None:
            raise HTTPProblem(HTTPStatus.FORBIDDEN, "AccessDeniedException",
                              "requests from web pages are refused (this server runs shell commands)")
        if not self.server.host_allowed(self.headers.get("Host")):
            raise HTTPProblem(HTTPStatus.FORBIDDEN, "AccessDeniedException",
                              f"Host {self.headers.get('Host')!r} is not this server")

    def declared_length(self, limit: int) -> int | None:
        """The body's Content-Length, checked against ``limit`` before anything is read; None when chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return None
        text = self.headers.get("Content-Length") or "0"
        if not is_decimal(text):
            self.close_connection = True
            raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException",
                              f"Content-Length is not a number: {text!r}")
        length = int(text)
        if length > limit:
            self.close_connection = True  # the body stays unread
            raise HTTPProblem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestTooLargeException",
                              f"Request must be smaller than {limit} bytes")
        return length

    def read_body(self, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes, with Content-Length or chunked framing."""
        length = self.declared_length(limit)
        if length is not None:
            body = self.rfile.read(length) if length else b""
            if len(body) != length:
                self.close_connection = True
                raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException",
                                  f"the body ended after {len(body)} of {length} bytes")
            return body
        return b"".join(self.read_chunks(limit))

    def read_chunks(self, limit: int | None = None) -> Iterator[bytes]:
        """A chunked body as it arrives, a piece (at most ``CHUNK_PIECE_BYTES``) at a time.

        The trailers land in ``self.trailers``. Chunk-size lines and trailers are bounded,
        so a client cannot make the server hold more than that; with ``limit``, a chunk
        that would take the body past it is refused before it is read.
        """
        self.trailers: dict[str, str] = {}
        received = 0
        while True:
            size = self._chunk_size(self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1))
            if size == 0:
                break
            received += size
            if limit is not None and received > limit:
                self.close_connection = True
                raise HTTPProblem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestTooLargeException",
                                  f"Request must be smaller than {limit} bytes")
            while size:
                piece = self.rfile.read(min(size, CHUNK_PIECE_BYTES))
                if not piece:
                    self._bad_framing("a chunk was cut short")
                size -= len(piece)
                yield piece
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self._bad_framing("a chunk was cut short")
        lines = total = 0
        while True:  # trailers, then the blank line that ends the body
            line = self.rfile.readline(MAX_TRAILER_BYTES - total + 1)
            if line in (b"\r\n", b"\n", b""):
                return
            lines, total = lines + 1, total + len(line)
            if lines > MAX_TRAILER_LINES or total > MAX_TRAILER_BYTES:
                self._bad_framing(f"too many trailers (at most {MAX_TRAILER_LINES} lines, {MAX_TRAILER_BYTES} bytes)")
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                self.trailers[name.strip().lower()] = value.strip()

    def _chunk_size(self, line: bytes) -> int:
        digits = line.split(b";")[0].strip()
        if not line.endswith(b"\n") or not 0 < len(digits) <= 16 or digits.strip(b"0123456789abcdefABCDEF"):
            self._bad_framing(f"bad chunk header {line[:40]!r}")
        return int(digits, 16)

    def _bad_framing(self, message: str) -> NoReturn:
        self.close_connection = True
        raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException", message)


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """Send a JSON body (or raw bytes) with the given status and extra headers."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


def parse_json_event(body: bytes) -> None:
    """Refuse what Lambda refuses as an event: not JSON, NaN or Infinity, or nested too deep to read."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        json.loads(body, parse_constant=no_constants)
    except (ValueError, RecursionError) as problem:
        reason = "nested too deeply" if isinstance(problem, RecursionError) else str(problem)
        raise HTTPProblem(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException",
                          f"Could not parse request body into json: {reason}") from None
