"""The installed ``lambdash`` command, run in a subprocess as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# The environment pytest was started in, before any fixture cleaned it: only the opt-in real-AWS tests use it.
CALLERS_ENVIRON: Mapping[str, str] = dict(os.environ)
LAMBDASH = str(Path(sys.executable).parent / "lambdash")
# lambdash run in this process: its arguments in, (exit status, stdout, stderr) out.
Run = Callable[..., tuple[int, str, str]]


def run_lambdash(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
                 timeout: float = 120, base_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed `lambdash` in a subprocess, with its output captured.

    It runs in this process's (hermetic) environment, or ``base_env``, with ``env`` on top.
    """
    return subprocess.run(
        [LAMBDASH, *args], input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout,
        env={**(os.environ if base_env is None else base_env), **(env or {})},
    )


def run_as_caller(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The installed lambdash with the caller's own AWS settings (the opt-in real-AWS tests alone use it)."""
    return run_lambdash(*args, stdin=stdin, timeout=timeout, base_env=CALLERS_ENVIRON)
