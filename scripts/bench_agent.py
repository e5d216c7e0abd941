"""The agent's figures: a one-shot handed to a warm agent, measured side by side in one run.

- the whole one-shot ``lambdash --endpoint-url WARM_SERVE true`` through a running agent vs
  a bare boto3 script invoking the same event on the same serve, which pays for starting
  Python and boto3 as every one-shot without the agent does (target: <= 0.25x);
- the same one-shot through the agent vs without it (``--no-agent``), for information;
- ``lambdash --version`` and ``--help`` vs ``python -c pass`` (target: <= 2x).

It prints figures and asserts nothing: ``.venv/bin/python scripts/bench_agent.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from benchkit import BARE_BOTO3_INVOKE, LAMBDASH, ROOT, against_target, alternating, isolate_environment, served

sys.path.insert(0, str(ROOT))


def line(name: str, ours: float, baseline: float, target: str) -> None:
    print(f"{name}\n    {ours * 1000:9.2f} ms vs {baseline * 1000:9.2f} ms wall, median: ratio {ours / baseline:5.2f}x"
          f"   {against_target(ours / baseline, target)}", flush=True)


def one_shots(repeat: int) -> None:
    from lambdash.local.credentials import pair_for_endpoint

    agent = {"LAMBDASH_AGENT": "600"}
    with served() as url:
        pair = pair_for_endpoint(url)
        assert pair is not None
        one_shot = [LAMBDASH, "--endpoint-url", url, "true"]
        subprocess.run([LAMBDASH, "agent", "start"], check=True, env={**os.environ, **agent}, capture_output=True)
        try:
            for _ in range(3):  # a warm sandbox, and a warm client with its connection in the agent
                subprocess.run(one_shot, check=True, env={**os.environ, **agent}, stdin=subprocess.DEVNULL)
            medians = alternating({
                "agent": one_shot,
                "bare": [sys.executable, "-c", BARE_BOTO3_INVOKE, url, pair.access_key_id, pair.secret_access_key],
                "direct": [LAMBDASH, "--no-agent", "--endpoint-url", url, "true"],
            }, repeat, {"agent": agent})
        finally:
            subprocess.run([LAMBDASH, "agent", "stop"], check=False, env={**os.environ, **agent}, capture_output=True)
    line("one-shot `lambdash --endpoint-url WARM_SERVE true` through the agent vs a bare boto3 script invoking it",
         medians["agent"], medians["bare"], "<= 0.25x")
    line("    the same one-shot through the agent vs without it (--no-agent)",
         medians["agent"], medians["direct"], "for information")


def start_up(repeat: int) -> None:
    medians = alternating({
        "version": [LAMBDASH, "--version"],
        "help": [LAMBDASH, "--help"],
        "python": [sys.executable, "-c", "pass"],
    }, repeat)
    line("`lambdash --version` vs `python -c pass`", medians["version"], medians["python"], "<= 2x")
    line("`lambdash --help` vs `python -c pass`", medians["help"], medians["python"], "<= 2x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="samples per figure (default: 20)")
    options = parser.parse_args()
    isolate_environment()
    # The agent's socket in a private runtime dir of this run's own.
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="lambdash-bench-run-")
    start_up(options.repeat)
    one_shots(options.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
