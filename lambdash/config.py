"""Which Lambda to talk to: flags, then environment variables, then the config file.

The config file is ``$XDG_CONFIG_HOME/lambdash/config.toml`` (normally
``~/.config/lambdash/config.toml``) and may hold ``function``, ``region``,
``profile`` and ``bucket``. With no function anywhere, lambdash runs on the local
sandbox and says so.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdash.errors import ConfigError
from lambdash.paths import config_path
from lambdash_handler.contract import ENV_BUCKET, MAX_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from lambdash.local.credentials import CredentialPair

CONFIG_KEYS = ("function", "region", "profile", "bucket")
# Printed (on stderr) whenever the local sandbox is the target only because nothing else was configured.
LOCAL_DEFAULT_NOTICE = (
    "no function configured; running on the local sandbox "
    "(target AWS with -f NAME or LAMBDASH_FUNCTION; --local hides this notice)"
)
DEFAULT_FUNCTION = "lambdash"


@dataclass(frozen=True)
class Target:
    """One Lambda function to run commands on, or the local sandbox."""

    function: str = DEFAULT_FUNCTION
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    bucket: str | None = None
    local: bool = False
    # The pair a local Lambda (``--local``, or ``lambdash serve`` at endpoint_url) checks signatures with.
    credentials: CredentialPair | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """How the target is shown to people: ``local``, or ``function (region)``, ``@ endpoint`` when one is set."""
        if self.local:
            return "local"
        named = f"{self.function} ({self.region})" if self.region else self.function
        return f"{named} @ {self.endpoint_url}" if self.endpoint_url else named


def config_file_warning(environ: Mapping[str, str] = os.environ) -> str | None:
    """A one-line warning when the config file can be changed by every user (it is still read)."""
    path = config_path(environ)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & stat.S_IWOTH:
        return (f"{path} can be changed by every user (mode {stat.S_IMODE(mode):03o}), and it chooses where "
                f"commands run; fix it with `chmod 644 {path}`")
    return None


def load_config_file(path: Path) -> dict[str, str]:
    """The config file's settings; an absent file is an empty config."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as problem:
        raise ConfigError(f"cannot read {path}: {problem}") from None
    except tomllib.TOMLDecodeError as problem:
        raise ConfigError(f"{path} is not valid TOML: {problem}") from None
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})")
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {key} must be a non-empty string")
    return dict(raw)


@dataclass(frozen=True)
class TargetOptions:
    """What the command line said about the target (None where it said nothing)."""

    function: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    bucket: str | None = None
    local: bool = False


def resolve_target(
    options: TargetOptions, environ: Mapping[str, str] = os.environ, *, deployment: bool = False
) -> tuple[Target, bool]:
    """The target, and whether it is the local sandbox only because nothing else was configured.

    Every subcommand resolves its target here: each setting from its flag, then its
    environment variable, then the config file. A ``deployment`` (deploy, status,
    destroy) is always on AWS: its function defaults to ``lambdash``, and its
    endpoint comes only from ``--endpoint-url``, since boto3 itself honours each
    service's ``AWS_ENDPOINT_URL_<SERVICE>`` for the several services deploy calls.
    """
    file = load_config_file(config_path(environ))

    def pick(flag: str | None, *names: str, key: str) -> str | None:
        if flag:
            return flag
        for name in names:
            if environ.get(name):
                return environ[name]
        return file.get(key)

    region = pick(options.region, "AWS_REGION", "AWS_DEFAULT_REGION", key="region")
    profile = pick(options.profile, "AWS_PROFILE", key="profile")
    bucket = pick(options.bucket, ENV_BUCKET, key="bucket")
    function = pick(options.function, "LAMBDASH_FUNCTION", key="function")
    if deployment:
        return Target(function=function or DEFAULT_FUNCTION, region=region, profile=profile,
                      endpoint_url=options.endpoint_url, bucket=bucket), False
    endpoint_url = options.endpoint_url or environ.get("AWS_ENDPOINT_URL_LAMBDA") or environ.get("AWS_ENDPOINT_URL")
    if options.local:
        if options.function or options.endpoint_url:
            raise ConfigError("--local runs on the local sandbox; it cannot be combined with -f or --endpoint-url")
        return Target(local=True, bucket=bucket, region=region), False
    if function is None and endpoint_url is None:
        return Target(local=True, bucket=bucket, region=region), True
    credentials = None
    if endpoint_url is not None and options.profile is None:
        from lambdash.local.credentials import pair_for_endpoint

        # A `lambdash serve` there accepts only its own pair, kept where serve stored it.
        credentials = pair_for_endpoint(endpoint_url, environ)
    return Target(
        function=function or DEFAULT_FUNCTION, region=region, profile=profile, endpoint_url=endpoint_url, bucket=bucket,
        credentials=credentials,
    ), False


def parse_seconds(text: str) -> float:
    """A command's time limit as written by the user: more than 0, at most Lambda's 900 s.

    Raises ValueError with a message that can follow the option's name.
    """
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise ValueError(f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds: {text}")
    return value
