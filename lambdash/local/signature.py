"""Checking SigV4 signatures with botocore's own signer: requests to the local Lambda, and to its embedded S3.

The local Lambda runs shell commands for whoever reaches it, so it answers only
requests signed with the credential pair it was started with, as Lambda answers
only signed requests; its embedded S3 answers only its sandboxes' pair, signed in
the headers or in a presigned URL's query string. The signature is computed again
by botocore's signer (``SigV4Auth``, or S3's flavours of it) over exactly the
headers the client signed, at the time the client signed, and compared in constant
time. The failures carry Lambda's own error codes and words.

A signature covers the body through its SHA-256: declared in ``x-amz-content-sha256``
(which S3 clients send), or else computed from the body. A declared hash must be a
real one (never ``UNSIGNED-PAYLOAD``, under which the body could be swapped) and match
the body; only a presigned URL goes without, as S3 has it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from lambdash.local.credentials import CredentialPair
from lambdash.text import is_decimal

# A request signed further from now than this is refused, as AWS refuses it.
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
SERVICE = "lambda"
# The longest a presigned URL may live, as S3 allows (seven days).
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
ALGORITHM = "AWS4-HMAC-SHA256"
MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_AUTHORIZATION = re.compile(r"^AWS4-HMAC-SHA256\s+(?P<fields>.+)$", re.S)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: Lambda's error code and message, answered with HTTP 403."""

    code: str
    message: str


class _SignedHeadersOnly:
    """Mixed into botocore's signers: sign exactly the headers the client says it signed."""

    signed_header_names: list[str]

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self.signed_header_names:
            for value in request.headers.get_all(name) or []:
                chosen[name] = value
        return chosen


class _HeaderSigner(_SignedHeadersOnly, SigV4Auth):  # type: ignore[misc]  # botocore ships no types
    pass


class _S3HeaderSigner(_SignedHeadersOnly, S3SigV4Auth):  # type: ignore[misc]
    pass


class _QuerySigner(_SignedHeadersOnly, SigV4QueryAuth):  # type: ignore[misc]
    pass


class _S3QuerySigner(_SignedHeadersOnly, S3SigV4QueryAuth):  # type: ignore[misc]
    pass


def _expected_signature(pair: CredentialPair, request: AWSRequest, *, service: str, region: str,
                        signed_headers: list[str], query: bool) -> str:
    """The signature botocore computes for ``request`` as its client would have signed it."""
    kinds: dict[tuple[bool, bool], Any] = {
        (False, False): _HeaderSigner, (False, True): _S3HeaderSigner,
        (True, False): _QuerySigner, (True, True): _S3QuerySigner,
    }
    # S3 signs the path as sent; every other service normalizes it and encodes it once more.
    credentials = Credentials(pair.access_key_id, pair.secret_access_key, pair.session_token)
    signer = kinds[query, service == "s3"](credentials, service, region)
    signer.signed_header_names = signed_headers
    signature: str = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return signature


