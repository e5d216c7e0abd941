"""The local Lambda under load and hostile requests, and what checking signatures costs.

- burst: 200 invokes at once against ``serve --concurrency 8``: answers, 429s and
  connection resets (target: no resets);
- storm: ``census -n 200 -c 20`` against ``serve --concurrency 5`` (target: exactly 200 records);
- load: 300 invokes, 20 at a time, on ``serve --concurrency 20``, each checking its
  own random payload (target: all 300 correct);
- the open descriptors and child processes of a REPL session, once warm and after 500 commands;
- serve's RSS before and after a 300 MB POST (target: flat);
- the warm round trip of ``true`` with signature checking against without (target: <= 1.05x).

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_local.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchkit import LAMBDASH, ROOT, against_target, isolate_environment, lambda_client, served

sys.path.insert(0, str(ROOT))


def served_client(url: str, pool: int = 10) -> Any:
    from lambdash.local.credentials import pair_for_endpoint

    return lambda_client(url, pair_for_endpoint(url), pool=pool)


def burst(rounds: int) -> None:
    import botocore.exceptions

    with served(["--concurrency", "8"]) as url:
        client = served_client(url, pool=200)
        for round_number in range(1, rounds + 1):
            outcomes: collections.Counter[str] = collections.Counter()
            lock = threading.Lock()
            start = threading.Barrier(200)

            def one(start: threading.Barrier = start, lock: threading.Lock = lock,
                    outcomes: collections.Counter[str] = outcomes) -> None:
                start.wait()
                try:
                    client.invoke(FunctionName="lambdash", Payload=b'{"v": 1, "command": "sleep 0.2"}')
                    outcome = "answered"
                except botocore.exceptions.ClientError as problem:
                    outcome = "429" if problem.response["Error"]["Code"] == "TooManyRequestsException" else "error"
                except Exception:
                    outcome = "reset or other"
                with lock:
                    outcomes[outcome] += 1

            threads = [threading.Thread(target=one) for _ in range(200)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            print(f"burst {round_number}: 200 at once on --concurrency 8: {outcomes['answered']} answered, "
                  f"{outcomes['429']} throttled (429), {outcomes['reset or other']} resets   (target: 0 resets)",
                  flush=True)


def storm() -> None:
    with served(["--concurrency", "5", "--timeout", "30"]) as url:
        started = time.perf_counter()
        done = subprocess.run([LAMBDASH, "--endpoint-url", url, "--no-audit", "census", "--json", "-n", "200",
                               "-c", "20", "echo hi"], capture_output=True, check=True)
        elapsed = time.perf_counter() - started
    document = json.loads(done.stdout)
    summary = document["summaries"][0]
    print(f"storm: census -n 200 -c 20 on --concurrency 5: {len(document['records'])} records, "
          f"{summary['answered']} answered, {summary['throttles']} throttles retried, {elapsed:.1f} s   "
          "(target: exactly 200 records)", flush=True)


def load() -> None:
    with served(["--concurrency", "20", "--timeout", "30"]) as url:
        client = served_client(url, pool=20)
        wrong = 0
        lock = threading.Lock()
        remaining = [300]

        def worker() -> None:
            nonlocal wrong
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                token = secrets.token_hex(16)
                answer = client.invoke(FunctionName="lambdash",
                                       Payload=json.dumps({"v": 1, "command": f"printf %s {token}"}).encode())
                body = json.loads(answer["Payload"].read())
                if base64.b64decode(body["stdout"]["data"]).decode() != token:
                    with lock:
                        wrong += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    print(f"load: 300 invokes at C=20 on --concurrency 20: {300 - wrong} correct, {wrong} wrong, {elapsed:.2f} s, "
          f"{300 / elapsed:.0f} invokes/s   (target: all 300 correct)", flush=True)


def repl_descriptors() -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lambdash.config import Target
    from lambdash.local.credentials import pair_for_endpoint
    from lambdash.repl import ReplSession
    from lambdash.shell.targets import open_shell
    from lambdash.terminal import Terminal

    def counts() -> tuple[int, int]:
        mine = str(os.getpid())
        children = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    children += Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] == mine
                except (OSError, IndexError):
                    continue
        return len(os.listdir("/proc/self/fd")), children

    with served() as url:
        target = Target(function="lambdash", endpoint_url=url, credentials=pair_for_endpoint(url))
        out = io.BytesIO()
        terminal = Terminal(stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
        with open_shell(target) as shell, create_pipe_input() as pipe:
            session = ReplSession(shell, target, terminal, input=pipe, output=DummyOutput())
            loop = threading.Thread(target=session.run)
            loop.start()
            pipe.send_text("".join(f"echo {n}\r" for n in range(20)))
            while not out.getvalue().endswith(b"\n19\n"):
                time.sleep(0.01)
            warm = counts()
            pipe.send_text("".join(f"echo {n}\r" for n in range(20, 500)))
            while not out.getvalue().endswith(b"\n499\n"):
                time.sleep(0.01)
            after = counts()
            pipe.send_text("\x04")
            loop.join()
    print(f"REPL session: open descriptors {warm[0]} once warm, {after[0]} after 500 commands; "
          f"child processes {warm[1]}, then {after[1]}   (target: no growth)", flush=True)


def rss_after_a_big_post() -> None:
    port_holder: list[int] = []
    with served() as url:
        port = int(url.rsplit(":", 1)[1])
        port_holder.append(port)
        pid = serve_pid(port)
        before = rss_mib(pid)
        with socket.create_connection(("127.0.0.1", port)) as connection:
            size = 300 * 1024 * 1024
            connection.sendall(f"POST /2015-03-31/functions/lambdash/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}"
                               f"\r\nContent-Length: {size}\r\n\r\n".encode())
            chunk = b"x" * (1024 * 1024)
            sent = 0
            try:
                while sent < size:
                    connection.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # refused unread: serve closed the connection
            answer = connection.recv(200).split(b"\r\n", 1)[0].decode()
        time.sleep(0.5)
        after = rss_mib(pid)
    print(f"serve RSS around a 300 MB POST: {before:.1f} MiB before, {after:.1f} MiB after ({answer!r}, "
          f"{sent / 1e6:.0f} MB of the body sent before serve closed)   (target: flat)", flush=True)


def serve_pid(port: int) -> int:
    needle = f"--port\0{port}\0".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes() and b"serve" in \
                        Path(f"/proc/{entry}/cmdline").read_bytes():
                    return int(entry)
            except OSError:
                continue
    raise SystemExit(f"bench_local: no serve on port {port}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def signature_cost(repeat: int) -> None:
    """One local Lambda, one warm sandbox, one connection: only the check differs between the two sides."""
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda

    payload = b'{"v": 1, "command": "true"}'
    with LocalLambda(FunctionConfig()) as local:
        client = lambda_client(local.endpoint_url, local.credentials)
        samples: dict[bool, list[float]] = {True: [], False: []}
        for round_number in range(repeat + 5):
            for checked in ((True, False) if round_number % 2 else (False, True)):
                local.check_signatures = checked
                started = time.perf_counter()
                client.invoke(FunctionName="lambdash", Payload=payload)["Payload"].read()
                if round_number >= 5:
                    samples[checked].append(time.perf_counter() - started)
    ours, baseline = statistics.median(samples[True]), statistics.median(samples[False])
    print(f"warm round trip of `true`, signatures checked vs not checked (same sandbox, alternating)\n"
          f"    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms median: ratio {ours / baseline:5.2f}x   "
          f"{against_target(ours / baseline, '<= 1.05x')}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="round trips per side for the signature figure")
    options = parser.parse_args()
    isolate_environment()
    burst(3)
    storm()
    load()
    repl_descriptors()
    rss_after_a_big_post()
    signature_cost(options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
