"""`--help`, `--version` and a one-shot handed to the agent are fast: they never import boto3 (or any AWS code).

`--help` and `--version` do not even build what resolving a target needs (the config
module, tomllib, dataclasses); a one-shot handed to the agent imports only the thin
client that speaks to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_lambdash, serving

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

AGENT_PROBE = """
import sys
from lambdash.cli import main
status = main({argv!r}, through_agent=True)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("boto3", "botocore", "prompt_toolkit"))
print(status, heavy, file=sys.stderr)
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


def test_a_one_shot_handed_to_the_agent_imports_no_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("LAMBDASH_AGENT", "60")
    with serving() as url:
        started = run_lambdash("agent", "start")
        assert started.returncode == 0, started.stderr
        try:
            probe = AGENT_PROBE.format(argv=["--endpoint-url", url, "echo handed; exit 3"])
            done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            served = json.loads(run_lambdash("agent", "status", "--json").stdout)["served"]
        finally:
            run_lambdash("agent", "stop")
    assert done.stdout == "handed\n"
    assert done.stderr.splitlines()[-1] == "3 []"
    assert served == 1  # it was the agent that ran it