def check_signature(
    pair: CredentialPair,
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes | None,
    service: str | None = SERVICE,
    now: datetime.datetime | None = None,
) -> Refusal | None:
    """None when the request is signed (in its Authorization header) with ``pair``; else why not.

    ``target`` is the request target exactly as received (path and query, still
    percent-encoded): botocore encodes the path again when it signs, as the client did.
    With ``body`` None (not read yet) every check the head allows is made: all of them
    when the head declares the body's SHA-256, which the signature covers; otherwise all
    but the signature itself, which covers the body's hash: call again with the body.
    ``service`` None takes whichever service the credential scope names.
    """
    pairs = list(headers)
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name.lower(), value)
    authorization = first.get("authorization")
    if authorization is None:
        return Refusal("MissingAuthenticationTokenException", "Missing Authentication Token")
    fields = _authorization_fields(authorization)
    if fields is None:
        return Refusal("IncompleteSignatureException", f"Authorization header is not valid SigV4: {authorization}")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return Refusal("IncompleteSignatureException", f"Credential is malformed: {fields['Credential']}")
    access_key_id, scope_date, region, scope_service, _ = scope
    refusal = _check_key_and_time(pair, access_key_id, first.get("x-amz-date", ""), first.get("x-amz-security-token"),
                                  now=now)
    if refusal is not None:
        return refusal
    stamp = first["x-amz-date"]
    if scope_date != stamp[:8] or (service is not None and scope_service != service):
        return Refusal("InvalidSignatureException",
                       f"Credential should be scoped to {stamp[:8]}/REGION/{service or scope_service}")
    signed_headers = [name.strip().lower() for name in fields["SignedHeaders"].split(";") if name.strip()]
    if "host" not in signed_headers:
        return Refusal("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    declared = first.get("x-amz-content-sha256")
    if declared is not None and not _SHA256_HEX.match(declared):
        return Refusal("InvalidSignatureException",
                       f"x-amz-content-sha256 must be the SHA-256 of the body in hex, not {declared[:40]!r}")
    if body is None and declared is None:
        return None  # the signature covers the body's hash: checked once it is read
    # botocore takes a declared body hash as it is, so it must match the body that came.
    if body is not None and declared is not None and not hmac.compare_digest(declared,
                                                                             hashlib.sha256(body).hexdigest()):
        return Refusal("InvalidSignatureException", MISMATCH_MESSAGE)
    path, _, query = target.partition("?")
    request = AWSRequest(method=method, url=f"http://{first.get('host', '')}{path}", data=body or b"",
                         params=[_decoded(item) for item in query.split("&") if item])
    for name, value in pairs:
        request.headers[name] = value
    request.context["timestamp"] = stamp
    expected = _expected_signature(pair, request, service=scope_service, region=region,
                                   signed_headers=signed_headers, query=False)
    if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
        return Refusal("InvalidSignatureException", MISMATCH_MESSAGE)
    return None


def declared_sha256(headers: Iterable[tuple[str, str]]) -> str | None:
    """The body's SHA-256 the head declares (x-amz-content-sha256), if any."""
    for name, value in headers:
        if name.lower() == "x-amz-content-sha256":
            return value
    return None


def is_presigned(target: str) -> bool:
    """Whether a request target carries its signature in the query string (a presigned URL)."""
    _, _, query = target.partition("?")
    return any(_decoded(item)[0] == "X-Amz-Signature" for item in query.split("&") if item)


def check_presigned(
    pair: CredentialPair,
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    now: datetime.datetime | None = None,
) -> Refusal | None:
    """None when a presigned URL was signed with ``pair`` and has not expired; else why not.

    The signature is recomputed with botocore's query-string signer, over the URL's
    query without ``X-Amz-Signature`` and the headers it names; the body is not covered
    (``UNSIGNED-PAYLOAD``), as S3 has it.
    """
    pairs = list(headers)
    path, _, query = target.partition("?")
    params = [_decoded(item) for item in query.split("&") if item]
    auth = {name: value for name, value in params if name.startswith("X-Amz-")}
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
              "X-Amz-Signature")
    if any(name not in auth for name in needed) or auth["X-Amz-Algorithm"] != ALGORITHM:
        return Refusal("IncompleteSignatureException", f"a presigned URL needs {', '.join(needed)} ({ALGORITHM})")
    scope = auth["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return Refusal("IncompleteSignatureException", f"Credential is malformed: {auth['X-Amz-Credential']}")
    access_key_id, scope_date, region, service, _ = scope
    stamp = auth["X-Amz-Date"]
    refusal = _check_key_and_time(pair, access_key_id, stamp, auth.get("X-Amz-Security-Token"), now=now,
                                  expires=auth["X-Amz-Expires"])
    if refusal is not None:
        return refusal
    if scope_date != stamp[:8]:
        return Refusal("InvalidSignatureException", f"Credential should be scoped to {stamp[:8]}/REGION/SERVICE")
    signed_headers = [name.strip().lower() for name in auth["X-Amz-SignedHeaders"].split(";") if name.strip()]
    if "host" not in signed_headers:
        return Refusal("InvalidSignatureException", "'Host' must be a signed header of a presigned URL")
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name.lower(), value)
    request = AWSRequest(method=method, url=f"http://{first.get('host', '')}{path}",
                         params=[(name, value) for name, value in params if name != "X-Amz-Signature"])
    for name, value in pairs:
        if name.lower() in signed_headers:  # an unsigned x-amz-content-sha256 must not stand in for the payload
            request.headers[name] = value
    request.context["timestamp"] = stamp
    expected = _expected_signature(pair, request, service=service, region=region, signed_headers=signed_headers,
                                   query=True)
    if not hmac.compare_digest(expected.encode(), auth["X-Amz-Signature"].encode()):
        return Refusal("InvalidSignatureException", MISMATCH_MESSAGE)
    return None


def _check_key_and_time(
    pair: CredentialPair, access_key_id: str, stamp: str, token: str | None, *, now: datetime.datetime | None,
    expires: str | None = None,
) -> Refusal | None:
    """The access key id, the pair's session token (none for a lasting pair), and the signing time: near now,
    or (presigned) not expired."""
    same_token = (token is None and pair.session_token is None) or (
        token is not None and pair.session_token is not None
        and hmac.compare_digest(token.encode(), pair.session_token.encode()))
    if not hmac.compare_digest(access_key_id.encode(), pair.access_key_id.encode()) or not same_token:
        return Refusal("UnrecognizedClientException", "The security token included in the request is invalid.")
    try:
        signed_at = datetime.datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    except ValueError:
        return Refusal("IncompleteSignatureException", f"X-Amz-Date must be in ISO-8601 basic format, not {stamp!r}")
    now = now or datetime.datetime.now(datetime.UTC)
    if signed_at > now + MAX_CLOCK_SKEW:
        return Refusal("InvalidSignatureException",
                       f"Signature not yet current: {stamp} is still later than {_stamp(now + MAX_CLOCK_SKEW)} "
                       f"({_stamp(now)} + 5 min.)")
    if expires is None:
        if signed_at < now - MAX_CLOCK_SKEW:
            return Refusal("InvalidSignatureException",
                           f"Signature expired: {stamp} is now earlier than {_stamp(now - MAX_CLOCK_SKEW)} "
                           f"({_stamp(now)} - 5 min.)")
        return None
    if not is_decimal(expires) or not 1 <= int(expires) <= MAX_PRESIGNED_SECONDS:
        return Refusal("IncompleteSignatureException",
                       f"X-Amz-Expires must be from 1 to {MAX_PRESIGNED_SECONDS} seconds, not {expires!r}")
    if now > signed_at + datetime.timedelta(seconds=int(expires)):
        return Refusal("AccessDenied", f"Request has expired: signed at {stamp} for {expires} seconds")
    return None


def _authorization_fields(value: str) -> dict[str, str] | None:
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        return None
    fields = {}
    for item in match["fields"].split(","):
        name, sep, content = item.strip().partition("=")
        if not sep:
            return None
        fields[name] = content
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def _decoded(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return unquote(name), unquote(value)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)
