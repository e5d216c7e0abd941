"""The Lambda clients the agent keeps warm: one per way of reaching Lambda and per caller's AWS settings.

A client is made in the agent with the caller's environment applied, and kept
under its target and a digest of everything of the caller's that could change
what a client does: every ``AWS_*`` and ``LAMBDASH_*`` variable, the variables
that say where files are or how to connect (``HOME``, ``XDG_*``, proxies, CA
bundles), and the contents of the lambdash config file, the AWS config and
credentials files, and the local Lambda's kept credentials. A change in any of
them (another region, profile or key, an edited credentials file) gets another
client, never a stale one.

Each worker is handed the client for its request; since the worker now uses the
client's open connections, the agent lets go of its copies, and opens a fresh
connection in idle time, so the next one-shot skips the TCP and TLS handshakes too.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lambdash.agent.server import caller_context
from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target
from lambdash.paths import config_path, state_dir

# At most this many clients are kept; the least recently used goes first.
CAPACITY = 16
_PREFIXES = ("AWS_", "LAMBDASH_", "XDG_", "BOTO_")
_NAMES = ("HOME", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
          "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def settings_digest(environ: Mapping[str, str]) -> str:
    """A digest of the caller's settings that shape a Lambda client (read with the caller's cwd)."""
    digest = hashlib.sha256()
    for name in sorted(environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            digest.update(f"{name}={environ[name]}\0".encode("utf-8", "surrogateescape"))
    home = environ.get("HOME") or os.path.expanduser("~")
    files = (
        str(config_path(environ)),
        environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
        environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
        str(state_dir(environ) / "local-credentials"),
    )
    for path in files:
        digest.update(f"\0file {path}\0".encode("utf-8", "surrogateescape"))
        try:
            with open(os.path.expanduser(path), "rb") as file:
                digest.update(file.read())
        except OSError as problem:
            digest.update(f"unreadable: {problem.errno}".encode())
    return digest.hexdigest()


@dataclass
class WarmClient:
    """One kept client, and how it has been used.

    It serves every function reached the same way: the same settings, region,
    profile, endpoint and credentials (a loop over functions uses one connection).
    """

    client: LambdaClient
    settings: str
    # The environment, cwd and umask it was made in: a connection is opened ahead in them too
    # (whether a proxy is in the way is the caller's environment's to say).
    caller: dict[str, Any] = field(repr=False, default_factory=dict)
    functions: set[str] = field(default_factory=set)
    requests: int = 0
    last_used: float = field(default_factory=time.time)
    needs_connection: bool = True

    @property
    def label(self) -> str:
        """Where it reaches, and the functions it has served there."""
        return replace(self.client.target, function=", ".join(sorted(self.functions))).label


@dataclass(frozen=True)
class Lent:
    """A kept client, and the client for one request's target made on it (what the worker is handed)."""

    kept: WarmClient
    client: LambdaClient


class WarmClients:
    """The kept clients, by how they reach Lambda and the caller's settings digest."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._kept: dict[tuple[object, ...], WarmClient] = {}

    def client_for(self, target: Target, settings: str, caller: dict[str, Any]) -> Lent:
        """A client for the target, on the one kept for these settings; that one made now (in the caller's
        environment) if none is.

        Raises what making a client raises (a bad profile, no region): the worker then
        makes its own and says so exactly as a one-shot without the agent does.
        """
        key = (settings, target.region, target.profile, target.endpoint_url, target.local, target.credentials)
        kept = self._kept.pop(key, None)
        if kept is not None:
            kept.client.settle_connections()  # what the server sent on its connection since it opened
        else:
            kept = WarmClient(LambdaClient(target), settings,
                              {name: caller.get(name) for name in ("env", "cwd", "umask")})
            while len(self._kept) >= self.capacity:
                del self._kept[next(iter(self._kept))]
        self._kept[key] = kept  # now the most recently used
        kept.functions.add(target.function)
        return Lent(kept, kept.client.sharing(target))

    def handed(self, lent: Lent) -> None:
        """A worker uses the client's connections now: let them go here, and open another in idle time."""
        kept = lent.kept
        kept.requests += 1
        kept.last_used = time.time()
        kept.client.forget_connections()
        kept.needs_connection = True

    def connect_one(self) -> bool:
        """Open a connection ahead for one client that has none; whether there was one to do."""
        for kept in reversed(self._kept.values()):
            if kept.needs_connection:
                kept.needs_connection = False
                with caller_context(kept.caller):
                    kept.client.connect_ahead()
                return True
        return False

    def describe(self) -> list[dict[str, object]]:
        return [{"target": kept.label, "settings": kept.settings[:12], "requests": kept.requests,
                 "last_used": round(kept.last_used, 1)}
                for kept in reversed(self._kept.values())]
