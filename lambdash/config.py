"""Which Lambda to talk to: flags, then environment variables, then the config file.

The config file is ``$XDG_CONFIG_HOME/lambdash/config.toml`` (normally
``~/.config/lambdash/config.toml``) and may hold ``function``, ``region``,
``profile`` and ``bucket``, ``agent`` (the agent's idle timeout, as ``LAMBDASH_AGENT``),
and ``local_notice = false``. With no function anywhere, lambdash runs on the local
sandbox and says so, unless ``local_notice`` is false.
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

# The config file's key that silences the local-default notice for good.
LOCAL_NOTICE_KEY = "local_notice"
CONFIG_KEYS = ("function", "region", "profile", "bucket", "agent", LOCAL_NOTICE_KEY)
# The keys whose value is true or false, and those that are a number of seconds; the others are non-empty strings.
BOOLEAN_CONFIG_KEYS = (LOCAL_NOTICE_KEY,)
NUMBER_KEYS = ("agent",)
DEFAULT_FUNCTION = "lambdash"


def local_default_notice(environ: Mapping[str, str] = os.environ) -> str:
    """Printed (on stderr) whenever the local sandbox is the target only because nothing else was configured."""
    return ("no function configured; running on the local sandbox (target AWS with -f NAME or LAMBDASH_FUNCTION; "
            f"--local, or `{LOCAL_NOTICE_KEY} = false` in {home_relative(config_path(environ), environ)}, "
            "hides this notice)")


def home_relative(path: Path, environ: Mapping[str, str] = os.environ) -> str:
    """``path`` with the home directory written ``~``, as people write it."""
    home = environ.get("HOME")
    if home and path.is_relative_to(home):
        return "~/" + str(path.relative_to(home))
    return str(path)


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


def load_config_file(path: Path) -> dict[str, str | bool]:
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
    settings: dict[str, str | bool] = {}
    for key, value in raw.items():
        if key in BOOLEAN_CONFIG_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: {key} must be true or false")
            settings[key] = value
        elif key in NUMBER_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            settings[key] = str(value)
        elif not isinstance(value, str) or not value:
            kind = "a number of seconds" if key in NUMBER_KEYS else "a non-empty string"
            raise ConfigError(f"{path}: {key} must be {kind}")
        else:
            settings[key] = value
    return settings


def agent_seconds(environ: Mapping[str, str] = os.environ) -> float | None:
    """How long the agent stays after its last request: ``LAMBDASH_AGENT``, else the config file's ``agent``.

    None when the agent is off (neither is set, or it is 0).
    """
    if "LAMBDASH_AGENT" in environ:
        text, where = environ["LAMBDASH_AGENT"], "LAMBDASH_AGENT"
    else:
        path = config_path(environ)
        found = load_config_file(path).get("agent")
        if found is None:
            return None
        text, where = str(found), f"{path}: agent"
    try:
        value = float(text or "0")
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{where} must be a number of seconds the agent stays idle (0 turns it off): {text!r}")
    return value or None


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
    """The target, and whether to say it is the local sandbox only because nothing else was configured.

    The config file's ``local_notice = false`` keeps that quiet for good.

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
        value = file.get(key)
        return value if isinstance(value, str) else None

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
        return Target(local=True, bucket=bucket, region=region), file.get(LOCAL_NOTICE_KEY, True) is not False
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
