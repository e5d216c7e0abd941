"""Census and inventory figures, measured against one warm ``lambdash serve --concurrency 16``.

- census speedup: ``lambdash census -n 16 -c 16 'sleep 1'`` against 16 sequential
  one-shot ``lambdash 'sleep 1'`` runs on the same warm serve (target: at least 8x);
- inventory: the wall time of ``lambdash inventory --json`` and of the bare Invoke
  call, and the size of the function's response and of the JSON written.

It prints figures and asserts nothing. Run it with the project's virtualenv:
``.venv/bin/python scripts/bench_census.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchkit import LAMBDASH, ROOT, against_target, isolate_environment, served

sys.path.insert(0, str(ROOT))
CONCURRENCY = 16
SLEEP_COMMAND = "sleep 1"
SPEEDUP_TARGET = 8.0


def served_for_census(environment: dict[str, str]) -> Any:
    """A `lambdash serve` with room for 16 sandboxes."""
    return served(["--concurrency", str(CONCURRENCY), "--timeout", "60"], environment)


def timed_lambdash(environment: dict[str, str], *args: str) -> tuple[float, bytes]:
    """Wall time of one `lambdash --no-audit` process, and its stdout; a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run([LAMBDASH, "--no-audit", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          env=environment, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench_census: `lambdash {' '.join(args)}` exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace').strip()}")
    return elapsed, done.stdout


def census_figures(url: str, environment: dict[str, str], repeat: int) -> None:
    census_args = ("--endpoint-url", url, "census", "--json", "-n", str(CONCURRENCY), "-c", str(CONCURRENCY),
                   SLEEP_COMMAND)
    # Warm up: 16 overlapping one-second invocations start all 16 sandboxes.
    warmup_seconds, output = timed_lambdash(environment, *census_args)
    warmup = json.loads(output)["summaries"][0]
    print(f"warm-up census: {warmup_seconds:.2f} s, {warmup['sandboxes']} sandboxes, {warmup['cold']} cold",
          flush=True)
    census_runs, sequential_runs = [], []
    for _ in range(repeat):
        seconds, output = timed_lambdash(environment, *census_args)
        summary = json.loads(output)["summaries"][0]
        census_runs.append(seconds)
        print(f"census -n {CONCURRENCY} -c {CONCURRENCY} '{SLEEP_COMMAND}': {seconds:.2f} s wall, "
              f"{summary['sandboxes']} sandboxes, {summary['cold']} cold, {summary['throttles']} throttles, "
              f"latency median {summary['latency_seconds']['median']:.3f} s", flush=True)
        started = time.perf_counter()
        for _ in range(CONCURRENCY):
            timed_lambdash(environment, "--endpoint-url", url, SLEEP_COMMAND)
        sequential = time.perf_counter() - started
        sequential_runs.append(sequential)
        print(f"{CONCURRENCY} sequential one-shots '{SLEEP_COMMAND}': {sequential:.2f} s wall "
              f"({sequential / CONCURRENCY:.3f} s each)", flush=True)
    census_seconds, sequential_seconds = statistics.median(census_runs), statistics.median(sequential_runs)
    print(f"census speedup: {sequential_seconds:.2f} s / {census_seconds:.2f} s = "
          f"{sequential_seconds / census_seconds:.1f}x   "
          f"{against_target(sequential_seconds / census_seconds, f'>= {SPEEDUP_TARGET:g}x')}", flush=True)


def inventory_figures(url: str, environment: dict[str, str], repeat: int) -> None:
    from lambdash.aws.invoke import LambdaClient
    from lambdash.config import Target
    from lambdash.local.credentials import pair_for_endpoint
    from lambdash_handler.contract import PROTOCOL_VERSION

    client = LambdaClient(Target(function="lambdash", endpoint_url=url, credentials=pair_for_endpoint(url)))
    request = json.dumps({"v": PROTOCOL_VERSION, "op": "inventory", "redact": True}).encode()
    invoke_seconds, payload_sizes = [], []
    for _ in range(max(3, repeat)):
        started = time.perf_counter()
        payload = client.invoke(request).payload
        invoke_seconds.append(time.perf_counter() - started)
        payload_sizes.append(len(payload))
    cli_runs = [timed_lambdash(environment, "--endpoint-url", url, "inventory", "--json")
                for _ in range(max(3, repeat))]
    cli_seconds = statistics.median(seconds for seconds, _ in cli_runs)
    identity = json.loads(cli_runs[-1][1])["sections"]["identity"].get("status")
    print(f"inventory invoke (warm sandbox): median {statistics.median(invoke_seconds) * 1000:.0f} ms, "
          f"response {statistics.median(payload_sizes) / 1000:.1f} kB", flush=True)
    print(f"lambdash inventory --json (whole process): median {cli_seconds * 1000:.0f} ms, "
          f"{len(cli_runs[-1][1]) / 1000:.1f} kB written (identity probe: {identity})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="census rounds (each is about 20 s; default 1)")
    options = parser.parse_args()
    # No real account: the sandboxes' identity probe fails fast on a closed loopback port.
    isolate_environment()
    environment = {**os.environ, "NO_COLOR": "1"}
    with served_for_census(environment) as url:
        census_figures(url, environment, options.repeat)
        inventory_figures(url, environment, options.repeat)


if __name__ == "__main__":
    main()
