"""Who may use the local Lambda, and how it holds up: signatures, browsers, framing, bursts.

Requests are sent the way each kind of caller sends them: boto3 for clients,
hand-made HTTP (signed with botocore's signer where it must be) for what a web
page or a broken client would send. "Nothing ran" is checked with a beacon on
loopback the command would have reached (a sandbox cannot write the host's files).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from lambdash.local.credentials import CredentialPair
from lambdash.local.function import FunctionConfig
from lambdash.local.http import MAX_CONNECTIONS, MAX_TRAILER_LINES
from lambdash.local.server import LocalLambda
from tests.helpers import Beacon

INVOKE_PATH = "/2015-03-31/functions/lambdash/invocations"


@pytest.fixture
def local() -> Iterator[LocalLambda]:
    with LocalLambda(FunctionConfig(timeout=10, concurrency=8)) as emulator:
        yield emulator


def client(local: LocalLambda, pair: CredentialPair | None = None, **config: Any) -> Any:
    pair = pair or local.credentials
    return boto3.client(
        "lambda", endpoint_url=local.endpoint_url, region_name="us-east-1",
        aws_access_key_id=pair.access_key_id, aws_secret_access_key=pair.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60, **config),
    )


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    with Beacon() as listening:
        yield listening


def command(text: str) -> bytes:
    return json.dumps({"v": 1, "command": text}).encode()


def raw(local: LocalLambda, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
        *, sign: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request as written, optionally signed with the local Lambda's pair."""
    headers = {"Host": f"127.0.0.1:{local.port}", **(headers or {})}
    if sign:
        request = AWSRequest(method=method, url=f"{local.endpoint_url}{path}", data=body, headers=headers)
        pair = local.credentials
        SigV4Auth(Credentials(pair.access_key_id, pair.secret_access_key), "lambda", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    connection = http.client.HTTPConnection("127.0.0.1", local.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body and "Content-Length" not in headers and "Transfer-Encoding" not in headers:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def signed_head(local: LocalLambda, payload: bytes, headers: dict[str, str], *, pair: CredentialPair | None = None,
                sign_as: bytes | None = None) -> bytes:
    """The head of a POST to the invoke path, signed (over ``sign_as``, else ``payload``) as botocore signs it."""
    request = AWSRequest(method="POST", url=f"{local.endpoint_url}{INVOKE_PATH}",
                         data=payload if sign_as is None else sign_as,
                         headers={"Host": f"127.0.0.1:{local.port}", **headers})
    pair = pair or local.credentials
    SigV4Auth(Credentials(pair.access_key_id, pair.secret_access_key), "lambda", "us-east-1").add_auth(request)
    lines = [f"POST {INVOKE_PATH} HTTP/1.1", *(f"{name}: {value}" for name, value in request.headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer_to(local: LocalLambda, sent: bytes) -> tuple[int, bytes]:
    """Send ``sent`` on a new connection (and nothing more); the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", local.port), timeout=30) as connection:
        connection.sendall(sent)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, response.read()


# --- signed requests only --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("POST", INVOKE_PATH),
    ("POST", "/2021-11-15/functions/lambdash/response-streaming-invocations"),
    ("GET", "/2015-03-31/functions/lambdash/configuration"),
    ("GET", "/2015-03-31/functions/"),
    ("DELETE", "/2015-03-31/functions/lambdash"),
])
def test_an_unsigned_request_is_refused_on_every_route_and_nothing_runs(
    local: LocalLambda, beacon: Beacon, method: str, path: str
) -> None:
    status, headers, body = raw(local, method, path, command(beacon.command()) if method == "POST" else b"")
    assert status == 403
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert json.loads(body)["message"] == "Missing Authentication Token"
    assert beacon.messages == []


def test_a_wrong_secret_is_an_invalid_signature_and_nothing_runs(local: LocalLambda, beacon: Beacon) -> None:
    forged = CredentialPair(local.credentials.access_key_id, "not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client(local, forged).invoke(FunctionName="lambdash", Payload=command(beacon.command()))
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert beacon.messages == []


def test_an_unknown_key_is_an_unrecognized_client(local: LocalLambda, beacon: Beacon) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client(local, CredentialPair("AKIDSOMEONEELSE", "x")).invoke(
            FunctionName="lambdash", Payload=command(beacon.command()))
    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert beacon.messages == []


def test_the_right_pair_runs_the_command(local: LocalLambda, beacon: Beacon) -> None:
    answer = client(local).invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:lambdash",
                                  Qualifier="$LATEST", Payload=command(f"{beacon.command()}; echo done"))
    assert json.loads(answer["Payload"].read())["exit_status"] == 0
    assert beacon.messages == ["ran"]


def test_the_streaming_api_checks_the_signature_too(local: LocalLambda) -> None:
    forged = CredentialPair(local.credentials.access_key_id, "not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client(local, forged).invoke_with_response_stream(FunctionName="lambdash", Payload=command("true"))
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_an_unsigned_request_is_refused_before_its_body_is_sent(local: LocalLambda) -> None:
    """The answer comes while the body (300 MB by its header) is still unsent: nothing of it is read or kept."""
    head = (f"POST {INVOKE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{local.port}\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\n{}\r\n0\r\n").encode()  # ... and then the trailers that never end
    status, body = answer_to(local, head)
    assert status == 403
    assert json.loads(body)["message"] == "Missing Authentication Token"


def test_the_beacon_hears_a_fairly_signed_command(local: LocalLambda) -> None:
    """The control for the refusals below: a command that runs reaches the beacon, so one that does not, did not run."""
    with Beacon() as beacon:
        payload = command(beacon.command())
        fair = signed_head(local, payload, {"x-amz-content-sha256": hashlib.sha256(payload).hexdigest(),
                                            "Content-Length": str(len(payload))})
        assert answer_to(local, fair + payload)[0] == 200
        assert beacon.messages == ["ran"]


def test_a_wrong_secret_is_refused_before_the_body_when_the_head_declares_its_hash(local: LocalLambda,
                                                                                   beacon: Beacon) -> None:
    payload = command(beacon.command())
    forged = CredentialPair(local.credentials.access_key_id, "not-the-secret")
    head = signed_head(local, payload, {"x-amz-content-sha256": hashlib.sha256(payload).hexdigest(),
                                        "Content-Length": str(len(payload))}, pair=forged)
    status, body = answer_to(local, head)
    assert status == 403
    assert json.loads(body)["message"].startswith("The request signature we calculated does not match")
    assert beacon.messages == []


def test_unsigned_payload_cannot_carry_a_swapped_body(local: LocalLambda, beacon: Beacon) -> None:
    """A signature over UNSIGNED-PAYLOAD covers no body: the one that comes could be anything."""
    swapped = command(beacon.command())
    head = signed_head(local, swapped, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                                        "Content-Length": str(len(swapped))}, sign_as=command("echo harmless"))
    status, body = answer_to(local, head + swapped)
    assert status == 403
    assert "x-amz-content-sha256 must be the SHA-256 of the body" in json.loads(body)["message"]
    assert beacon.messages == []


def test_a_declared_body_hash_must_match_the_body(local: LocalLambda, beacon: Beacon) -> None:
    swapped = command(beacon.command())
    signed_for = command("echo harmless")
    head = signed_head(local, swapped, {"x-amz-content-sha256": hashlib.sha256(signed_for).hexdigest(),
                                        "Content-Length": str(len(swapped))}, sign_as=signed_for)
    status, _ = answer_to(local, head + swapped)
    assert status == 403
    assert beacon.messages == []
    fair = signed_head(local, signed_for, {"x-amz-content-sha256": hashlib.sha256(signed_for).hexdigest(),
                                           "Content-Length": str(len(signed_for))})
    assert answer_to(local, fair + signed_for)[0] == 200


def test_endless_trailers_are_cut_off_even_when_signed(local: LocalLambda, beacon: Beacon) -> None:
    payload = command(beacon.command())
    head = signed_head(local, payload, {"Transfer-Encoding": "chunked"})
    trailers = b"".join(b"X-Trailer-%d: %s\r\n" % (n, b"v" * 60) for n in range(MAX_TRAILER_LINES + 1))
    status, body = answer_to(local, head + b"%x\r\n%s\r\n0\r\n" % (len(payload), payload) + trailers + b"\r\n")
    assert status == 400
    assert "too many trailers" in json.loads(body)["message"]
    assert beacon.messages == []


def test_a_chunk_bigger_than_a_request_may_be_is_refused_before_it_is_read(local: LocalLambda) -> None:
    head = signed_head(local, b"{}", {"Transfer-Encoding": "chunked"})
    status, body = answer_to(local, head + b"ffffffff\r\n{}")  # 4 GB declared; 2 bytes come
    assert status == 413
    assert "Request must be smaller than" in json.loads(body)["message"]


def test_half_sent_connections_are_closed_and_hold_no_thread_each_while_signed_clients_are_served(
    local: LocalLambda,
) -> None:
    threads_before = threading.active_count()
    idle = []
    try:
        for _ in range(MAX_CONNECTIONS + 44):
            connection = socket.create_connection(("127.0.0.1", local.port), timeout=30)
            connection.sendall(f"POST {INVOKE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{local.port}\r\n".encode())
            idle.append(connection)
        # Each admitted connection has a thread; past the cap the longest-waiting one makes room.
        assert threading.active_count() - threads_before <= MAX_CONNECTIONS + 4
        answer = client(local).invoke(FunctionName="lambdash", Payload=command("echo served"))
        assert base64.b64decode(json.loads(answer["Payload"].read())["stdout"]["data"]) == b"served\n"

        for connection in idle:  # each read waits (30 s at most) for the server to close it
            try:
                assert connection.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        for connection in idle:
            connection.close()


# --- never a browser -------------------------------------------------------------------------------------------


def test_a_web_pages_simple_post_is_refused(local: LocalLambda, beacon: Beacon) -> None:
    """What a page can send with no CORS preflight: text/plain, with its Origin; signed or not, it is refused."""
    for sign in (False, True):
        status, headers, _ = raw(local, "POST", INVOKE_PATH, command(beacon.command()),
                                 {"Content-Type": "text/plain", "Origin": "http://evil.example"}, sign=sign)
        assert status == 403
        assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert beacon.messages == []


def test_a_host_naming_another_server_is_refused(local: LocalLambda, beacon: Beacon) -> None:
    """DNS rebinding: a page's own name resolving to 127.0.0.1 still carries that name in Host."""
    status, _, body = raw(local, "POST", INVOKE_PATH, command(beacon.command()),
                          {"Host": f"rebind.evil.example:{local.port}"}, sign=True)
    assert status == 403
    assert "is not this server" in json.loads(body)["message"]
    assert raw(local, "POST", INVOKE_PATH, command("true"), {"Host": f"localhost:{local.port}"}, sign=True)[0] == 200
    assert beacon.messages == []


def test_the_runtime_api_has_the_same_guard(local: LocalLambda) -> None:
    answer = client(local).invoke(FunctionName="lambdash", Payload=command("printf %s $AWS_LAMBDA_RUNTIME_API"))
    address = base64.b64decode(json.loads(answer["Payload"].read())["stdout"]["data"]).decode()
    host, port = address.rsplit(":", 1)
    for headers in ({"Host": address, "Origin": "http://evil.example"}, {"Host": f"evil.example:{port}"}):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/2018-06-01/runtime/invocation/next", headers=headers)
        response = connection.getresponse()
        assert response.status == 403
        assert json.loads(response.read())["errorType"] == "AccessDeniedException"
        connection.close()


# --- a sturdy HTTP layer ---------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(local: LocalLambda) -> None:
    status, headers, _ = raw(local, "POST", INVOKE_PATH, b"", {"Content-Length": str(300 * 1024 * 1024)}, sign=True)
    assert status == 413
    assert headers["x-amzn-errortype"] == "RequestTooLargeException"


@pytest.mark.parametrize("headers", [{"Content-Length": "12x"}, {"Content-Length": "-1"},
                                     {"Content-Length": "\xb2"}])  # ², a digit to str.isdigit
def test_a_bad_content_length_gets_a_400(local: LocalLambda, headers: dict[str, str]) -> None:
    status, answer_headers, _ = raw(local, "POST", INVOKE_PATH, b"", headers, sign=True)
    assert status == 400
    assert answer_headers["x-amzn-errortype"] == "InvalidRequestContentException"


def test_a_bad_chunk_header_gets_a_400(local: LocalLambda) -> None:
    status, _, body = raw(local, "POST", INVOKE_PATH, b"zz\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"},
                          sign=True)
    assert status == 400
    assert b"bad chunk header" in body


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"v": 1, "command": "true", "timeout": NaN}', "NaN is not JSON"),
    (b'{"v": 1, "command": "true", "timeout": Infinity}', "Infinity is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"{not json", "Expecting property name"),
])
def test_what_lambda_cannot_read_as_json_is_invalid_request_content(local: LocalLambda, body: bytes,
                                                                      reason: str) -> None:
    status, headers, answer = raw(local, "POST", INVOKE_PATH, body, sign=True)
    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert reason in json.loads(answer)["message"]


def test_a_burst_gets_answers_or_throttles_never_resets(local: LocalLambda) -> None:
    lam = client(local, max_pool_connections=200)
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    start = threading.Barrier(200)

    def one() -> None:
        start.wait()
        try:
            lam.invoke(FunctionName="lambdash", Payload=command("sleep 0.2"))
            outcome = "200"
        except botocore.exceptions.ClientError as problem:
            outcome = problem.response["Error"]["Code"]
        except Exception as problem:
            outcome = type(problem).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"200", "TooManyRequestsException"}, outcomes
    assert outcomes["200"] >= 8
    assert sum(outcomes.values()) == 200
