"""Probes: ten checks in one ``lambdash probe`` call against ten sequential one-check calls.

The checks are GETs to a loopback HTTP server that answers after 200 ms (a slow API),
run through ``lambdash serve`` as a user would, each call a fresh ``lambdash``
process; the sandbox is warmed first. The figure is the ratio of the medians.

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_probe.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from benchkit import LAMBDASH, isolate_environment, served

CHECKS = 10
ANSWER_DELAY_SECONDS = 0.2


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(ANSWER_DELAY_SECONDS)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


class SlowServer(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # all ten connect at once


def probe(url: str, checks: list[str]) -> None:
    done = subprocess.run([LAMBDASH, "--endpoint-url", url, "probe", *checks], capture_output=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"bench: probe failed: {done.stdout.decode()}{done.stderr.decode()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="samples of each (default: 5)")
    args = parser.parse_args()
    isolate_environment()
    server = SlowServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    checks = [f"http://127.0.0.1:{server.server_port}/{index}" for index in range(CHECKS)]
    together: list[float] = []
    apart: list[float] = []
    with served() as url:
        probe(url, checks[:1])  # a warm sandbox for both
        for _ in range(args.repeat):
            started = time.perf_counter()
            probe(url, checks)
            together.append(time.perf_counter() - started)
            started = time.perf_counter()
            for check in checks:
                probe(url, [check])
            apart.append(time.perf_counter() - started)
    server.shutdown()
    one, ten = statistics.median(together), statistics.median(apart)
    print(f"probe: {CHECKS} checks (GETs answered after {ANSWER_DELAY_SECONDS * 1000:.0f} ms) in one call vs "
          f"{CHECKS} sequential one-check calls\n"
          f"    {one * 1000:9.2f} ms vs {ten * 1000:9.2f} ms: ratio {one / ten:5.2f}x ({ten / one:.1f} times faster)",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
