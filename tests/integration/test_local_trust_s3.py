"""Who may use the embedded S3 of `lambdash serve`: its own sandboxes, and the URLs they presign; nobody else.

Through the installed command: the sandboxes' endpoint and key pair are read from a
sandbox's environment, as any command there could; requests are then sent the way
another local user, a web page or a forger would send them. Whether something was
planted is asked with the sandboxes' own pair.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdash.local.credentials import CredentialPair
from tests.helpers import LAMBDASH, run_lambdash, serving

lambdash = run_lambdash
BUCKET = "lambdash-local"


@dataclass(frozen=True)
class SandboxS3:
    """The embedded S3 as a sandbox sees it: its endpoint and its key pair."""

    host: str
    port: int
    pair: CredentialPair

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--timeout", "60") as url:
        yield url


def sandbox_s3(url: str) -> SandboxS3:
    done = lambdash("--endpoint-url", url, 'printf "%s %s %s" "$AWS_ENDPOINT_URL_S3" "$AWS_ACCESS_KEY_ID" '
                                           '"$AWS_SECRET_ACCESS_KEY"')
    assert done.returncode == 0, done.stderr
    endpoint, key_id, secret = done.stdout.decode().split()
    address = urlsplit(endpoint)
    assert address.hostname == "127.0.0.1"
    assert address.port is not None
    return SandboxS3(address.hostname, address.port, CredentialPair(key_id, secret))


@pytest.fixture(scope="module")
def s3(served: str) -> SandboxS3:
    return sandbox_s3(served)


def send(s3: SandboxS3, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
         sign_with: CredentialPair | None = None) -> tuple[int, bytes]:
    """One request to the embedded S3, as written (signed as the sandboxes' botocore signs, when asked)."""
    headers = {"Host": s3.netloc, **(headers or {})}
    if sign_with is not None:
        request = AWSRequest(method=method, url=f"http://{s3.netloc}{target}", data=body, headers=headers)
        credentials = Credentials(sign_with.access_key_id, sign_with.secret_access_key)
        S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    connection = http.client.HTTPConnection(s3.host, s3.port, timeout=60)
    try:
        connection.request(method, target, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_sandboxes_own_signed_requests_are_served(s3: SandboxS3) -> None:
    key = f"/{BUCKET}/own-{secrets.token_hex(4)}"
    assert send(s3, "PUT", key, b"kept", sign_with=s3.pair)[0] == 200
    assert send(s3, "GET", key, sign_with=s3.pair) == (200, b"kept")


@pytest.mark.parametrize(("method", "target"), [
    ("GET", f"/{BUCKET}"), ("GET", f"/{BUCKET}?list-type=2"), ("GET", "/"), ("GET", f"/{BUCKET}/anything"),
    ("GET", "/moto-api/data.json"),
])
def test_an_unsigned_read_or_listing_is_refused(s3: SandboxS3, method: str, target: str) -> None:
    status, body = send(s3, method, target)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def test_an_unsigned_or_foreign_put_plants_nothing(s3: SandboxS3) -> None:
    key = f"/{BUCKET}/planted-{secrets.token_hex(4)}"
    stranger = CredentialPair.random()
    forged = CredentialPair(s3.pair.access_key_id, "not-the-secret")
    assert send(s3, "PUT", key, b"planted")[0] == 403
    status, body = send(s3, "PUT", key, b"planted", sign_with=stranger)
    assert (status, b"<Code>InvalidAccessKeyId</Code>" in body) == (403, True)
    status, body = send(s3, "PUT", key, b"planted", sign_with=forged)
    assert (status, b"<Code>SignatureDoesNotMatch</Code>" in body) == (403, True)
    assert send(s3, "GET", key, sign_with=s3.pair)[0] == 404  # nothing was planted


def test_a_signed_body_must_be_the_body_its_hash_declares(s3: SandboxS3) -> None:
    key = f"/{BUCKET}/swapped-{secrets.token_hex(4)}"
    request = AWSRequest(method="PUT", url=f"http://{s3.netloc}{key}", data=b"what was signed",
                         headers={"Host": s3.netloc})
    S3SigV4Auth(Credentials(s3.pair.access_key_id, s3.pair.secret_access_key), "s3", "us-east-1").add_auth(request)
    headers = {**dict(request.headers.items()), "Content-Length": "15"}
    connection = http.client.HTTPConnection(s3.host, s3.port, timeout=60)
    connection.request("PUT", key, body=b"what was sent!!", headers=headers)
    assert connection.getresponse().status == 403
    connection.close()
    assert send(s3, "GET", key, sign_with=s3.pair)[0] == 404


def test_a_web_page_or_a_rebound_name_is_refused_even_when_signed(s3: SandboxS3) -> None:
    key = f"/{BUCKET}/page-{secrets.token_hex(4)}"
    assert send(s3, "PUT", key, b"x", sign_with=s3.pair)[0] == 200
    assert send(s3, "GET", key, headers={"Origin": "http://evil.example"}, sign_with=s3.pair)[0] == 403
    status, body = send(s3, "GET", key, headers={"Host": f"rebind.evil.example:{s3.port}"}, sign_with=s3.pair)
    assert status == 403
    assert b"is not this server" in body
    assert send(s3, "GET", key, headers={"Host": f"localhost:{s3.port}"}, sign_with=s3.pair) == (200, b"x")


def presigned_by_the_sandbox(url: str, method: str, key: str, expires: int = 900) -> str:
    """A URL the sandbox's own S3 client presigns, as the handler does for spills."""
    script = ("import boto3; from botocore.config import Config; "
              "s3 = boto3.client('s3', config=Config(signature_version='s3v4')); "
              f"s3.put_object(Bucket='{BUCKET}', Key='{key}', Body=b'spilled output'); "
              f"print(s3.generate_presigned_url('{method}', Params={{'Bucket': '{BUCKET}', 'Key': '{key}'}}, "
              f"ExpiresIn={expires}))")
    done = lambdash("--endpoint-url", url, f'python3 -c "{script}"')
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


def fetch(presigned: str, method: str = "GET") -> tuple[int, bytes]:
    parts = urlsplit(presigned)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_url_the_sandbox_presigns_works_and_a_tampered_one_is_refused(served: str) -> None:
    key = f"out/{secrets.token_hex(4)}/stdout"
    url = presigned_by_the_sandbox(served, "get_object", key)
    other = key.replace("stdout", "stderr")
    tampered = {
        "another key": url.replace(key, other),
        "another signature": url[:-1] + ("0" if url[-1] != "0" else "1"),
        "a longer life": url.replace("X-Amz-Expires=900", "X-Amz-Expires=901"),
    }
    for what, changed in tampered.items():
        assert changed != url
        assert fetch(changed)[0] == 403, what
    assert fetch(url, "DELETE")[0] == 403  # the GET URL does not delete
    assert fetch(url) == (200, b"spilled output")


def test_an_expired_presigned_url_is_refused(served: str) -> None:
    url = presigned_by_the_sandbox(served, "get_object", f"out/{secrets.token_hex(4)}/stdout", expires=1)
    deadline = time.monotonic() + 30
    while fetch(url)[0] != 403:
        assert time.monotonic() < deadline, "a presigned URL still worked long after it expired"
        time.sleep(0.2)


def test_each_serve_gives_its_sandboxes_a_key_pair_of_its_own_on_no_command_line(s3: SandboxS3) -> None:
    with serving("--timeout", "60") as other_url:
        other = sandbox_s3(other_url)
        assert fetch(f"http://{other.netloc}/")[0] == 403  # starts the other's S3 too
        command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in os.listdir("/proc") if pid.isdigit()
                         and Path(f"/proc/{pid}/cmdline").exists()]
    assert other.pair.access_key_id != s3.pair.access_key_id
    for secret in (s3.pair.secret_access_key, other.pair.secret_access_key):
        assert not any(secret.encode() in line for line in command_lines)


def test_twenty_mb_of_stdin_goes_through_the_guarded_s3(home: Path) -> None:
    data = os.urandom(20_000_000)
    done = lambdash("--local", "wc -c", stdin=data)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, b"20000000", b"")


def test_a_spill_through_the_guarded_s3_comes_back_whole(home: Path) -> None:
    done = subprocess.run(["sh", "-c", '"$0" --local "head -c 20000000 /dev/urandom" | wc -c', LAMBDASH],
                          capture_output=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, b"20000000", b"")
