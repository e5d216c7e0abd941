"""Which environment values are secrets, by name and by value, and how a redacted one is shown.

By name: SECRET, TOKEN, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL or PRIVATE anywhere
in it; KEY, PAT, PWD, AUTH, DSN, COOKIE, SALT or SIGNING as a word of it (split on
``_``); or KEY at its end (``APIKEY``). ``PWD`` and ``OLDPWD`` themselves are the
shell's directories.

By value, whatever the name: a password inside a URL (also with escaped characters,
or a whole URL escaped), ``password=`` and ``pwd=`` parameters of JDBC and ODBC
connection strings, Azure ``AccountKey=``/``SharedAccessKey=`` and SAS ``sig=``,
``Bearer`` and ``Basic`` credentials (the rest of the value stays); AWS access key
ids, GitHub, GitLab, Slack (tokens and webhook URLs), Stripe, Google (API keys,
OAuth client secrets and access tokens), OpenAI, Anthropic, Hugging Face, SendGrid,
npm and PyPI tokens, JWTs, and PEM and PGP private keys. Each token shape has the
length and characters its issuer gives it, so a git SHA or ``sk-small-box`` stays.

A redacted value keeps its length class and, when the client sent a key, a short
HMAC of the value under that key (a random key of the user's own, kept in their
state dir): ``--diff`` still sees a change, and a weak password cannot be guessed
from a ticket the report was pasted into. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import re

ANYWHERE = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE")
WORDS = frozenset({"KEY", "PAT", "PWD", "AUTH", "DSN", "COOKIE", "SALT", "SIGNING"})
NOT_SECRETS = frozenset({"PWD", "OLDPWD"})
# Random tokens hold a digit: a long hyphenated name after a token's prefix does not.
_HAS_DIGIT = r"(?=[A-Za-z0-9_-]*[0-9])"
# Values that are secrets whatever their name holds: the whole match goes.
SECRET_VALUES = re.compile(
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|(?<=hooks\.slack\.com/services/)[A-Za-z0-9_/-]{20,}"  # Slack webhook URLs: the part after services/
    r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|\bGOCSPX-[A-Za-z0-9_-]{24,}"  # Google OAuth client secrets
    r"|\bya29\.[A-Za-z0-9_-]{20,}"  # Google OAuth access tokens
    rf"|\bsk-(?:ant-|proj-|svcacct-|admin-)?{_HAS_DIGIT}[A-Za-z0-9_-]{{32,}}"  # OpenAI and Anthropic
    r"|\bhf_[A-Za-z0-9]{34,}"  # Hugging Face
    r"|\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"  # SendGrid
    r"|\bglpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|\bnpm_[A-Za-z0-9]{36}"  # npm
    r"|\bpypi-[A-Za-z0-9_-]{50,}"  # PyPI
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"  # JWTs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"  # PEM private keys
    r"|-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?(?:-----END PGP PRIVATE KEY BLOCK-----|$)"  # PGP
)
# Values where only the secret part goes (the group "secret"); the head stays.
SECRET_PARTS = (
    # scheme://user:password@host (the last @ before the path ends it; JSON may escape the slashes).
    re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*:(?://|\\/\\/)[^/\s:@\\]*:)"
               r"(?P<secret>[^\s/]+?)(?=@[^@\s/]*(?:[/?#\s\\]|$))"),
    # The same URL escaped whole, as in a query parameter: scheme%3A%2F%2Fuser%3Apassword%40host.
    re.compile(r"(?i)(?P<head>[a-z][a-z0-9+.-]*%3A%2F%2F(?:(?!%3A|%40|%2F)[^\s/&])*%3A)"
               r"(?P<secret>(?:(?!%40|%2F)[^\s/&])+)(?=%40)"),
    # JDBC, ODBC and ADO.NET connection strings, Azure storage and Service Bus keys, SAS signatures.
    re.compile(r"(?i)(?P<head>(?<![A-Za-z0-9])(?:password|pwd|passwd|accountkey|sharedaccesskey|sig)=)"
               r"(?P<secret>[^;&\s\"']+)"),
    # HTTP credentials: Bearer tokens, and Basic user:password in base64.
    re.compile(r"(?P<head>\b[Bb]earer\s+)(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)"),
    re.compile(r"(?P<head>\bBasic\s+)(?P<secret>(?=[A-Za-z0-9+/]*[A-Z0-9])(?:[A-Za-z0-9+/]{4}){2,}"
               r"(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)(?![A-Za-z0-9+/=])"),
)
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
    for pattern in SECRET_PARTS:
        value = pattern.sub(lambda match: match["head"] + redacted(match["secret"], key), value)
    return SECRET_VALUES.sub(lambda match: redacted(match[0], key), value)
