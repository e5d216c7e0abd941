"""Which environment values are secrets, by name and by value, and how a redacted one is shown.

By name: SECRET, TOKEN, PASSWORD, PASSWD, CREDENTIAL or PRIVATE anywhere in it;
KEY, PAT, PWD, AUTH or DSN as a word of it (split on ``_``); or KEY at its end
(``APIKEY``). ``PWD`` and ``OLDPWD`` themselves are the shell's directories.

By value, whatever the name: a password inside a URL (the rest of the URL stays),
AWS access key ids, GitHub, Slack, Stripe, Google and similar tokens, JWTs, and PEM
private keys.

A redacted value keeps its length class and, when the client sent a key, a short
HMAC of the value under that key (a random key of the user's own, kept in their
state dir): ``--diff`` still sees a change, and a weak password cannot be guessed
from a ticket the report was pasted into. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import re

ANYWHERE = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")
WORDS = frozenset({"KEY", "PAT", "PWD", "AUTH", "DSN"})
NOT_SECRETS = frozenset({"PWD", "OLDPWD"})
# Values that are secrets whatever their name holds.
SECRET_VALUES = re.compile(
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|\bglpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|\bnpm_[A-Za-z0-9]{36}"  # npm
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"  # JWTs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"  # PEM private keys
)
# scheme://user:password@host: only the password goes.
URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<password>[^@\s/]+)(?=@)")
LENGTH_CLASSES = ((8, "<8"), (16, "8-15"), (32, "16-31"), (64, "32-63"))


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says its value is a secret."""
    upper = name.upper()
    if upper in NOT_SECRETS:
        return False
    if any(part in upper for part in ANYWHERE):
        return True
    return bool(WORDS & set(upper.split("_"))) or upper.endswith("KEY")


def redacted(value: str, key: bytes | None) -> str:
    """How a secret value is shown: its length class, and an HMAC of it under ``key`` when there is one."""
    length = next((label for limit, label in LENGTH_CLASSES if len(value) < limit), "64+")
    if key is None:
        return f"<redacted len:{length}>"
    digest = hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:10]
    return f"<redacted len:{length} hmac:{digest}>"


def redact_value(name: str, value: str, key: bytes | None) -> str:
    """The value as an inventory may show it."""
    if is_secret_name(name):
        return redacted(value, key)
    value = URL_PASSWORD.sub(lambda match: match["head"] + redacted(match["password"], key), value)
    return SECRET_VALUES.sub(lambda match: redacted(match[0], key), value)
