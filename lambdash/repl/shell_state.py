"""The shell state the REPL carries between commands, and running commands with it.

Lambda may send each command to a different sandbox, so the remote shell cannot
remember anything. The client does: the cwd and an environment overlay (the
variables set or unset relative to the sandbox's own environment) go with every
command, and the state the command left behind comes back and replaces them.
That makes ``cd``, ``cd -`` (OLDPWD is an exported variable), ``export`` and
``unset`` behave as in one long-lived shell; the last status goes along too, as
the next command's ``$?``. When the handler could not read the
state back (its response says why, in ``state_error``), the last good state is kept
and a one-line notice says so.

``CarriedShell`` owns that state. It runs commands with bash when the sandbox
has it, and falls back to sh once the function says bash is missing. When the
carried cwd does not exist in the sandbox that answers, it drops the cwd, says
so, and runs the command again in the sandbox's own directory (the handler
refused the request before running anything, so nothing runs twice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdash.errors import LambdashError, RequestRefused
from lambdash.shell.remote import LiveOutput, RemoteResult, RemoteShell, Stdin
from lambdash.terminal import OutputTerminal

# The handler's codes for the refusals handled here (handler/app.py and handler/request.py).
_MISSING_CWD = "cwd_missing"
_MISSING_BASH = "shell_missing"

Notify = Callable[[str], None]


@dataclass
class CarriedState:
    """The cwd (None until a command has reported one), the environment overlay, and the last status (`$?`)."""

    cwd: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    last_status: int = 0

    def copy(self) -> CarriedState:
        return CarriedState(self.cwd, dict(self.env), self.last_status)


@dataclass(frozen=True)
class SandboxSeen:
    """The sandbox that answered the last command, as the handler described it."""

    id: str
    cold: bool
    invocations: int
    uptime: float
    pid: int | None

    @classmethod
    def from_response(cls, sandbox: Mapping[str, Any]) -> SandboxSeen | None:
        if not sandbox.get("id"):
            return None
        return cls(
            id=str(sandbox["id"]),
            cold=bool(sandbox.get("cold")),
            invocations=int(sandbox.get("invocations") or 0),
            uptime=float(sandbox.get("uptime") or 0.0),
            pid=sandbox.get("pid"),
        )


class CarriedShell:
    """A RemoteShell plus the state that makes it feel like one shell."""

    def __init__(self, remote: RemoteShell, *, prefer_bash: bool = True, require_bash: bool = False,
                 notify: Notify | None = None) -> None:
        self.remote = remote
        self.state = CarriedState()
        self.shell_name = "bash" if prefer_bash or require_bash else "sh"
        self.require_bash = require_bash
        # `:keep on`: what a command leaves running stays in its sandbox, as on Lambda.
        self.keep_background = False
        self.sandbox: SandboxSeen | None = None
        self._notify = notify or (lambda text: None)
        # Background listings read the state while a command may be replacing it.
        self._lock = threading.Lock()

    def snapshot(self) -> CarriedState:
        """A copy of the state, safe to use from another thread."""
        with self._lock:
            return self.state.copy()

    def run(self, command: str, *, stdin: Stdin = None, timeout: float | None = None,
            keep_state: bool = True, on_throttle: Callable[[int, float], None] | None = None,
            live: LiveOutput | None = None, terminal: OutputTerminal | None = None) -> RemoteResult:
        """Run ``command`` with the carried state; with ``keep_state`` adopt the state it leaves.

        ``terminal`` is the one its output is shown on, if any (see ``RemoteShell.run``).
        """
        state = self.snapshot()
        result = self._run_with_fallbacks(command, state, stdin, timeout, on_throttle, keep_state, live, terminal)
        with self._lock:
            seen = SandboxSeen.from_response(result.sandbox)
            if keep_state:
                self.sandbox = seen or self.sandbox
                if result.state is not None:
                    # The handler reports the complete overlay relative to the sandbox, so it replaces ours.
                    self.state = CarriedState(result.state.cwd, dict(result.state.env))
                elif result.raw.get("state_error"):
                    self._notify(f"{result.raw['state_error']}; keeping the last cwd and environment")
                self.state.last_status = result.status
        return result

    def note_status(self, status: int) -> None:
        """The next command's `$?`, when the last one ended without a result (interrupted, or lambdash failed)."""
        with self._lock:
            self.state.last_status = status

    def _run_with_fallbacks(self, command: str, state: CarriedState, stdin: Stdin, timeout: float | None,
                            on_throttle: Callable[[int, float], None] | None, keep_state: bool,
                            live: LiveOutput | None, terminal: OutputTerminal | None) -> RemoteResult:
        rewind = _rewinder(stdin)
        for _ in range(3):
            rewind()
            try:
                return self.remote.run(
                    command, stdin=stdin, timeout=timeout, cwd=state.cwd, env=state.env, capture_state=True,
                    shell=self.shell_name, on_throttle=on_throttle,
                    keep_background=self.keep_background and keep_state, live=live, last_status=state.last_status,
                    terminal=terminal,
                )
            except RequestRefused as problem:
                if problem.code == _MISSING_CWD and state.cwd is not None:
                    if keep_state:
                        self._notify(f"{state.cwd} does not exist in this sandbox; running in its own directory")
                        with self._lock:
                            self.state.cwd = None
                    state.cwd = None
                    continue
                if problem.code == _MISSING_BASH and self.shell_name == "bash" and not self.require_bash:
                    if keep_state:
                        self._notify("this sandbox has no /bin/bash; using /bin/sh")
                    self.shell_name = "sh"
                    continue
                raise
        raise LambdashError("the function kept refusing the request")


def _rewinder(stdin: Stdin) -> Callable[[], object]:
    """What puts a file given as stdin back where it started, for a refused request sent again."""
    if stdin is None or isinstance(stdin, bytes) or not stdin.seekable():
        return lambda: None
    start = stdin.tell()
    return lambda: stdin.seek(start)
