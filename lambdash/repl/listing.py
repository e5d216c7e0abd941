"""Remote listings for completion: fetched in the background, cached briefly.

Completion must never wait for Lambda, so the completer only ever reads
``ListingCache``: it answers with whatever is cached now (even if stale) and,
when that is missing or old, asks one background thread to fetch it. When the
fetch lands, ``on_update`` lets the REPL redraw the completion menu; when it
fails, ``on_error`` says why (and the empty answer is cached like any other).

Only one fetch runs at a time, and only the newest request waits behind it:
every fetch is a Lambda invocation, and while a command runs each one would
start another sandbox, so a burst of keystrokes must not become a burst of
invocations.

``RemoteLister`` is the real source: one small POSIX shell script per listing,
run with the carried cwd and environment (so relative paths and ``~`` resolve
as the next command will see them) without adopting the state it leaves.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from lambdash.repl.shell_state import CarriedShell

# A directory listing is reused this long before it is fetched again.
DIRECTORY_TTL_SECONDS = 5.0
# How long one listing may run in the sandbox.
LISTING_TIMEOUT_SECONDS = 10.0

# Every executable on PATH, NUL-separated. `set -f` keeps PATH entries from being globbed.
_COMMANDS_SCRIPT = r"""set -f; IFS=:
for d in $PATH; do
  [ -d "$d" ] || continue
  set +f
  for f in "$d"/*; do [ -x "$f" ] && [ ! -d "$f" ] && printf '%s\0' "${f##*/}"; done
  set -f
done
exit 0
"""
# Every entry of the current directory, directories marked with a trailing slash.
_DIRECTORY_SCRIPT = r"""for f in * .[!.]* ..?*; do
  if [ -d "$f" ]; then printf '%s/\0' "$f"; elif [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done
exit 0
"""
_TILDE_PREFIX = re.compile(r"^~[A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ListingRequest:
    """What to list; it is also the cache key."""

    kind: Literal["commands", "directory"]
    # For a directory: the directory as typed, up to and including its last slash ("" is the cwd).
    directory: str = ""
    # The cwd a relative directory is resolved in (None for absolute ones and for commands).
    cwd: str | None = None
    # For commands: the sandbox (and PATH) the list belongs to; it is fetched once per scope.
    scope: str = ""


Lister = Callable[[ListingRequest], Sequence[str]]
Notify = Callable[[str], None]


@dataclass
class _Entry:
    names: tuple[str, ...]
    fetched_at: float


class ListingCache:
    """Listings fetched by one background thread; readers never wait."""

    def __init__(self, lister: Lister, *, ttl: float = DIRECTORY_TTL_SECONDS,
                 on_update: Callable[[ListingRequest], None] | None = None, on_error: Notify | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lister = lister
        self._ttl = ttl
        self._on_update = on_update
        self._on_error = on_error
        self._clock = clock
        self._entries: dict[ListingRequest, _Entry] = {}
        # The newest commands list of any scope stands in while another scope's is fetched.
        self._latest_commands: tuple[str, ...] | None = None
        self._wanted: ListingRequest | None = None
        self._fetching: ListingRequest | None = None
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    def get(self, request: ListingRequest) -> tuple[str, ...] | None:
        """What is cached for the request now; a fetch is started when it is missing or stale."""
        with self._condition:
            entry = self._entries.get(request)
            fresh = entry is not None and (
                request.kind == "commands" or self._clock() - entry.fetched_at < self._ttl
            )
            if not fresh and request != self._fetching:
                self._wanted = request
                self._start_worker()
                self._condition.notify_all()
            if entry is not None:
                return entry.names
            if request.kind == "commands":
                return self._latest_commands
            return None

    def wait_idle(self, timeout: float) -> bool:
        """Block until no fetch is running or waiting (for tests, benchmarks and warm-up)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._wanted is not None or self._fetching is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._wanted = None
            self._condition.notify_all()

    def _start_worker(self) -> None:
        if self._worker is None and not self._closed:
            self._worker = threading.Thread(target=self._fetch_forever, name="completion-listing", daemon=True)
            self._worker.start()

    def _fetch_forever(self) -> None:
        while True:
            with self._condition:
                while self._wanted is None and not self._closed:
                    self._condition.wait()
                request = self._wanted
                if self._closed or request is None:
                    return
                self._wanted = None
                self._fetching = request
            names: tuple[str, ...] = ()
            failed = False
            try:
                names = tuple(self._lister(request))
            except Exception as problem:  # a listing that fails must not stop completion
                failed = True
                if self._on_error is not None:
                    self._on_error(f"completion listing failed: {problem}")
            with self._condition:
                # A failed listing is cached as empty too, so it is not retried on every keystroke.
                self._entries[request] = _Entry(names, self._clock())
                if request.kind == "commands" and names:
                    self._latest_commands = names
                self._fetching = None
                self._condition.notify_all()
            if self._on_update is not None and not failed:
                try:
                    self._on_update(request)
                except Exception as problem:
                    if self._on_error is not None:
                        self._on_error(f"completion refresh failed: {problem}")


class RemoteLister:
    """Lists commands and directories in the sandbox with the REPL's carried state."""

    def __init__(self, shell: CarriedShell, *, timeout: float = LISTING_TIMEOUT_SECONDS) -> None:
        self.shell = shell
        self.timeout = timeout

    def __call__(self, request: ListingRequest) -> list[str]:
        if request.kind == "commands":
            script = _COMMANDS_SCRIPT
        else:
            enter = f"cd {quote_directory(request.directory)} 2>/dev/null || exit 0\n" if request.directory else ""
            script = enter + _DIRECTORY_SCRIPT
        result = self.shell.run(script, timeout=self.timeout, keep_state=False)
        output = result.stdout.read("listing").decode("utf-8", "surrogateescape")
        return sorted({name for name in output.split("\0") if name})


def quote_directory(directory: str) -> str:
    """Quote a directory for ``cd``, leaving a leading ``~`` or ``~user`` to the shell to expand."""
    match = _TILDE_PREFIX.match(directory)
    if match is None:
        return "-- " + shlex.quote(directory)
    rest = directory[match.end():]
    return match.group(0) + (shlex.quote(rest) if rest else "")


def commands_scope(sandbox_id: str | None, path_overlay: str | None) -> str:
    """Command names are fetched once per sandbox, and again when PATH is changed."""
    return f"{sandbox_id or ''}|{path_overlay or ''}"


def listing_for_directory(directory: str, cwd: str | None) -> ListingRequest:
    """The request for a directory as typed; an absolute one does not depend on the cwd."""
    absolute = directory.startswith(("/", "~"))
    return ListingRequest(kind="directory", directory=directory, cwd=None if absolute else cwd)
