"""The credential pair a local Lambda accepts, kept per host and port so clients find it.

``lambdash serve`` makes a random pair the first time it listens on a host and
port, and keeps it in ``$XDG_STATE_HOME/lambdash/local-credentials`` (mode 0600),
an AWS shared-credentials file with one profile per address. A restarted serve
keeps its pair, so a REPL reconnects; the lambdash client reads the pair for an
``--endpoint-url`` that names that address; the AWS CLI uses it through
``AWS_SHARED_CREDENTIALS_FILE`` and ``--profile``. The file is opened with
``config.open_private``: a link, or a file that is not the user's own, is refused.
"""

from __future__ import annotations

import configparser
import fcntl
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lambdash.paths import open_private, state_dir

FILE_NAME = "local-credentials"
PROFILE_PREFIX = "lambdash-local"
WILDCARD_HOSTS = ("0.0.0.0", "::")
LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


@dataclass(frozen=True)
class CredentialPair:
    """An access key id and its secret, and the session token that goes with temporary ones."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    @classmethod
    def random(cls) -> CredentialPair:
        alphabet = string.ascii_uppercase + string.digits
        return cls("LOCAL" + "".join(secrets.choice(alphabet) for _ in range(15)), secrets.token_urlsafe(30))


def credentials_path(environ: Mapping[str, str] = os.environ) -> Path:
    return state_dir(environ) / FILE_NAME


def profile_name(host: str, port: int) -> str:
    """The profile that holds the pair of the local Lambda at ``host:port``."""
    return f"{PROFILE_PREFIX}-{LOOPBACK_NAMES.get(host, host).strip('[]')}-{port}"


def stored_pair(host: str, port: int, path: Path | None = None) -> CredentialPair:
    """The pair kept for ``host:port``, made and kept (0600) the first time."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = open_private(path, os.O_RDWR | os.O_CREAT)
    with os.fdopen(descriptor, "r+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # two serves starting at once must not overwrite each other
        if os.fstat(file.fileno()).st_mode & 0o077:  # readable by others, but nobody else's: made private
            os.fchmod(file.fileno(), 0o600)
        profiles = configparser.ConfigParser(interpolation=None)
        profiles.read_string(file.read())
        section = profile_name(host, port)
        if profiles.has_section(section):
            return CredentialPair(profiles[section]["aws_access_key_id"], profiles[section]["aws_secret_access_key"])
        pair = CredentialPair.random()
        profiles[section] = {"aws_access_key_id": pair.access_key_id,
                             "aws_secret_access_key": pair.secret_access_key}
        file.seek(0)
        file.truncate()
        profiles.write(file)
        return pair


def pair_for_endpoint(endpoint_url: str, environ: Mapping[str, str] = os.environ) -> CredentialPair | None:
    """The pair kept for the local Lambda an endpoint URL names, if one was kept for it.

    A kept file that is a link or not the user's own is refused (UnsafeStateFile), never read.
    """
    parts = urlsplit(endpoint_url)
    if parts.hostname is None or parts.port is None:
        return None
    path = credentials_path(environ)
    profiles = configparser.ConfigParser(interpolation=None)
    try:
        with os.fdopen(open_private(path, os.O_RDONLY), encoding="utf-8") as file:
            profiles.read_string(file.read())
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    for host in (parts.hostname, *WILDCARD_HOSTS):
        section = profile_name(host, parts.port)
        if profiles.has_section(section) and {"aws_access_key_id", "aws_secret_access_key"} <= set(profiles[section]):
            return CredentialPair(profiles[section]["aws_access_key_id"], profiles[section]["aws_secret_access_key"])
    return None
