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
    "GPG_PASSPHRASE", "SSH_PASSPHRASE", "COOKIE", "SESSION_COOKIE", "SALT", "HASH_SALT", "SIGNING_MATERIAL",
    "WEBHOOK_SIGNING",
]
# Look-alikes that must stay.
PLAIN_NAMES = [
    "PWD", "OLDPWD", "PATH", "KEYBOARD_LAYOUT", "AUTHOR", "MONKEY_COUNT", "HOME", "LANG", "TZ",
    "AWS_REGION", "LAMBDA_TASK_ROOT", "PATHEXT", "AUTHORITY_URL", "DSNAME", "PATTERN", "KEYS_DIRECTORY_NAME",
    "TASK_KEYWORDS", "SALTSTACK_MASTER", "COOKIECUTTER_CONFIG", "DESIGNING_MODE",
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
    ("PG_ESCAPED", "postgresql://u%40corp:p%2Fss%40w0rd@db:5432/app",
     "postgresql://u%40corp:<redacted len:8-15>@db:5432/app"),
    ("PG_AT_SIGN", "postgresql://app:p@ss@db/app", "postgresql://app:<redacted len:<8>@db/app"),
    ("NEXT_URL", "https://app/login?next=https%3A%2F%2Fbob%3Ahunter22%40example.com%2Fhome",
     "https://app/login?next=https%3A%2F%2Fbob%3A<redacted len:8-15>%40example.com%2Fhome"),
    ("JDBC", "jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=S3cret!x;encrypt=true",
     "jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=<redacted len:8-15>;encrypt=true"),
    ("JDBC_PG", "jdbc:postgresql://db/app?user=app&password=hunter22&ssl=true",
     "jdbc:postgresql://db/app?user=app&password=<redacted len:8-15>&ssl=true"),
    ("ODBC", "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=Tr0ub4dor;",
     "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=<redacted len:8-15>;"),
    ("AZURE_STORAGE", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9v" * 22
     + ";EndpointSuffix=core.windows.net",
     "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<redacted len:64+>;EndpointSuffix=core.windows.net"),
    ("SERVICE_BUS", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=Ab1+Cd2/Ef3=",
     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=<redacted len:8-15>"),
    ("SAS_URL", "https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=abcDEF123%2Bxyz%3D&se=2030",
     "https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=<redacted len:16-31>&se=2030"),
    ("GOOGLE_OAUTH", "GOCSPX-1aB2cD3eF4gH5iJ6kL7mN8oP9qR", "<redacted len:32-63>"),
    ("GOOGLE_ACCESS", "ya29.a0AfH6SMBx3kZ9qLmN0pRsTuVwXyZ_12-abcDEF", "<redacted len:32-63>"),
    ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
     "https://hooks.slack.com/services/<redacted len:32-63>"),
    ("OPENAI", "sk-" + "Ab3dEf6hIj9kLm2nOp5q" * 2 + "Rs8tUv1w", "<redacted len:32-63>"),
    ("OPENAI_PROJECT", "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q_-" * 5, "<redacted len:64+>"),
    ("ANTHROPIC", "sk-ant-api03-" + "Xy7zWv4uTs1rQp8oNm5l-_" * 4 + "AA", "<redacted len:64+>"),
    ("HUGGING_FACE", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", "<redacted len:32-63>"),
    ("SENDGRID", "SG." + "aB3dE6gH9jK2mN5pQ8sT1v" + "." + "wX4yZ7bC0eF3hI6kL9nO2qR5tU8wX1zA4cD7fG0iJ3l",
     "<redacted len:64+>"),
    ("GITLAB", "glpat-" + "xYz12AbC34dEf56GhI78", "<redacted len:16-31>"),
    ("NPM", "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "<redacted len:32-63>"),
    ("PYPI", "pypi-AgEIcHlwaS5vcmc" + "CJGI3ZTM1YzQtYWIxNi00ZjA3LWJmZGUtZDc2N2E0MjdhNTdiAAIqWzMsImMxYTg",
     "<redacted len:64+>"),
    ("CURL_HEADER", "Authorization: Bearer abcDEF123456ghiJKL789", "Authorization: Bearer <redacted len:16-31>"),
    ("BASIC_HEADER", "Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: Basic <redacted len:16-31>"),
    ("PGP", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF4\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
     "<redacted len:64+>"),
]


@pytest.mark.parametrize(("name", "value", "left"), SECRET_VALUES, ids=[case[0] for case in SECRET_VALUES])
def test_a_secret_value_is_redacted_under_any_name(name: str, value: str, left: str) -> None:
    assert redact_value(name, value, None) == left


PLAIN_VALUES = ["https://example.com/path", "postgres://db.internal:5432/app", "user@example.com",
                "eyJ-not-a-jwt", "AKIA-short", "sk_live_short", "C.UTF-8", "x" * 80,
                "0123456789abcdef0123456789abcdef01234567",  # a git SHA
                "sk-small-box", "sk-a-long-descriptive-name-for-a-storage-bucket", "hf_transfer_enabled",
                "Basic configuration", "Basic usage of the tool", "Bearer token", "SG.small.one", "ya29.short",
                "GOCSPX-short", "pypi-package-name", "npm_config_cache", "https://hooks.slack.com/",
                "OLDPWD=/var/task", "signature=ok", "https://example.com/?config=on&design=flat"]


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
