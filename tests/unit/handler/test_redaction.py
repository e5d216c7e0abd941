"""Redaction by name and by value: a corpus of secrets that must go and look-alikes that must stay."""

from __future__ import annotations

import pytest

from lambdash_handler.redaction import is_secret_name, redact_value, redacted

KEY = bytes(range(32))

# Names whose values must go, whatever the value.
SECRET_NAMES = [
    "API_KEY", "APIKEY", "apikey", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "DB_PASSWORD", "DB_PASSWD", "DB_PWD", "DB_CREDENTIALS", "GITHUB_PAT", "GITHUB_TOKEN", "HTTP_AUTH",
    "SENTRY_DSN", "STRIPE_SECRET", "PRIVATE_KEY_PATH", "client_secret", "Slack_Token", "SSH_KEY",
    "JWT_SIGNING_KEY", "OAUTH_CLIENT_SECRET", "NPM_AUTH", "MY_PRIVATE_THING",
]
# Look-alikes that must stay.
PLAIN_NAMES = [
    "PWD", "OLDPWD", "PATH", "KEYBOARD_LAYOUT", "AUTHOR", "MONKEY_COUNT", "HOME", "LANG", "TZ",
    "AWS_REGION", "LAMBDA_TASK_ROOT", "PATHEXT", "AUTHORITY_URL", "DSNAME", "PATTERN", "KEYS_DIRECTORY_NAME",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_name_is_redacted_whatever_the_value(name: str) -> None:
    assert is_secret_name(name)
    assert redact_value(name, "harmless-looking", None) == "<redacted len:16-31>"


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_a_look_alike_name_keeps_its_value(name: str) -> None:
    assert not is_secret_name(name)
    assert redact_value(name, "/usr/bin:/bin", None) == "/usr/bin:/bin"


# Values that are secrets under any name: (name, value, what must be left).
SECRET_VALUES = [
    ("DATABASE_URL", "postgres://app:hunter2@db.internal:5432/app",
     "postgres://app:<redacted len:<8>@db.internal:5432/app"),
    ("REDIS", "redis://:s3cr3tpass@cache:6379/0", "redis://:<redacted len:8-15>@cache:6379/0"),
    ("UPSTREAM", "https://user:pa%24%24word@example.com/path?q=1",
     "https://user:<redacted len:8-15>@example.com/path?q=1"),
    ("DEPLOY_ID", "AKIAIOSFODNN7EXAMPLE", "<redacted len:16-31>"),
    ("TEMP_ID", "ASIAY34FZKBOKMUTVV7A", "<redacted len:16-31>"),
    ("GH", "ghp_" + "a" * 36, "<redacted len:32-63>"),
    ("GH_FINE", "github_pat_" + "B" * 30, "<redacted len:32-63>"),
    ("SLACK", "xoxb-123456789012-abcdefghij", "<redacted len:16-31>"),
    ("STRIPE", "sk_live_" + "4" * 24, "<redacted len:32-63>"),
    ("GOOGLE", "AIza" + "x" * 35, "<redacted len:32-63>"),
    ("SESSION", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc_DEF-123",
     "<redacted len:32-63>"),
    ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "<redacted len:64+>"),
]


@pytest.mark.parametrize(("name", "value", "left"), SECRET_VALUES, ids=[case[0] for case in SECRET_VALUES])
def test_a_secret_value_is_redacted_under_any_name(name: str, value: str, left: str) -> None:
    assert redact_value(name, value, None) == left


PLAIN_VALUES = ["https://example.com/path", "postgres://db.internal:5432/app", "user@example.com",
                "eyJ-not-a-jwt", "AKIA-short", "sk_live_short", "C.UTF-8", "x" * 80]


@pytest.mark.parametrize("value", PLAIN_VALUES)
def test_a_look_alike_value_stays(value: str) -> None:
    assert redact_value("SETTING", value, None) == value


def test_the_hmac_tells_values_apart_without_showing_them() -> None:
    first, second = redacted("hunter2", KEY), redacted("hunter3", KEY)
    assert first.startswith("<redacted len:<8 hmac:")
    assert len(first.split("hmac:")[1]) == 11
    assert first != second
    assert redacted("hunter2", KEY) == first  # the same value under the same key: the same mark, so --diff sees
    assert redacted("hunter2", bytes(32)) != first  # another user's key: nothing to compare with
    assert "hunter2" not in first


def test_the_length_classes() -> None:
    assert [redacted("x" * size, None) for size in (1, 8, 16, 32, 64, 500)] == [
        "<redacted len:<8>", "<redacted len:8-15>", "<redacted len:16-31>", "<redacted len:32-63>",
        "<redacted len:64+>", "<redacted len:64+>"]
