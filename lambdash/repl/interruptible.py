"""Remote calls the user can walk away from with Ctrl-C.

A Lambda invocation cannot be cancelled once sent, and a blocking boto3 call in
the main thread would hold Ctrl-C until it returns. So every call the REPL makes
for the user runs in a worker thread, and the main thread only waits for it.
Ctrl-C interrupts the wait at once: the call is abandoned (it goes on in its
thread, and may go on in the sandbox), and when it finally ends its outcome is
reported through ``on_settled`` like any other, flagged as abandoned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Value = TypeVar("Value")

# How often the main thread wakes while it waits (Ctrl-C is also delivered between waits).
_WAIT_SLICE_SECONDS = 0.05


class Interrupted(Exception):
    """The user pressed Ctrl-C while a remote call was running; it was abandoned."""


@dataclass(frozen=True)
class Settled(Generic[Value]):
    """How a call ended: its value or its error, and whether the user had walked away from it."""

    value: Value | None
    error: BaseException | None
    abandoned: bool


class RemoteCall(Generic[Value]):
    """One call in a worker thread; ``wait`` returns its value or raises its error."""

    def __init__(self, work: Callable[[], Value],
                 on_settled: Callable[[Settled[Value]], None] | None = None, name: str = "remote-call") -> None:
        self._work = work
        self._on_settled = on_settled
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: Value | None = None
        self._error: BaseException | None = None
        self._abandoned = False
        self._settled = False
        # Daemon: an abandoned call must not keep the REPL alive after Ctrl-D.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def start(self) -> RemoteCall[Value]:
        self._thread.start()
        return self

    def wait(self) -> Value:
        """Wait for the call; Ctrl-C abandons it and raises Interrupted."""
        try:
            while not self._done.wait(_WAIT_SLICE_SECONDS):
                pass
        except KeyboardInterrupt:
            with self._lock:
                if not self._settled:
                    self._abandoned = True
            if self._abandoned:
                raise Interrupted() from None
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as problem:  # carried to the waiting thread, which decides what to do
            self._error = problem
        with self._lock:
            self._settled = True
            abandoned = self._abandoned
        if self._on_settled is not None:
            try:
                self._on_settled(Settled(self._value, self._error, abandoned))
            except Exception:  # reporting must not kill the worker; the REPL goes on
                pass
        self._done.set()
