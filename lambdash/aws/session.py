"""Sessions for a target, and botocore's failures as one-line lambdash errors.

The ``lambdash.aws`` package is the only code that talks to AWS through boto3:
``invoke`` runs commands (Lambda's Invoke API), ``deploy`` makes and inspects
what ``lambdash deploy`` manages. Both build their sessions here and turn
botocore's exceptions into lambdash errors that say what to do.
"""

from __future__ import annotations

import os
import random
import re
import urllib.parse
from typing import Any

import boto3
import botocore.exceptions
import botocore.session

from lambdash.config import Target, home_relative
from lambdash.errors import ConfigError, TransportError

CONNECT_TIMEOUT_SECONDS = 10
# Longer than Lambda's maximum function timeout (900 s), so a slow command is
# never abandoned by the client while it still runs.
READ_TIMEOUT_SECONDS = 960
# Credentials for a Lambda on loopback when the machine has none.
LOCAL_CREDENTIALS = {"aws_access_key_id": "lambdash-local", "aws_secret_access_key": "lambdash-local"}

ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
BAD_CREDENTIALS_CODES = frozenset({
    "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
    "InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch",
})
THROTTLING_CODES = frozenset({"TooManyRequestsException", "ThrottlingException"})
# How a local Lambda (lambdash serve) says which one function it hosts, when asked for another.
_SERVES_ONLY = re.compile(r"this local Lambda serves only (\S+)")


def make_session(target: Target) -> Any:
    """A boto3 session for the target.

    A local Lambda (``--local``, or a ``lambdash serve`` whose pair is kept) gets
    its own credential pair, and none of the user's AWS configuration applies: not
    even an AWS_PROFILE that names nothing, and no credential lookup (the chain
    can probe the network). Another endpoint on loopback gets placeholder
    credentials, and a region, only when none are set.
    """
    if target.credentials is not None or target.local:
        pair = target.credentials
        credentials = LOCAL_CREDENTIALS if pair is None else {
            "aws_access_key_id": pair.access_key_id, "aws_secret_access_key": pair.secret_access_key}
        unconfigured = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        return boto3.session.Session(botocore_session=unconfigured, region_name=target.region or "us-east-1",
                                     **credentials)
    try:
        session = boto3.session.Session(profile_name=target.profile, region_name=target.region)
    except botocore.exceptions.ProfileNotFound as problem:
        raise profile_not_found(problem.kwargs.get("profile") or target.profile) from None
    if not is_loopback(target.endpoint_url):
        return session
    missing_credentials = session.get_credentials() is None
    if missing_credentials or session.region_name is None:
        session = boto3.session.Session(
            profile_name=None if missing_credentials else target.profile,
            region_name=session.region_name or "us-east-1",
            **(LOCAL_CREDENTIALS if missing_credentials else {}),
        )
    return session


def is_loopback(url: str | None) -> bool:
    """Whether an endpoint is on this machine (a local Lambda needs no real credentials or region)."""
    if not url:
        return False
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def profile_not_found(profile: str | None) -> ConfigError:
    """The one line for a profile that is in neither of the files AWS reads profiles from."""
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return ConfigError(
        f"AWS profile {profile!r} not found in {config} or {credentials} "
        "(`aws configure list-profiles` lists the profiles there)"
    )


def translate(problem: Exception, function: str) -> Exception:
    """Turn a botocore exception into a lambdash error with a hint; leave others alone."""
    if isinstance(problem, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return ConfigError(
            "no AWS credentials found: run `aws configure`, set AWS_PROFILE, or use --local for the local sandbox"
        )
    if isinstance(problem, botocore.exceptions.ProfileNotFound):
        return profile_not_found(problem.kwargs.get("profile"))
    if isinstance(problem, botocore.exceptions.NoRegionError):
        return ConfigError("no AWS region: pass --region, set AWS_REGION, or add region to the config file")
    if isinstance(problem, botocore.exceptions.ReadTimeoutError):
        return TransportError(
            f"no answer from {function} within {READ_TIMEOUT_SECONDS} s; the command may still be running"
        )
    if isinstance(problem, (botocore.exceptions.ConnectionClosedError, botocore.exceptions.ProxyConnectionError)):
        return TransportError(
            f"the connection to {function} broke before it answered; the command may have run: {first_line(problem)}"
        )
    if isinstance(problem, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError)):
        return TransportError(f"cannot reach Lambda: {first_line(problem)}")
    if isinstance(problem, botocore.exceptions.ClientError):
        error = problem.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "ResourceNotFoundException":
            hosted = _SERVES_ONLY.search(message)
            if hosted:  # deploy cannot help: a local Lambda hosts one function, by its own name
                return TransportError(f"function {function!r} not found: this local Lambda serves only "
                                      f"{hosted.group(1)}: pass -f {hosted.group(1)}")
            return TransportError(f"function {function!r} not found: {message}; create it with `lambdash deploy`")
        if code in ACCESS_DENIED_CODES:
            return TransportError(f"access denied: {message}")
        if code in BAD_CREDENTIALS_CODES:
            return ConfigError(f"AWS rejected the credentials ({code}): {message}")
        if code == "RequestTooLargeException":
            return TransportError(f"the request is too large for Lambda: {message}")
        return TransportError(f"{code or 'error'}: {message}")
    if isinstance(problem, botocore.exceptions.BotoCoreError):
        return TransportError(f"{type(problem).__name__}: {first_line(problem)}")
    return problem


def local_pair_rejected(code: str, target: Target) -> ConfigError | None:
    """When an endpoint on loopback (a ``lambdash serve``) refuses the pair: which pair was expected, and where.

    None for an endpoint elsewhere, or when --profile chose the credentials.
    """
    parts = urllib.parse.urlsplit(target.endpoint_url or "")
    if not is_loopback(target.endpoint_url) or target.profile is not None or parts.port is None:
        return None
    from lambdash.local.credentials import credentials_path, profile_name

    profile, kept = profile_name(parts.hostname or "", parts.port), home_relative(credentials_path())
    found = ("no pair is kept there for it" if target.credentials is None
             else "the pair kept there is not the one it checks (was it started with --access-key-id?)")
    return ConfigError(
        f"{target.endpoint_url} rejected the credentials ({code}): a `lambdash serve` there accepts only its own "
        f"pair, which lambdash reads from profile {profile} in {kept}, and {found}; run lambdash as the user who "
        "started serve (with the same XDG_STATE_HOME), or pass --profile NAME with its pair"
    )


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: up to 0.1 s, 0.2 s, 0.4 s... capped at 5 s."""
    return random.uniform(0, min(5.0, 0.1 * 2 ** (attempt - 1)))


def first_line(problem: Exception) -> str:
    return str(problem).splitlines()[0]
