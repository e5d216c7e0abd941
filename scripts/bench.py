"""lambdash's benchmarks: each figure is a ratio of two things measured side by side in one run.

Run it through ``scripts/bench`` (which sets up .venv). Nothing here asserts: the
figures are for people to read and compare with the targets printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchkit import LAMBDASH, ROOT, against_target, background, free_port, isolate_environment, lambda_client, served

sys.path.insert(0, str(ROOT))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def interleaved(first: Callable[[], object], second: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of two actions run alternately, so machine noise hits both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for action, samples in ((first, a), (second, b)):
            started = time.perf_counter()
            action()
            samples.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def report(name: str, ours: float, baseline: float, unit: str, target: str) -> None:
    print(f"{name}\n    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms {unit}: ratio {ours / baseline:5.2f}x"
          f"   {against_target(ours / baseline, target)}", flush=True)


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with background(argv, port, CREDENTIALS) as url:
        yield url


# --- issue: the handler and the local Lambda ------------------------------------------


def bench_handler_overhead(repeat: int) -> None:
    from lambdash_handler.app import respond

    class Context:
        aws_request_id = "bench"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    event = {"v": 1, "command": "true"}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole measurement
    real_stdout = sys.stdout
    sys.stdout = devnull  # the handler's one log line per invocation
    try:
        ours, bare = interleaved(lambda: respond(event, Context()),
                                 lambda: subprocess.run(["/bin/sh", "-c", "true"]), repeat)
    finally:
        sys.stdout = real_stdout
    report("handler overhead: respond({'command': 'true'}) vs subprocess.run(['/bin/sh','-c','true'])",
           ours, bare, "median", "<= 1.5x")


def bench_emulator_round_trip(repeat: int) -> None:
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda

    with tempfile.TemporaryDirectory() as task_root:
        Path(task_root, "noop.py").write_text("def handle(event, context):\n    return {}\n")
        # What any shell-running handler must pay: one /bin/sh started from inside the sandbox.
        Path(task_root, "spawn.py").write_text(
            "import subprocess\ndef handle(event, context):\n    subprocess.run(['/bin/sh', '-c', 'true'])\n"
            "    return {}\n"
        )
        root = Path(task_root)
        with LocalLambda(FunctionConfig()) as real, \
                LocalLambda(FunctionConfig(task_root=root, handler="noop.handle")) as noop, \
                LocalLambda(FunctionConfig(task_root=root, handler="spawn.handle")) as spawn:
            clients = [lambda_client(local.endpoint_url, local.credentials) for local in (real, noop, spawn)]
            payload = json.dumps({"v": 1, "command": "true"}).encode()
            samples: list[list[float]] = [[], [], []]
            for round_number in range(repeat + 3):
                for client, kept in zip(clients, samples, strict=True):
                    started = time.perf_counter()
                    client.invoke(FunctionName="lambdash", Payload=payload)["Payload"].read()
                    if round_number >= 3:  # the first rounds warm the sandboxes
                        kept.append(time.perf_counter() - started)
            ours, baseline, spawned = (statistics.median(kept) for kept in samples)
    report("warm round trip through the local Lambda with boto3: `true` vs a no-op handler",
           ours, baseline, "median", "<= 1.3x")
    report("    the same `true` vs a handler that only runs subprocess.run(['/bin/sh','-c','true'])",
           ours, spawned, "median", "for information: the cost of starting a shell at all")


_PEAK_RSS_PROBE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from lambdash_handler.app import respond
class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 600_000
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
response = respond({{"v": 1, "command": "head -c {size} /dev/urandom", "output": {output}}}, Context())
assert response["ok"], response
print(json.dumps({{"before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}),
      file=sys.stderr)
"""


