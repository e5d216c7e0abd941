"""`--help` and `--version` are fast: they never import boto3 (or any AWS code).

They do not even load what resolving a target needs (the config module, tomllib,
dataclasses).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from lambdash.cli import main
try:
    main({flag!r})
except SystemExit:
    pass
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("boto3", "botocore", "prompt_toolkit"))
print(heavy, file=sys.stderr)
print(sorted(name for name in ("lambdash.config", "tomllib", "dataclasses") if name in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_help_and_version_import_no_sdk(flag: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(flag=[flag])], capture_output=True, text=True,
                          timeout=60)
    sdk, target_resolution = done.stderr.strip().splitlines()[-2:]
    assert sdk == "[]"
    assert target_resolution == "[]"
    assert "lambdash" in done.stdout


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "lambdash", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("lambdash ")

