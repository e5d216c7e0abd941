"""The handler's presigned URLs, as S3 will read them: the bucket's own regional endpoint, a valid signature.

A URL on S3's global endpoint (``BUCKET.s3.amazonaws.com``) is answered with 307
redirects for a bucket made outside us-east-1 minutes before (urllib follows none
for PUT or DELETE, and a followed GET fails its signature), and never works in the
regions opened since March 2019. Presigning is offline, so the URLs are made here
by the handler's own code and checked host by host and signature by signature.
The one call the handler makes to learn a bucket's region is answered in process
(botocore's ``before-send``): nothing leaves the machine.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from lambdash_handler.app import respond
from lambdash_handler.output_shaping import SpillTarget, presign, regional_s3_client, spill_client
from tests.helpers import FakeContext

KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# Regions of before and after March 2019, when S3 stopped serving new regions from its global endpoint.
REGIONS = ("us-east-1", "eu-west-1", "ap-east-1", "me-south-1", "af-south-1", "eu-south-1", "ap-southeast-3")


@pytest.fixture
def aws_offline(monkeypatch: pytest.MonkeyPatch) -> list[AWSRequest]:
    """boto3 configured as in a function in us-east-1, and every request answered here; yields those sent."""
    for name, value in {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.session.Session()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    sent: list[AWSRequest] = []

    def refuse(request: AWSRequest, **kwargs: Any) -> AWSResponse:
        sent.append(request)
        raise AssertionError(f"a request left the process: {request.method} {request.url}")

    session.events.register("before-send", refuse, unique_id="refuse")
    return sent


def answer_location(location: str | None = None, *, denied_with_region: str | None = None,
                    denied: bool = False) -> Callable[..., AWSResponse]:
    """A before-send handler that answers GetBucketLocation as S3 would."""

    def answer(request: AWSRequest, **kwargs: Any) -> AWSResponse:
        assert request.url.endswith("?location"), request.url
        if denied or denied_with_region:
            headers = {"x-amz-bucket-region": denied_with_region} if denied_with_region else {}
            refusal = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            return AWSResponse(request.url, 403, headers, _Raw(refusal))
        element = '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
        body = f"{element}>{location}</LocationConstraint>" if location else f"{element}/>"
        return AWSResponse(request.url, 200, {}, _Raw(body.encode()))

    return answer


class _Raw:
    """What botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def answering(sent: list[AWSRequest], handler: Callable[..., AWSResponse]) -> None:
    """Answer the next requests with ``handler`` (instead of refusing them), counting them in ``sent``."""
    session = boto3.DEFAULT_SESSION
    assert session is not None

    def counted(request: AWSRequest, **kwargs: Any) -> AWSResponse:
        sent.append(request)
        return handler(request, **kwargs)

    for unique_id in ("refuse", "answer"):
        session.events.unregister("before-send", unique_id=unique_id)
    session.events.register("before-send", counted, unique_id="answer")


def signature_holds(url: str, method: str, region: str, headers: dict[str, str] | None = None) -> bool:
    """Whether S3 in ``region`` would accept the URL's signature: recomputed with botocore's SigV4 query signer."""
    parts = urllib.parse.urlsplit(url)
    pairs = parts.query.split("&")
    given = next(pair.partition("=")[2] for pair in pairs if pair.startswith("X-Amz-Signature="))
    query = dict(urllib.parse.parse_qsl(parts.query))
    unsigned = urllib.parse.urlunsplit(parts._replace(
        query="&".join(pair for pair in pairs if not pair.startswith("X-Amz-Signature="))))
    request = AWSRequest(method=method, url=unsigned, headers=headers or {})
    request.context["timestamp"] = query["X-Amz-Date"]
    auth = S3SigV4QueryAuth(Credentials(KEY_ID, SECRET), "s3", region, expires=int(query["X-Amz-Expires"]))
    computed: str = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return computed == given


def scope_region(url: str) -> str:
    credential = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["X-Amz-Credential"]
    return credential.split("/")[2]


