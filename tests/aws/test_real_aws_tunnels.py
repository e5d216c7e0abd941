"""Tunnels on a real AWS account: `forward`, `socks` and the REPL's `:forward`, to a public AWS endpoint.

Opt-in: `scripts/test --run-aws`. It uses the caller's own environment (credentials,
AWS_PROFILE, AWS_REGION), deploys a function of its own, and destroys it, even on failure.
The function reaches Lambda's own regional endpoint (it has the internet unless in a VPC);
TLS is verified end to end through the tunnel, so the bytes came through whole.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import threading

import boto3
import pytest

from tests.helpers import CALLERS_ENVIRON, LAMBDASH, free_port, wait_until

pytestmark = pytest.mark.aws


def _endpoint_host() -> str:
    region = boto3.session.Session(profile_name=CALLERS_ENVIRON.get("AWS_PROFILE")).region_name
    return f"lambda.{region}.amazonaws.com"


def test_https_through_forward_verifies_end_to_end(deployed: str) -> None:
    host, port = _endpoint_host(), free_port()
    tunnel = subprocess.Popen([LAMBDASH, "-f", deployed, "forward", f"{port}:{host}:443"], env=CALLERS_ENVIRON,
                              stderr=subprocess.DEVNULL)
    try:
        assert _https_get(port, host).startswith(b"HTTP/1.1 ")
    finally:
        tunnel.send_signal(signal.SIGINT)
        assert tunnel.wait(timeout=60) == 130


def _https_get(port: int, host: str) -> bytes:
    """The first bytes of an HTTPS answer from ``host`` through a tunnel on ``port``, TLS verified."""

    def connect() -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            return None

    raw = wait_until(connect, 120, interval=1, message="the tunnel never listened")
    assert raw is not None
    with ssl.create_default_context().wrap_socket(raw, server_hostname=host) as secure:
        secure.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return secure.recv(12)


def test_forward_in_the_background_of_the_repl(deployed: str) -> None:
    host, port = _endpoint_host(), free_port()
    controller, terminal = os.openpty()  # the REPL needs a terminal
    repl = subprocess.Popen([LAMBDASH, "-f", deployed, "repl"], stdin=terminal, stdout=terminal, stderr=terminal,
                            env={**CALLERS_ENVIRON, "TERM": "xterm"}, start_new_session=True)
    os.close(terminal)
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:
                return
            if not data:
                return
            shown.extend(data)

    threading.Thread(target=read, daemon=True).start()
    try:
        os.write(controller, f":forward {port}:{host}:443\r".encode())
        wait_until(lambda: b"tunnel 1: forwarding" in shown, 120, message=lambda: f"no tunnel: {bytes(shown)!r}")
        assert _https_get(port, host).startswith(b"HTTP/1.1 ")
        os.write(controller, b":tunnels stop 1\r")
        wait_until(lambda: b"tunnel 1 ended" in shown, 60, message=lambda: f"not stopped: {bytes(shown)!r}")
        os.write(controller, b"\x04")  # Ctrl-D leaves
        assert repl.wait(timeout=60) == 0
    finally:
        if repl.poll() is None:
            repl.kill()
        os.close(controller)


def test_curl_through_socks_resolves_in_the_function(deployed: str) -> None:
    if not os.path.exists("/usr/bin/curl"):
        pytest.skip("curl is not installed")
    port = free_port()
    proxy = subprocess.Popen([LAMBDASH, "-f", deployed, "socks", str(port)], env=CALLERS_ENVIRON,
                             stderr=subprocess.DEVNULL)
    try:
        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except OSError:
                return False
            return True

        wait_until(listening, 120, interval=1, message="the proxy never listened")
        curl = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--socks5-hostname",
                               f"127.0.0.1:{port}", f"https://{_endpoint_host()}/"], capture_output=True, timeout=120)
        assert curl.returncode == 0, curl.stderr
        assert curl.stdout.isdigit()
    finally:
        proxy.send_signal(signal.SIGINT)
        assert proxy.wait(timeout=60) == 130