def bench_handler_memory() -> None:
    import boto3

    with moto_server() as url:
        env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL_S3": url}
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        spill = json.dumps({"bucket": bucket})
        for label, output in (("no bucket (truncated)", "{}"), ("spilled to S3 (moto)", spill)):
            peaks = {}
            for size in (20_000_000, 200_000_000):
                done = subprocess.run(
                    [sys.executable, "-c", _PEAK_RSS_PROBE.format(root=str(ROOT), size=size, output=output)],
                    capture_output=True, text=True, env=env, check=True,
                )
                peaks[size] = json.loads(done.stderr.strip().splitlines()[-1])["peak_kib"] / 1024
            print(f"handler peak RSS while a command prints output, {label}\n"
                  f"    20 MB: {peaks[20_000_000]:6.1f} MiB   200 MB: {peaks[200_000_000]:6.1f} MiB   "
                  f"ratio 200/20: {peaks[200_000_000] / peaks[20_000_000]:4.2f}x   "
                  f"{against_target(max(peaks.values()), '< 80 MiB, flat')}",
                  flush=True)


# --- issue: the one-shot client -------------------------------------------------------


def bench_one_shot(repeat: int) -> None:
    with served() as url:
        subprocess.run([LAMBDASH, "--endpoint-url", url, "true"], check=True)
        cold, warm = interleaved(
            lambda: subprocess.run([LAMBDASH, "--local", "true"], check=True),
            lambda: subprocess.run([LAMBDASH, "--endpoint-url", url, "true"], check=True), repeat)
    report("one-shot `lambdash --local true` (cold, sandbox included) vs `--endpoint-url` a warm serve",
           cold, warm, "wall, median", "for information")


def bench_spill_fetch(repeat: int) -> None:
    import boto3

    size = 100_000_000
    with moto_server() as url:
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": url}
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        with served(["--bucket", bucket, "--timeout", "120"], env) as lambda_url:
            from lambdash.aws.invoke import LambdaClient
            from lambdash.config import Target
            from lambdash.local.credentials import pair_for_endpoint
            from lambdash.shell.remote import RemoteShell

            shell = RemoteShell(LambdaClient(Target(endpoint_url=lambda_url, region="us-east-1",
                                                    credentials=pair_for_endpoint(lambda_url))))
            ours, raw = [], []
            for _ in range(repeat):
                result = shell.run(f"head -c {size} /dev/urandom")
                stream = result.stdout
                assert stream.spilled is not None, "the output should have spilled"
                key = stream.spilled["key"]
                # Raw boto3 first (the object must still exist), then lambdash's fetch, which deletes it.
                started = time.perf_counter()
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                digest = hashlib.sha256()
                with open(os.devnull, "wb") as sink:
                    for chunk in body.iter_chunks(1024 * 1024):
                        digest.update(chunk)
                        sink.write(chunk)
                raw.append(time.perf_counter() - started)
                started = time.perf_counter()
                with open(os.devnull, "wb") as sink:
                    stream.write_to(sink, "stdout")
                ours.append(time.perf_counter() - started)
    ours_s, raw_s = statistics.median(ours), statistics.median(raw)
    print(f"fetch of 100 MB spilled output (presigned URL, sha256, delete) vs raw boto3 get_object (+sha256)\n"
          f"    {size / ours_s / 1e6:7.1f} MB/s vs {size / raw_s / 1e6:7.1f} MB/s: throughput ratio "
          f"{raw_s / ours_s:4.2f}x   {against_target(raw_s / ours_s, '>= 0.8x')}", flush=True)


def run_extra(script: str) -> None:
    path = ROOT / "scripts" / script
    if path.exists():
        subprocess.run([sys.executable, str(path)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="samples per figure (default: 15)")
    parser.add_argument("--quick", action="store_true", help="fewer samples and smaller workloads")
    args = parser.parse_args()
    repeat = 5 if args.quick else args.repeat
    isolate_environment()
    print(f"lambdash benchmarks ({repeat} samples each; {os.cpu_count()} CPUs; ratios of medians)\n", flush=True)
    bench_handler_overhead(repeat * 4)
    bench_emulator_round_trip(repeat * 4)
    bench_handler_memory()
    bench_one_shot(repeat)
    bench_spill_fetch(max(3, repeat // 3))
    run_extra("bench_repl.py")
    run_extra("bench_census.py")
    run_extra("bench_local.py")
    run_extra("bench_stream.py")
    run_extra("bench_session.py")
    run_extra("bench_big.py")
    run_extra("bench_probe.py")
    run_extra("bench_agent.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
