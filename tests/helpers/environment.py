"""The environment every test runs in: nothing of the caller's shell, a private home."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from tests.helpers.waiting import free_port

ROOT = Path(__file__).resolve().parents[2]
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The settings of the caller's shell that change what lambdash or boto3 do; tests never see them.
_CALLERS_PREFIXES = ("AWS_", "LAMBDASH_", "XDG_", "BOTO_")
_CALLERS_NAMES = frozenset({"NO_COLOR", "PAGER", "TERM_PROGRAM"})
HERMETIC_SETTINGS = frozenset({
    "HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL",
})


def from_the_callers_shell(name: str) -> bool:
    """Whether the variable ``name`` is a setting of the caller's that tests must not see."""
    return name.startswith(_CALLERS_PREFIXES) or name in _CALLERS_NAMES


@functools.cache
def closed_loopback_url() -> str:
    """An endpoint on loopback where nothing listens: a stray AWS call fails at once, on this machine."""
    return f"http://127.0.0.1:{free_port()}"


def hermetic_environment(home: Path) -> dict[str, str]:
    """The variables that make a process see ``home`` as an empty home with nothing configured."""
    return {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        # botocore would otherwise ask the EC2 metadata service (a link-local address) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": closed_loopback_url(),
    }


def clean_environ(home: Path) -> dict[str, str]:
    """This process's environment without the caller's settings, for servers shared by several tests."""
    env = {name: value for name, value in os.environ.items() if not from_the_callers_shell(name)}
    env.update(hermetic_environment(home))
    return env


def config_file(home: Path) -> Path:
    """Where lambdash reads its config file for a user with this home and no XDG settings."""
    return home / ".config" / "lambdash" / "config.toml"


def state_dir(home: Path) -> Path:
    """Where lambdash keeps history, the audit log and serve's credentials for this home."""
    return home / ".local" / "state" / "lambdash"
