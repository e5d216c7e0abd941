"""Live output: how soon a line shows up, and what streaming costs, measured side by side in one run.

- delay from a line written in the sandbox to the line printed by ``lambdash`` (target: median <= 20 ms);
- warm round trip of ``true``, streamed vs buffered, same sandbox (target: <= 1.2x);
- the whole one-shot process ``lambdash --endpoint-url WARM_SERVE true`` (streaming) vs a
  bare boto3 script invoking the same event (target: <= 1.2x);
- warm round trip of ``true`` through the handler's runtime loop vs the same handler under
  awslambdaric (target: <= 1.0x), and vs a handler that only spawns ``sh -c true``
  under awslambdaric, the floor for running any shell command (target: <= 1.1x);
- 100 MB of output, streamed vs buffered with the S3 spill, throughput.

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_stream.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchkit import (
    BARE_BOTO3_INVOKE,
    LAMBDASH,
    ROOT,
    against_target,
    background,
    free_port,
    isolate_environment,
    lambda_client,
    served,
)

sys.path.insert(0, str(ROOT))
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def ratio_line(name: str, ours: float, baseline: float, target: str) -> None:
    print(f"{name}\n    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms median: ratio {ours / baseline:5.2f}x"
          f"   {against_target(ours / baseline, target)}", flush=True)


def line_delay(lines: int) -> None:
    """The sandbox prints the time it writes each line; this side notes the time each line arrives."""
    with served() as url:
        subprocess.run([LAMBDASH, "--endpoint-url", url, "--no-audit", "true"], check=True)
        script = f"for i in $(seq {lines}); do date +%s.%N; sleep 0.05; done"
        process = subprocess.Popen([LAMBDASH, "--endpoint-url", url, "--no-audit", script], stdout=subprocess.PIPE)
        assert process.stdout is not None
        delays = []
        for raw in process.stdout:
            delays.append(time.time() - float(raw))
        process.wait()
    delays.sort()
    median, p90 = statistics.median(delays), delays[int(len(delays) * 0.9)]
    print(f"delay from a line written in the sandbox to lambdash printing it ({len(delays)} lines)\n"
          f"    median {median * 1000:6.2f} ms, p90 {p90 * 1000:6.2f} ms   (target: median <= 20 ms)", flush=True)


def streamed_vs_buffered(repeat: int) -> None:
    from lambdash.aws.invoke import LambdaClient
    from lambdash.config import Target
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda
    from lambdash.shell.remote import RemoteShell

    class Discard:
        def write(self, name: str, data: bytes) -> None:
            pass

    with LocalLambda(FunctionConfig(concurrency=1)) as local:
        shell = RemoteShell(LambdaClient(Target(endpoint_url=local.endpoint_url, credentials=local.credentials)))
        samples: dict[bool, list[float]] = {True: [], False: []}
        for round_number in range(repeat + 5):
            for live in ((True, False) if round_number % 2 else (False, True)):
                started = time.perf_counter()
                shell.run("true", live=Discard() if live else None)
                if round_number >= 5:
                    samples[live].append(time.perf_counter() - started)
    ratio_line("warm round trip of `true`, streamed vs buffered (same sandbox)",
               statistics.median(samples[True]), statistics.median(samples[False]), "<= 1.2x")


def one_shot_process(repeat: int) -> None:
    from lambdash.local.credentials import pair_for_endpoint

    with served() as url:
        pair = pair_for_endpoint(url)
        assert pair is not None
        bare = [sys.executable, "-c", BARE_BOTO3_INVOKE, url, pair.access_key_id, pair.secret_access_key]
        ours = [LAMBDASH, "--endpoint-url", url, "--no-audit", "true"]
        subprocess.run(ours, check=True)
        samples: dict[str, list[float]] = {"ours": [], "bare": []}
        for round_number in range(repeat):
            for label, argv in ((("ours", ours), ("bare", bare)) if round_number % 2 else
                                (("bare", bare), ("ours", ours))):
                started = time.perf_counter()
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
                samples[label].append(time.perf_counter() - started)
    ratio_line("the whole one-shot `lambdash --endpoint-url WARM_SERVE true` (streaming) vs a bare boto3 script",
               statistics.median(samples["ours"]), statistics.median(samples["bare"]), "<= 1.2x")


def runtime_loop(repeat: int) -> None:
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda

    with tempfile.TemporaryDirectory() as root:
        Path(root, "spawn.py").write_text(
            "import subprocess\ndef handle(event, context):\n    subprocess.run(['/bin/sh', '-c', 'true'])\n"
            "    return {}\n")
        with LocalLambda(FunctionConfig()) as loop, LocalLambda(FunctionConfig(runtime="awslambdaric")) as ric, \
                LocalLambda(FunctionConfig(task_root=Path(root), handler="spawn.handle",
                                           runtime="awslambdaric")) as spawn:
            clients = [lambda_client(local.endpoint_url, local.credentials) for local in (loop, ric, spawn)]
            payload = json.dumps({"v": 1, "command": "true"}).encode()
            samples: list[list[float]] = [[], [], []]
            for round_number in range(repeat + 5):
                # A different one goes first each round, so no side always follows the same neighbour.
                for index in [(round_number + offset) % 3 for offset in range(3)]:
                    started = time.perf_counter()
                    clients[index].invoke(FunctionName="lambdash", Payload=payload)["Payload"].read()
                    if round_number >= 5:
                        samples[index].append(time.perf_counter() - started)
    ours, managed, floor = (statistics.median(kept) for kept in samples)
    ratio_line("warm round trip of `true`: the handler's runtime loop vs the same handler under awslambdaric",
               ours, managed, "<= 1.0x")
    ratio_line("    the runtime loop vs a handler that only spawns `sh -c true` under awslambdaric (the floor)",
               ours, floor, "<= 1.1x")


def big_output(repeat: int) -> None:
    import boto3

    size = 100_000_000
    port = free_port()
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with background(moto, port, MOTO_CREDENTIALS) as moto_url:
        s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        env = {**MOTO_CREDENTIALS, "AWS_ENDPOINT_URL_S3": moto_url}
        with served(["--bucket", bucket, "--timeout", "300"], env) as url:
            def run(*extra: str) -> Callable[[], object]:
                argv = [LAMBDASH, "--endpoint-url", url, "--no-audit", *extra, f"head -c {size} /dev/zero"]
                return lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                                              env={**os.environ, **env})
            run()()
            samples: dict[str, list[float]] = {"streamed": [], "spilled": []}
            for round_number in range(repeat):
                for label, action in ((("streamed", run()), ("spilled", run("--no-stream"))) if round_number % 2
                                      else (("spilled", run("--no-stream")), ("streamed", run()))):
                    started = time.perf_counter()
                    action()
                    samples[label].append(time.perf_counter() - started)
    streamed, spilled = statistics.median(samples["streamed"]), statistics.median(samples["spilled"])
    print(f"100 MB of output on the local Lambda: streamed vs buffered with the S3 spill (moto)\n"
          f"    {size / streamed / 1e6:7.1f} MB/s vs {size / spilled / 1e6:7.1f} MB/s: streamed is "
          f"{spilled / streamed:4.2f}x as fast   (for information)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100, help="round trips per side (default: 100)")
    options = parser.parse_args()
    isolate_environment()
    line_delay(60)
    streamed_vs_buffered(options.repeat)
    one_shot_process(max(10, options.repeat // 5))
    runtime_loop(options.repeat)
    big_output(3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
