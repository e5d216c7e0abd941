"""Tunnels in the background of a REPL: ``:forward``, ``:socks`` and ``:tunnels``.

A tunnel started here listens and carries connections from threads of its own
(``shell.tunnel``), as ``lambdash forward`` and ``lambdash socks`` do, while the
prompt goes on. Each has a number; ``:tunnels`` lists them, ``:tunnels stop N``
ends one, and leaving the REPL ends them all, with every connection they carry.
What happens to a connection later (cut by the time limit, refused) is said
above the prompt, naming its tunnel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdash.config import Target, parse_seconds
from lambdash.errors import UsageError
from lambdash.repl.toolbar import format_duration
from lambdash.shell.remote import RemoteShell
from lambdash.shell.tunnel import Forward, Tunnel, describe, host_port, session_maker

Notice = Callable[[str], None]


@dataclass(frozen=True)
class RunningTunnel:
    """A tunnel in the background: its number, what it carries, and where it listens."""

    number: int
    forward: Forward
    port: int
    tunnel: Tunnel
    started: float

    @property
    def address(self) -> str:
        return host_port(self.forward.bind, self.port)


@dataclass(frozen=True)
class TunnelRequest:
    """A ``:forward`` or ``:socks`` line: its specs, each connection's time limit, and whether to probe."""

    specs: list[str]
    timeout: float | None
    probe: bool


def parse_tunnel_arguments(arguments: list[str], usage: str, *, probe_option: bool) -> TunnelRequest:
    """``[--no-probe] [--timeout SECONDS] SPEC...``, options anywhere, as the commands take them."""
    words = list(arguments)
    specs: list[str] = []
    timeout: float | None = None
    probe = probe_option
    while words:
        word = words.pop(0)
        if word == "--":  # the rest are specs, as in a shell command
            specs += words
            break
        if word == "--no-probe" and probe_option:
            probe = False
        elif word == "--timeout" or word.startswith("--timeout="):
            value = word.partition("=")[2] if "=" in word else (words.pop(0) if words else "")
            try:
                timeout = parse_seconds(value)
            except ValueError as problem:
                raise UsageError(f"--timeout {problem}") from None
        elif word.startswith("-") and word != "-":
            raise UsageError(f"unknown option {word} (usage: {usage}; :help {usage.split()[0][1:]} lists the options)")
        else:
            specs.append(word)
    if not specs:
        raise UsageError(f"usage: {usage}")
    return TunnelRequest(specs, timeout, probe)


class ReplTunnels:
    """The REPL's background tunnels, by number."""

    def __init__(self, remote: RemoteShell, target: Target, notice: Notice,
                 on_change: Callable[[], None] | None = None) -> None:
        self.remote = remote
        self.target = target
        self.notice = notice
        # Called when a tunnel starts or stops, or a connection opens or closes (for the toolbar).
        self.on_change = on_change or (lambda: None)
        self._running: dict[int, RunningTunnel] = {}
        self._next = 1
        self._lock = threading.Lock()

    def start(self, forwards: list[Forward], timeout: float | None) -> list[RunningTunnel]:
        """Listen for each forward; if one cannot listen, none of them is left running."""
        started: list[RunningTunnel] = []
        try:
            for forward in forwards:
                started.append(self._start(forward, timeout))
        except BaseException:
            for running in started:
                self.stop(running.number)
            if started:  # the numbers they had are free again
                with self._lock:
                    self._next = started[0].number
            raise
        return started

    def _start(self, forward: Forward, timeout: float | None) -> RunningTunnel:
        named: list[int] = []  # its number, once it listens

        def said(text: str) -> None:
            self.notice(f"tunnel {named[0]}: {text}")

        tunnel = Tunnel(self.remote, session_maker(self.remote, self.target, timeout), said, self.on_change)
        port = tunnel.start(forward)
        with self._lock:
            number = self._next
            self._next += 1
            named.append(number)
            running = RunningTunnel(number, forward, port, tunnel, time.monotonic())
            self._running[number] = running
        self.on_change()
        return running

    def stop(self, number: int) -> RunningTunnel:
        """End tunnel ``number`` and every connection it carries."""
        with self._lock:
            running = self._running.pop(number, None)
        if running is None:
            known = ", ".join(str(each) for each in sorted(self._running)) or "none is running"
            raise UsageError(f"no tunnel {number} ({known}; :tunnels lists them)")
        running.tunnel.close()
        self.on_change()
        return running

    def stop_all(self) -> list[RunningTunnel]:
        """End every tunnel at once (each gives its connections a few seconds to end)."""
        with self._lock:
            numbers = sorted(self._running)
        stoppers = [threading.Thread(target=self.stop, args=(number,), daemon=True) for number in numbers]
        running = self.running
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        return running

    @property
    def running(self) -> list[RunningTunnel]:
        with self._lock:
            return [self._running[number] for number in sorted(self._running)]

    def open_connections(self) -> int:
        return sum(running.tunnel.open_connections for running in self.running)


def started_line(running: RunningTunnel) -> str:
    number = running.number
    return f"tunnel {number}: {describe(running.forward, running.port)} (:tunnels stop {number} ends it)"


def stopped_line(running: RunningTunnel) -> str:
    carried = running.tunnel.accepted
    return (f"tunnel {running.number} ended: {running.address} to {running.forward.remote}, after "
            f"{carried} connection{'' if carried == 1 else 's'}")


def table(tunnels: list[RunningTunnel], now: float) -> list[str]:
    """``:tunnels``: one row each, with what it carries now and has carried."""
    if not tunnels:
        return ["(no tunnels: :forward or :socks starts one)"]
    rows = [("#", "listening on", "to", "open", "carried", "for")]
    rows += [(str(running.number), running.address, running.forward.remote, str(running.tunnel.open_connections),
              str(running.tunnel.accepted), format_duration(now - running.started)) for running in tunnels]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
            for row in rows]
