"""Tunnels: ``lambdash forward`` against a direct loopback connection.

A loopback server sends SIZE bytes to each connection and closes it; the figures are
the download throughput of one connection and of 8 at once, one upload's, and the connect latency (connect to
first byte), through ``lambdash forward`` on ``lambdash serve`` and directly.

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_tunnel.py [--repeat N] [--mb M]``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time

from benchkit import LAMBDASH, against_target, free_port, isolate_environment, served, wait_for_port

SIZE = 5 * 1024 * 1024
CONNECTIONS = 8


class Sender(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        first = self.request.recv(1)  # the client's byte: it asks, as a protocol would, then the answer comes
        if not first:  # the route's probe: it connects and leaves
            return
        if first == b"1":
            self.request.sendall(b"x")
        elif first == b"2":  # an upload: read to its end, then say so
            while self.request.recv(65536):
                pass
            self.request.sendall(b"x")
        else:
            self.request.sendall(bytes(SIZE))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def fetch(port: int, ask: bytes = b"0") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
        connection.sendall(ask)
        total = 0
        while chunk := connection.recv(65536):
            total += len(chunk)
    return total


def upload(port: int) -> float:
    """MB/s of one upload of SIZE bytes, to the server's answer after its end."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
        connection.sendall(b"2" + bytes(SIZE))
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(65536):
            pass
    return SIZE / (time.perf_counter() - started) / 1e6


def throughput(port: int, connections: int) -> float:
    """MB/s of ``connections`` downloads at once."""
    threads = [threading.Thread(target=fetch, args=(port,)) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return connections * SIZE / (time.perf_counter() - started) / 1e6


def latency(port: int) -> float:
    started = time.perf_counter()
    fetch(port, b"1")
    return time.perf_counter() - started


def main() -> int:
    global SIZE
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="samples of each (default: 3)")
    parser.add_argument("--mb", type=int, default=5, help="megabytes per connection (default: 5)")
    args = parser.parse_args()
    SIZE = args.mb * 1024 * 1024
    isolate_environment()
    server = Server(("127.0.0.1", 0), Sender)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    direct = server.server_address[1]
    figures: dict[str, list[float]] = {}
    with served() as url:
        port = free_port()
        tunnel = subprocess.Popen([LAMBDASH, "--endpoint-url", url, "forward", f"{port}:127.0.0.1:{direct}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, timeout=60)
            latency(port)  # warm sandboxes
            throughput(port, CONNECTIONS)
            for _ in range(args.repeat):
                for label, target in (("tunnel", port), ("direct", direct)):
                    figures.setdefault(f"{label} 1", []).append(throughput(target, 1))
                    figures.setdefault(f"{label} {CONNECTIONS}", []).append(throughput(target, CONNECTIONS))
                    figures.setdefault(f"{label} latency", []).append(latency(target))
                    figures.setdefault(f"{label} upload", []).append(upload(target))
        finally:
            tunnel.send_signal(signal.SIGINT)
            tunnel.wait(timeout=30)
    server.shutdown()
    median = {label: statistics.median(values) for label, values in figures.items()}
    print(f"tunnel: lambdash forward on the local Lambda vs a direct loopback connection ({args.mb} MB each)")
    for name in ("1", str(CONNECTIONS)):
        print(f"    {name} connection(s): {median[f'tunnel {name}']:9.1f} MB/s vs {median[f'direct {name}']:9.1f} MB/s")
    print(f"    upload, 1 connection: {median['tunnel upload']:9.1f} MB/s vs {median['direct upload']:9.1f} MB/s")
    connect = median["tunnel latency"]
    print(f"    connect to first byte: {connect * 1000:9.1f} ms vs {median['direct latency'] * 1000:9.2f} ms "
          f"{against_target(connect, '<= 1.0 s')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
