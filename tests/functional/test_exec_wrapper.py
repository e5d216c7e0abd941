"""The exec wrapper gives the runtime loop the path the managed runtime gives a function.

AWS's Python runtime puts the task root, then the layers' packages
(``/opt/python/lib/pythonX.Y/site-packages`` and ``/opt/python``) first on
``sys.path``; the wrapper starts the handler's runtime loop with the same path, so
the handler (and a command's ``python3``) import what the function would, layers
included, and the plan's warning about a layer's boto3 holds. The interpreter here
is a stand-in that prints what it was started with.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

WRAPPER = ROOT / "handler" / "exec-wrapper"
SHOW = '#!/bin/sh\nprintf "%s\\n" "PYTHONPATH=$PYTHONPATH" "$*" "$(pwd)"\n'


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    return root


def stand_in(directory: Path, name: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(SHOW)
    path.chmod(0o755)
    return path


def wrap(argv: list[str], task_root: Path, **environ: str) -> list[str]:
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(task_root), **environ}
    done = subprocess.run([str(WRAPPER), *argv], env=env, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.splitlines()


def test_the_layers_come_after_the_task_root_as_under_the_managed_runtime(tmp_path: Path, task_root: Path) -> None:
    python = stand_in(tmp_path / "bin", "python3.12")
    assert wrap([str(python), "-u", "/var/runtime/bootstrap.py"], task_root) == [
        f"PYTHONPATH={task_root}:/opt/python/lib/python3.12/site-packages:/opt/python",
        "-m lambdash_handler.runtime",
        str(task_root),
    ]


def test_the_version_comes_from_the_runtime_when_the_interpreter_does_not_say(tmp_path: Path,
                                                                              task_root: Path) -> None:
    stand_in(tmp_path / "bin", "python3")
    lines = wrap(["/var/runtime/bootstrap"], task_root, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                 AWS_EXECUTION_ENV="AWS_Lambda_python3.13", PYTHONPATH="/var/runtime")
    assert lines[0] == (f"PYTHONPATH={task_root}:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime")


def test_the_managed_runtime_alone_is_left_as_it_is(tmp_path: Path, task_root: Path) -> None:
    bootstrap = stand_in(tmp_path / "bin", "bootstrap")
    assert wrap([str(bootstrap), "arg"], task_root, LAMBDASH_RUNTIME="awslambdaric")[:2] == ["PYTHONPATH=", "arg"]