@pytest.mark.parametrize("region", REGIONS)
def test_urls_name_the_buckets_own_regional_endpoint_and_verify(aws_offline: list[AWSRequest], region: str) -> None:
    bucket = f"lambdash-123456789012-{region}"
    s3 = regional_s3_client(region, bucket, 20.0)
    key = "lambdash/out/request/stdout"
    for method, operation in (("GET", "get_object"), ("DELETE", "delete_object")):
        url = presign(s3, operation, bucket, key)
        parts = urllib.parse.urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.path) == ("https", f"{bucket}.s3.{region}.amazonaws.com", f"/{key}")
        assert scope_region(url) == region
        assert signature_holds(url, method, region)
        assert not signature_holds(url, method, "us-west-2")
    put = presign(s3, "put_object", bucket, key, ServerSideEncryption="AES256", ContentType="application/octet-stream")
    headers = {"x-amz-server-side-encryption": "AES256", "Content-Type": "application/octet-stream"}
    assert urllib.parse.urlsplit(put).hostname == f"{bucket}.s3.{region}.amazonaws.com"
    assert signature_holds(put, "PUT", region, headers)
    # Nothing the client does not send is signed: no checksum, no header beyond these.
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(put).query))
    assert query["X-Amz-SignedHeaders"] == "content-type;host;x-amz-server-side-encryption"
    assert not [name for name in query if "checksum" in name.lower()]
    assert aws_offline == []


def test_a_dotted_bucket_name_gets_path_style_on_the_regional_endpoint(aws_offline: list[AWSRequest]) -> None:
    # No wildcard certificate covers spills.example.com.s3.eu-west-1.amazonaws.com.
    bucket = "spills.example.com"
    url = presign(regional_s3_client("eu-west-1", bucket, 20.0), "get_object", bucket, "lambdash/out/r/stdout")
    parts = urllib.parse.urlsplit(url)
    assert (parts.hostname, parts.path) == ("s3.eu-west-1.amazonaws.com", f"/{bucket}/lambdash/out/r/stdout")
    assert signature_holds(url, "GET", "eu-west-1")


@pytest.mark.parametrize(("location", "region"), [("ap-east-1", "ap-east-1"), ("EU", "eu-west-1"),
                                                  (None, "us-east-1")])
def test_a_bucket_in_another_region_gets_urls_for_its_region(aws_offline: list[AWSRequest], location: str | None,
                                                             region: str) -> None:
    """The function runs in us-east-1; the handler asks S3 where the bucket is, once, and presigns for there."""
    bucket = f"spills-{uuid.uuid4().hex[:12]}"
    answering(aws_offline, answer_location(location))
    upload = respond({"v": 1, "op": "presign_upload"}, FakeContext(), environ={"LAMBDASH_BUCKET": bucket})["upload"]
    assert urllib.parse.urlsplit(upload["put_url"]).hostname == f"{bucket}.s3.{region}.amazonaws.com"
    assert signature_holds(upload["put_url"], "PUT", region, upload["headers"])
    again = respond({"v": 1, "op": "presign_upload"}, FakeContext(), environ={"LAMBDASH_BUCKET": bucket})["upload"]
    assert scope_region(again["put_url"]) == region
    # Asked once, of the function's own region (botocore sends GetBucketLocation path style).
    assert [request.url for request in aws_offline] == [f"https://s3.us-east-1.amazonaws.com/{bucket}?location"]


def test_a_refused_region_lookup_uses_the_region_s3_names_else_the_functions(aws_offline: list[AWSRequest]) -> None:
    named, unnamed = f"spills-{uuid.uuid4().hex[:12]}", f"spills-{uuid.uuid4().hex[:12]}"
    answering(aws_offline, answer_location(denied_with_region="eu-west-1"))
    url = presign(SpillTarget(spill_client, named, "lambdash").client(), "get_object", named, "lambdash/k")
    assert urllib.parse.urlsplit(url).hostname == f"{named}.s3.eu-west-1.amazonaws.com"
    answering(aws_offline, answer_location(denied=True))
    url = presign(SpillTarget(spill_client, unnamed, "lambdash").client(), "get_object", unnamed, "lambdash/k")
    assert urllib.parse.urlsplit(url).hostname == f"{unnamed}.s3.us-east-1.amazonaws.com"


def test_an_endpoint_of_its_own_keeps_path_style_there_and_asks_nothing(aws_offline: list[AWSRequest],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The local Lambda's embedded S3 and moto are on loopback: URLs name that endpoint, the bucket in the path."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")
    url = presign(SpillTarget(spill_client, "lambdash-local", "lambdash").client(), "get_object", "lambdash-local",
                  "lambdash/out/r/stdout")
    parts = urllib.parse.urlsplit(url)
    assert (parts.netloc, parts.path) == ("127.0.0.1:4566", "/lambdash-local/lambdash/out/r/stdout")
    assert aws_offline == []
