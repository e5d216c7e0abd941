"""Sessions: what each leg costs, side by side with a plain one-shot of the same command, in one run.

All on loopback: the local Lambda and its embedded moto (SQS, STS).

- opening: invoke to the session's first record (queue made, credentials handed out) vs the
  round trip of a warm one-shot `true` (for information: a session makes a queue and
  assumes a role first);
- first byte: invoke to the first byte of `echo hi` in a session vs in a one-shot;
- echo round trip: a line sent up the queue to `cat` and back down the stream, vs a warm
  one-shot `echo` of that line (target: <= 2x);
- the whole process: `printf 'x\n' | lambdash -i cat` vs `printf 'x\n' | lambdash cat`.

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_session.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from benchkit import LAMBDASH, ROOT, against_target, isolate_environment, served

sys.path.insert(0, str(ROOT))


def ratio_line(name: str, ours: float, baseline: float, target: str) -> None:
    print(f"{name}\n    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms median: ratio {ours / baseline:5.2f}x"
          f"   {against_target(ours / baseline, target)}", flush=True)


class Arrivals:
    """The output of a session or a one-shot, with the moment each piece came."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.changed = threading.Condition()

    def write(self, name: str, data: bytes) -> None:
        with self.changed:
            self.data += data
            self.changed.notify_all()

    def wait_for(self, expected: bytes, timeout: float = 30.0) -> float:
        """The moment ``expected`` has arrived."""
        with self.changed:
            if not self.changed.wait_for(lambda: expected in self.data, timeout):
                raise SystemExit(f"bench: {expected!r} never came (got {bytes(self.data)!r})")
        return time.perf_counter()


def in_process(repeat: int) -> None:
    from lambdash.aws.invoke import LambdaClient
    from lambdash.config import Target
    from lambdash.local.function import FunctionConfig
    from lambdash.local.server import LocalLambda
    from lambdash.shell.remote import RemoteShell
    from lambdash.shell.session import InteractiveSession

    with LocalLambda(FunctionConfig(concurrency=2, timeout=120)) as local:
        target = Target(endpoint_url=local.endpoint_url, credentials=local.credentials)
        shell = RemoteShell(LambdaClient(target))
        opens: list[float] = []
        plain: list[float] = []
        first_session: list[float] = []
        first_plain: list[float] = []
        echoes: list[float] = []
        echo_plain: list[float] = []

        def one_shot(command: str, expected: bytes) -> tuple[float, float]:
            arrivals = Arrivals()
            started = time.perf_counter()
            shell.run(command, live=arrivals)
            ended = time.perf_counter()
            return arrivals.wait_for(expected) - started, ended - started

        # Warm-up: the sandbox, moto (started on first use), the clients.
        warm = InteractiveSession(shell, target, "cat", live=Arrivals())
        warm.open()
        warm.send_eof()
        warm.wait()
        for _ in range(repeat):
            first, _ = one_shot("echo hi", b"hi\n")
            first_plain.append(first)
            plain.append(one_shot("true", b"")[1])
            echo_plain.append(one_shot("echo ping", b"ping\n")[1])
            arrivals = Arrivals()
            started = time.perf_counter()
            session = InteractiveSession(shell, target, "echo hi; cat", live=arrivals)
            session.open()
            opens.append(time.perf_counter() - started)
            first_session.append(arrivals.wait_for(b"hi\n") - started)
            for number in range(3):
                line = f"ping {number}\n".encode()
                sent = time.perf_counter()
                session.send_input(line)
                echoes.append(arrivals.wait_for(line) - sent)
            session.send_eof()
            session.wait()
    median = statistics.median
    ratio_line("session open (invoke to its first record: queue made, credentials handed out) vs a warm one-shot "
               "`true`", median(opens), median(plain), "for information")
    ratio_line("first byte of `echo hi`: in a session vs in a one-shot", median(first_session), median(first_plain),
               "for information")
    ratio_line("echo round trip: a line up the queue to `cat` and back vs a warm one-shot `echo` of it",
               median(echoes), median(echo_plain), "<= 2x")


def whole_process(repeat: int) -> None:
    with served(["--timeout", "120"]) as url:
        session = [LAMBDASH, "--endpoint-url", url, "--no-audit", "-i", "cat"]
        one_shot = [LAMBDASH, "--endpoint-url", url, "--no-audit", "cat"]

        def run(argv: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(argv, input=b"x\n", check=True, stdout=subprocess.DEVNULL)

        run(session)()
        samples: dict[str, list[float]] = {"session": [], "one-shot": []}
        for round_number in range(repeat):
            order = (("session", session), ("one-shot", one_shot))
            for label, argv in (order if round_number % 2 else order[::-1]):
                started = time.perf_counter()
                run(argv)()
                samples[label].append(time.perf_counter() - started)
    ratio_line("the whole process: `printf 'x\\n' | lambdash -i cat` vs `printf 'x\\n' | lambdash cat`",
               statistics.median(samples["session"]), statistics.median(samples["one-shot"]), "for information")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="samples per figure (default: 15)")
    args = parser.parse_args()
    isolate_environment()
    in_process(args.repeat)
    whole_process(max(5, args.repeat // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
