"""``lambdash probe``: network checks from inside the sandbox, through the installed command.

Every check goes to a listener this module starts on loopback: TCP ports open,
closed and with a full backlog (so a connect times out), a stub DNS server, an
HTTP server that redirects, an HTTPS server with a self-signed certificate, and
AWS endpoints overridden with the function's ``AWS_ENDPOINT_URL_<SERVICE>``
(set with ``serve --env``). Nothing is sent beyond 127.0.0.0/8.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from lambdash_handler.contract import schema_path
from tests.helpers import free_port, run_lambdash, serving

lambdash = run_lambdash


class StubDns:
    """A DNS server on loopback that answers from a fixed table, fails, or stays silent."""

    ADDRESSES: ClassVar[dict[str, tuple[str, ...]]] = {"ok.test": ("10.1.2.3", "fd00::5")}
    RCODES: ClassVar[dict[str, int]] = {"missing.test": 3, "broken.test": 2}
    SILENT: ClassVar[frozenset[str]] = frozenset({"silent.test"})

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                query, client = self.sock.recvfrom(512)
            except OSError:
                return
            answer = self.answer(query)
            if answer is not None:
                self.sock.sendto(answer, client)

    def answer(self, query: bytes) -> bytes | None:
        query_id = struct.unpack("!H", query[:2])[0]
        labels, offset = [], 12
        while query[offset]:
            labels.append(query[offset + 1:offset + 1 + query[offset]].decode())
            offset += 1 + query[offset]
        question = query[12:offset + 5]
        record_type = struct.unpack("!H", query[offset + 1:offset + 3])[0]
        name = ".".join(labels)
        if name in self.SILENT:
            return None
        rcode = self.RCODES.get(name, 0 if name in self.ADDRESSES else 3)
        records = []
        for address in self.ADDRESSES.get(name, ()):
            packed = ipaddress.ip_address(address).packed
            if (record_type, len(packed)) in ((1, 4), (28, 16)):
                records.append(struct.pack("!HHHIH", 0xC00C, record_type, 1, 60, len(packed)) + packed)
        header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(records), 0, 0)
        return header + question + b"".join(records)

    def close(self) -> None:
        self.sock.close()


class Redirecting(http.server.BaseHTTPRequestHandler):
    """/start -> /middle -> /end (200); /loop redirects to itself; /broken answers 503."""

    def do_GET(self) -> None:
        routes = {"/start": (302, "/middle"), "/middle": (301, "/end"), "/loop": (307, "/loop")}
        if self.path in routes:
            status, location = routes[self.path]
            self.send_response(status)
            self.send_header("Location", location)
        else:
            self.send_response(200 if self.path == "/end" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lambdash tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "lambdash-test.local")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30, hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("lambdash-test.local"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Listeners:
    open_port: int
    closed_port: int
    full_port: int  # its backlog is full: a connect gets no answer
    dns_port: int
    http_port: int
    https_port: int


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listeners]:
    opened = socket.socket()
    opened.bind(("127.0.0.1", 0))
    opened.listen(16)
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(8):  # more than the backlog holds: later SYNs are dropped, as a firewall drops them
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(full.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)
    dns = StubDns()
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path_factory.mktemp("tls")))
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Listeners(opened.getsockname()[1], free_port(), full.getsockname()[1], dns.port,
                        plain.server_port, secure.server_port)
    finally:
        for server in (plain, secure):
            server.shutdown()
            server.server_close()
        dns.close()
        for sock in (opened, full, *fillers):
            sock.close()


@pytest.fixture(scope="module")
def served(listeners: Listeners) -> Iterator[str]:
    endpoints = {
        "DYNAMODB": listeners.open_port, "SECRETS_MANAGER": listeners.full_port, "SQS": listeners.closed_port,
    }
    with serving(*(f"--env=AWS_ENDPOINT_URL_{service}=http://127.0.0.1:{port}"
                   for service, port in endpoints.items())) as url:
        yield url


def probe(served: str, *checks: str, timeout: str = "1") -> tuple[int, str, str]:
    done = lambdash("--endpoint-url", served, "probe", "-t", timeout, *checks)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def probe_json(served: str, *checks: str, timeout: str = "1") -> tuple[int, dict[str, Any]]:
    done = lambdash("--endpoint-url", served, "probe", "--json", "-t", timeout, *checks)
    assert done.stderr == b""
    document: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, document


def lines_of(output: str) -> dict[str, str]:
    """Each check's line (and its hint line, if any) by the check's name."""
    found: dict[str, str] = {}
    last = ""
    for line in output.splitlines()[1:-1]:
        if line.startswith("  hint: "):
            found[last] += "\n" + line
        else:
            last = line.split()[0]
            found[last] = line
    return found


def test_tcp_open_refused_and_timed_out_each_get_their_verdict(served: str, listeners: Listeners) -> None:
    checks = (f"127.0.0.1:{listeners.open_port}", f"127.0.0.1:{listeners.closed_port}",
              f"127.0.0.1:{listeners.full_port}")
    status, out, err = probe(served, *checks)
    assert (status, err) == (1, "")
    header, *_, summary = out.splitlines()
    assert header.split() == ["CHECK", "VERDICT", "TIME", "DETAIL"]
    assert summary.startswith("3 checks: 1 passed, 2 failed (")
    found = lines_of(out)
    assert found[checks[0]].split()[1] == "open"
    assert found[checks[0]].endswith(f"connected to 127.0.0.1 port {listeners.open_port}")
    assert "refused" in found[checks[1]].split("\n")[0]
    assert "hint: the host answered, and nothing listens on that port" in found[checks[1]]
    assert found[checks[2]].split()[1:3] == ["timed", "out"]
    assert "hint: no answer: a security group or network ACL drops it" in found[checks[2]]


def test_all_passing_exits_0_and_nothing_is_coloured_off_a_terminal(served: str, listeners: Listeners) -> None:
    status, out, _ = probe(served, f"127.0.0.1:{listeners.open_port}", f"[::ffff:127.0.0.1]:{listeners.open_port}")
    assert status == 0
    assert "\x1b[" not in out
    assert out.splitlines()[-1].startswith("2 checks: 2 passed, 0 failed (")


def test_dns_tells_nxdomain_from_servfail_from_a_timeout(served: str, listeners: Listeners) -> None:
    server = f"@127.0.0.1:{listeners.dns_port}"
    status, document = probe_json(served, *(f"dns:{name}{server}" for name in
                                            ("ok.test", "missing.test", "broken.test", "silent.test")))
    assert status == 1
    ok, missing, broken, silent = document["checks"]
    assert (ok["ok"], ok["verdict"], sorted(ok["facts"]["addresses"])) == (True, "resolved", ["10.1.2.3", "fd00::5"])
    assert ok["facts"]["server"] == "127.0.0.1"
    assert (missing["verdict"], missing["detail"]) == (
        "NXDOMAIN", f"127.0.0.1 port {listeners.dns_port} answered NXDOMAIN for missing.test")
    assert broken["verdict"] == "SERVFAIL"
    assert broken["hint"].startswith("the server failed to answer")
    assert (silent["verdict"], silent["detail"]) == ("timed out", f"no answer from 127.0.0.1 port {listeners.dns_port}")
    assert silent["seconds"] >= 0.9


def test_http_follows_redirects_and_splits_the_time(served: str, listeners: Listeners) -> None:
    base = f"http://127.0.0.1:{listeners.http_port}"
    status, document = probe_json(served, f"{base}/start", f"{base}/loop", f"{base}/broken")
    assert status == 1
    followed, looping, broken = document["checks"]
    assert (followed["ok"], followed["verdict"]) == (True, "HTTP 200")
    assert [hop["status"] for hop in followed["facts"]["hops"]] == [302, 301, 200]
    assert followed["detail"].startswith("200 OK after 2 redirects; dns ")
    assert set(followed["facts"]["hops"][-1]["timings"]) == {"dns", "connect", "tls", "first_byte"}
    assert (looping["ok"], looping["verdict"]) == (False, "too many redirects")
    assert len(looping["facts"]["hops"]) == 6
    assert (broken["ok"], broken["verdict"]) == (False, "HTTP 503")


def test_a_self_signed_certificate_does_not_verify_and_is_described(served: str, listeners: Listeners) -> None:
    url = f"https://127.0.0.1:{listeners.https_port}/end"
    status, out, _ = probe(served, url)
    assert status == 1
    line, hint = lines_of(out)[url].split("\n")
    assert "certificate does not verify" in line
    assert "subject CN=lambdash-test.local, O=lambdash tests; issuer CN=lambdash-test.local, O=lambdash tests" in line
    assert "expires in 30 days; HTTP 200 without verifying" in line
    assert hint.startswith("  hint: clients here will refuse this certificate: self")
    _, document = probe_json(served, url)
    tls = document["checks"][0]["facts"]["tls"]
    assert (tls["verified"], tls["days_left"], tls["names"]) == (False, 30, ["lambdash-test.local", "127.0.0.1"])
    assert tls["protocol"].startswith("TLSv1.")


def test_aws_endpoints_honour_the_functions_endpoint_overrides(served: str, listeners: Listeners) -> None:
    # 10 s each: the embedded STS starts on first use, which takes more than a second on a busy machine.
    status, out, _ = probe(served, "aws:dynamodb", "aws:secretsmanager", "aws:sqs", "aws:sts", "aws:nosuchthing",
                           timeout="10")
    assert status == 1
    found = lines_of(out)
    assert "reachable at a loopback address" in found["aws:dynamodb"]
    assert "the endpoint is set by AWS_ENDPOINT_URL_DYNAMODB" in found["aws:dynamodb"]
    blocked = found["aws:secretsmanager"]
    assert blocked.split()[1] == "blocked"
    assert ("hint: no route to secretsmanager: give the function's subnets a NAT gateway, or add a VPC endpoint "
            "for secretsmanager") in blocked
    assert "refused" in found["aws:sqs"]
    # STS goes to the local Lambda's own (embedded) endpoint, which answers GetCallerIdentity.
    assert "GetCallerIdentity: arn:aws:" in found["aws:sts"]
    assert "unknown service" in found["aws:nosuchthing"]


def test_json_validates_against_the_schema(served: str, listeners: Listeners) -> None:
    schema = json.loads(schema_path("probe").read_text())
    status, document = probe_json(
        served, f"127.0.0.1:{listeners.open_port}", f"dns:ok.test@127.0.0.1:{listeners.dns_port}",
        f"https://127.0.0.1:{listeners.https_port}/start", "aws:sts", f"127.0.0.1:{listeners.closed_port}",
        timeout="10")
    jsonschema.validate(document, schema)
    assert status == 1
    assert document["target"] == f"lambdash @ {served}"
    assert [check["ok"] for check in document["checks"]] == [True, True, False, True, False]


def test_the_checks_run_at_once_within_their_own_timeout(served: str, listeners: Listeners) -> None:
    checks = [f"127.0.0.1:{listeners.full_port}"] * 4 + [f"dns:silent.test@127.0.0.1:{listeners.dns_port}"] * 4
    status, document = probe_json(served, *checks, timeout="1.5")
    assert status == 1
    assert {check["verdict"] for check in document["checks"]} == {"timed out"}
    assert document["seconds"] < 8 * 1.5  # one after another would take 12 s


@pytest.mark.parametrize(("check", "message"), [
    ("db.internal", "'db.internal' is not a check: give HOST:PORT, dns:NAME[@SERVER[:PORT]]"),
    ("db:99999", "'db:99999' has a bad port: '99999' (1-65535)"),
    ("dns:", "'dns:' does not name a valid DNS name"),
    ("aws:S3!", "'aws:S3!' is not a check: aws:SERVICE"),
])
def test_a_bad_check_is_one_line_and_exit_255_before_anything_runs(served: str, check: str, message: str) -> None:
    done = lambdash("--endpoint-url", served, "probe", check)
    assert done.returncode == 255
    assert done.stdout == b""
    assert done.stderr.decode().startswith(f"lambdash: error: {message}")
    assert done.stderr.count(b"\n") == 1


def test_lambdash_failing_is_255_not_a_failed_check(listeners: Listeners) -> None:
    done = lambdash("--endpoint-url", f"http://127.0.0.1:{listeners.closed_port}", "probe", "127.0.0.1:1")
    assert done.returncode == 255
    assert done.stderr.startswith(b"lambdash: error: ")
    assert done.stderr.count(b"\n") == 1
