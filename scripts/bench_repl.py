"""REPL figures: typing latency while a completion listing is in flight, and a command's round trip.

- keystroke latency: a key fed to prompt_toolkit's pipe input, until the input
  buffer holds it and until the screen has been rendered again. Measured twice on
  the same session: with the completion listing answering at once, and while a
  listing that takes 1 s is in flight (a fake lister stands in for Lambda).
  Typing must not wait for the listing: the ratio should stay near 1x.
- round trip of ``true``: one command typed into the REPL (Enter to result, on a
  warm ``lambdash serve``) against the one-shot ``lambdash --endpoint-url URL true``
  on the same serve (which pays for starting Python and boto3 every time).

It prints figures and asserts nothing. Run it with the project's virtualenv:
``.venv/bin/python scripts/bench_repl.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchkit import LAMBDASH, ROOT, free_port, isolate_environment, served

sys.path.insert(0, str(ROOT))
SLOW_LISTING_SECONDS = 1.0


@contextmanager
def warm_serve() -> Iterator[str]:
    """A ``lambdash serve`` on a free port, with one sandbox already warm."""
    with served() as url:
        subprocess.run([LAMBDASH, "--endpoint-url", url, "--no-audit", "true"], check=True)
        yield url


def make_terminal() -> Any:
    from lambdash.terminal import Terminal

    return Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())


def keystroke_latency(repeat: int) -> tuple[list[float], list[float], list[float], list[float]]:
    """Key-to-buffer and key-to-render times, with a quick listing and with a slow one in flight."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lambdash.aws.invoke import LambdaClient
    from lambdash.config import Target
    from lambdash.repl import ReplSession
    from lambdash.repl.listing import ListingRequest
    from lambdash.shell.remote import RemoteShell

    slow = threading.Event()

    def lister(request: ListingRequest) -> Sequence[str]:
        if slow.is_set():
            time.sleep(SLOW_LISTING_SECONDS)
        return ["usr/", "tmp/", "etc/"] if request.kind == "directory" else ["ls", "cat"]

    # Nothing is ever run: the lister stands in for every remote call while typing.
    target = Target(function="lambdash", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    quick_buffer: list[float] = []
    quick_render: list[float] = []
    slow_buffer: list[float] = []
    slow_render: list[float] = []
    with create_pipe_input() as pipe:
        session = ReplSession(RemoteShell(LambdaClient(target)), target, make_terminal(), input=pipe,
                              output=DummyOutput(), lister=lister)
        changed, rendered = threading.Event(), threading.Event()
        times: dict[str, float] = {}

        def on_change(_: object) -> None:
            times["buffer"] = time.perf_counter()
            changed.set()

        def on_render(_: object) -> None:
            times["render"] = time.perf_counter()
            rendered.set()

        session.prompt.default_buffer.on_text_changed += on_change
        session.prompt.app.after_render += on_render

        def press(key: str) -> tuple[float, float]:
            changed.clear()
            rendered.clear()
            started = time.perf_counter()
            pipe.send_text(key)
            changed.wait(5)
            rendered.wait(5)
            return times["buffer"] - started, times["render"] - started

        def typist() -> None:
            rendered.wait(5)  # the first prompt is on screen
            for round_number in range(repeat):
                # A path under a new directory each round, so each one needs a fresh listing.
                for samples, slow_listing in ((quick_buffer, False), (slow_buffer, True)):
                    if slow_listing:
                        slow.set()
                    else:
                        slow.clear()
                    for key in f"ls /d{round_number}{int(slow_listing)}/":
                        press(key)
                    # The listing for that directory is now being fetched; time the next keys.
                    for key in "abcdefgh":
                        buffer_seconds, render_seconds = press(key)
                        samples.append(buffer_seconds)
                        (slow_render if slow_listing else quick_render).append(render_seconds)
                    pipe.send_text("\x15")  # Ctrl-U: clear the line for the next round
                    session.listings.wait_idle(SLOW_LISTING_SECONDS * 3)
            pipe.send_text("\x04")  # Ctrl-D on the empty line ends the REPL

        thread = threading.Thread(target=typist)
        thread.start()
        session.run()
        thread.join()
    return quick_buffer, quick_render, slow_buffer, slow_render


def repl_round_trips(url: str, repeat: int) -> list[float]:
    """Enter-to-result times of `true` typed into a REPL on the serve."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lambdash.config import Target
    from lambdash.local.credentials import pair_for_endpoint
    from lambdash.repl import ReplSession
    from lambdash.shell.targets import open_shell

    target = Target(function="lambdash", region="us-east-1", endpoint_url=url, credentials=pair_for_endpoint(url))
    samples: list[float] = []
    with open_shell(target) as shell, create_pipe_input() as pipe:
        session = ReplSession(shell, target, make_terminal(), input=pipe, output=DummyOutput())

        def typist() -> None:
            for _ in range(repeat + 1):
                before = session.last
                pipe.send_text("true")
                time.sleep(0.05)  # the keys are echoed; Enter is what is timed
                started = time.perf_counter()
                pipe.send_text("\r")
                while session.last is before:
                    time.sleep(0.0005)
                samples.append(time.perf_counter() - started)
            pipe.send_text("\x04")

        thread = threading.Thread(target=typist)
        thread.start()
        session.run()
        thread.join()
    return samples[1:]  # the first one also finds out whether the sandbox has bash


def one_shot_round_trips(url: str, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([LAMBDASH, "--endpoint-url", url, "true"], check=True)
        samples.append(time.perf_counter() - started)
    return samples


def milliseconds(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:8.2f} ms, max {max(samples) * 1000:8.2f} ms"


def ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(numerator) / statistics.median(denominator)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each measurement (default: 5)")
    options = parser.parse_args(argv)
    isolate_environment()

    quick_buffer, quick_render, slow_buffer, slow_render = keystroke_latency(options.repeat)
    out("keystroke to buffer, listing answered at once:  " + milliseconds(quick_buffer))
    out(f"keystroke to buffer, {SLOW_LISTING_SECONDS:g} s listing in flight:     " + milliseconds(slow_buffer))
    out(f"    ratio in flight / at once: {ratio(slow_buffer, quick_buffer):5.2f}x   (target: about 1x)")
    out("keystroke to render, listing answered at once:  " + milliseconds(quick_render))
    out(f"keystroke to render, {SLOW_LISTING_SECONDS:g} s listing in flight:     " + milliseconds(slow_render))
    out(f"    ratio in flight / at once: {ratio(slow_render, quick_render):5.2f}x   (target: about 1x)")

    with warm_serve() as url:
        repl = repl_round_trips(url, options.repeat * 4)
        one_shot = one_shot_round_trips(url, options.repeat)
    out("`true` typed into the REPL (Enter to result):   " + milliseconds(repl))
    out("one-shot `lambdash --endpoint-url URL true`:    " + milliseconds(one_shot))
    out(f"    ratio one-shot / REPL: {ratio(one_shot, repl):7.1f}x   (the REPL should be much faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
