"""A Lambda client kept warm by the agent: its TLS connection is opened ahead, and a forked worker uses it once.

A TLS 1.3 server on loopback counts the connections it accepts. Kept the agent's
way (a connection opened ahead and settled, a worker forked that invokes over it,
the agent's copy let go), each request costs one handshake, made before the
request, and every answer arrives whole: a connection is never used by two
processes, and the worker finds the one opened for it alive.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.servers import running, url_of

ROUNDS = 4

# The agent's part, in a process of its own (forking the test process, with its threads, would be unsafe).
AGENT_LIKE = """
import os, select, sys
import boto3
from botocore.config import Config
from lambdash.aws.invoke import LambdaClient
from lambdash.config import Target

url, certificate, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
boto = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="k",
                    aws_secret_access_key="s", verify=certificate, config=Config(retries={"total_max_attempts": 1}))
client = LambdaClient(Target(endpoint_url=url, region="us-east-1"), client=boto)
for number in range(rounds):
    client.connect_ahead()
    # As between two one-shots: the server's session tickets arrive before the next request does.
    pool = boto._endpoint.http_session._manager.connection_from_url(url)
    for connection in [found for found in list(pool.pool.queue) if found is not None]:
        select.select([connection.sock], [], [], 10)
    client.settle_connections()
    worker = os.fork()
    if worker == 0:
        print(client.invoke(b'{"v": 1}').payload.decode(), flush=True)
        os._exit(0)
    client.forget_connections()
    os.waitpid(worker, 0)
"""


class Counting(BaseHTTPRequestHandler):
    """Answers every invoke, and counts the connections it is given."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[tuple[str, int]]] = []

    def setup(self) -> None:
        super().setup()
        Counting.connections.append(self.client_address)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f'{{"answer": {len(Counting.connections)}}}'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "certificate.pem", directory / "key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate_path, key_path


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    certificate, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3  # the version that sends session tickets after the handshake
    context.load_cert_chain(certificate, key)
    Counting.connections = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with running(server):
        yield url_of(server, "https"), certificate


def test_each_forked_worker_uses_the_connection_opened_ahead_for_it(tls_endpoint: tuple[str, Path]) -> None:
    url, certificate = tls_endpoint
    done = subprocess.run([sys.executable, "-c", AGENT_LIKE, url, str(certificate), str(ROUNDS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # One connection per request, opened ahead: the n-th answer is given on the n-th connection.
    assert done.stdout.splitlines() == [f'{{"answer": {number}}}' for number in range(1, ROUNDS + 1)]
    assert len(Counting.connections) == ROUNDS
