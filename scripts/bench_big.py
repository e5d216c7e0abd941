"""Big data on the embedded default: what the embedded S3 costs a small command, and the client's memory.

- a small one-shot (``lambdash --local true``, a cold local Lambda each time) with the
  embedded S3 against without it (``AWS_ENDPOINT_URL_S3`` set turns it off), alternating
  (target: <= 1.05x: moto starts only when a sandbox first connects);
- the client's peak RSS sending 300 MB of stdin, and fetching 300 MB of spilled output,
  against the floor of the same client printing ``--version`` (target: under 100 MB).

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_big.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import LAMBDASH, against_target, free_port, isolate_environment, served

MB = 1024 * 1024


def run(arguments: list[str], *, stdin: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the installed command, its output dropped; it must succeed.

    The peak is the kernel's high-water mark of the command's own memory (VmHWM), read
    until it exits (a waited-for child's rusage would count its parent's memory too).
    """
    with open(stdin or os.devnull, "rb") as source, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen([LAMBDASH, *arguments], stdin=source, stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, **(env or {})})
        peak_kib = 0
        while process.poll() is None:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                break
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
            time.sleep(0.005)
        process.wait()
        elapsed = time.perf_counter() - started
        err.seek(0)
        problem = err.read()
    if process.returncode != 0 or problem:
        raise SystemExit(f"bench: lambdash {' '.join(arguments)} failed: {problem.decode(errors='replace')}")
    return elapsed, peak_kib / 1024


def small_one_shot(repeat: int) -> None:
    without = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}"}  # a closed port: never called
    embedded: list[float] = []
    off: list[float] = []
    for _ in range(repeat):
        embedded.append(run(["--local", "true"])[0])
        off.append(run(["--local", "true"], env=without)[0])
    ours, baseline = statistics.median(embedded), statistics.median(off)
    print(f"small one-shot `lambdash --local true`, with the embedded S3 vs without\n"
          f"    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms: ratio {ours / baseline:5.2f}x   "
          f"{against_target(ours / baseline, '<= 1.05x')}",
          flush=True)


def client_memory(size_mb: int) -> None:
    _, floor = run(["--version"])
    with tempfile.TemporaryDirectory(prefix="lambdash-bench-") as directory:
        big = Path(directory) / "big.bin"
        with open(big, "wb") as file:
            for _ in range(size_mb // 16):
                file.write(os.urandom(16 * MB))
        with served(["--ephemeral-storage", str(size_mb * 3), "--timeout", "600"]) as url:
            # Kept in the sandbox's own /tmp (it cannot see the host's), for the next command to send back.
            stdin_seconds, stdin_rss = run(["--endpoint-url", url, "tee /tmp/big.bin | wc -c"], stdin=big)
            output_seconds, output_rss = run(["--endpoint-url", url, "--no-stream", "cat -- /tmp/big.bin"])
    print(f"client peak RSS at {size_mb} MB, against the floor of `lambdash --version` ({floor:.1f} MiB)\n"
          f"    stdin:          {stdin_rss:6.1f} MiB ({stdin_rss / floor:4.2f}x the floor, {stdin_seconds:5.1f} s)"
          f"   {against_target(stdin_rss * 1.048576, '< 100 MB')}\n"
          f"    spilled output: {output_rss:6.1f} MiB ({output_rss / floor:4.2f}x the floor, {output_seconds:5.1f} s)"
          f"   {against_target(output_rss * 1.048576, '< 100 MB')}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="samples of the small one-shot (default: 15)")
    parser.add_argument("--size-mb", type=int, default=304, help="stdin and output size in MB (default: 304)")
    args = parser.parse_args()
    isolate_environment()
    small_one_shot(args.repeat)
    client_memory(args.size_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
