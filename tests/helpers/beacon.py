"""A loopback listener that a sandbox's command reaches to say it ran, and what it saw.

A local sandbox cannot write the host's files (its / is read-only, its /tmp its own),
but it shares the host's network: a command tells the test something by connecting here.
"""

from __future__ import annotations

import socket
from types import TracebackType


class Beacon:
    """Listens on a loopback port; ``command(text)`` is a shell command that sends ``text`` to it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.setblocking(False)
        self.port: int = self._server.getsockname()[1]
        self._received: list[str] = []

    def command(self, message: str = "ran") -> str:
        """A shell command sending ``message`` here; it stands in double quotes, so the shell expands $NAME in it."""
        send = f'import socket, sys; socket.create_connection(("127.0.0.1", {self.port})).sendall(sys.argv[1].encode())'
        return f"python3 -c '{send}' \"{message}\""

    @property
    def messages(self) -> list[str]:
        """Every message sent so far. A command that has ended has connected already: its message is among them."""
        while True:
            try:
                connection, _ = self._server.accept()
            except BlockingIOError:
                return list(self._received)
            with connection:
                connection.setblocking(True)
                connection.settimeout(10)
                data = b""
                while chunk := connection.recv(4096):
                    data += chunk
            self._received.append(data.decode())

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> Beacon:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
