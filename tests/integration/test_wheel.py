"""lambdash as users get it: a wheel built from this checkout, installed into a clean venv (``installed``).

Every run is from another directory, so nothing of the checkout is importable.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import uuid
import zipfile
from pathlib import Path

import boto3

from tests.helpers import ROOT, TEST_CREDENTIALS


def test_the_wheel_ships_every_module_and_the_exec_wrapper_executable(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for path in sorted((ROOT / "lambdash").rglob("*.py")):
        assert path.relative_to(ROOT).as_posix() in names
    for path in sorted((ROOT / "handler").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"lambdash_handler/{path.relative_to(ROOT / 'handler').as_posix()}" in names
    assert archive.getinfo("lambdash_handler/exec-wrapper").external_attr >> 16 == 0o100755
    assert not [name for name in names if name.startswith("handler/")]


def test_no_top_level_handler_is_installed(installed: Path, tmp_path: Path) -> None:
    script = ("import importlib.util, sys, lambdash_handler; print(lambdash_handler.__file__);"
              "sys.exit(importlib.util.find_spec('handler') is not None)")
    probe = subprocess.run([installed / "python", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(installed.parent))


def test_the_installed_command_runs_on_the_local_sandbox(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([installed / "lambdash", "--local", "echo hi; exit 3"], cwd=tmp_path,
                            capture_output=True, timeout=180)
    assert (result.stdout, result.returncode) == (b"hi\n", 3), result.stderr


def test_the_installed_template_zip_holds_the_exec_wrapper_where_the_function_looks(installed: Path,
                                                                                  tmp_path: Path) -> None:
    result = subprocess.run([installed / "lambdash", "template", "--format", "json", "--write-zip", "code.zip"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    wrapper = "/var/task/lambdash_handler/exec-wrapper"
    assert f'"AWS_LAMBDA_EXEC_WRAPPER": "{wrapper}"' in result.stdout
    assert '"Handler": "lambdash_handler.app.handle"' in result.stdout
    archive = zipfile.ZipFile(io.BytesIO((tmp_path / "code.zip").read_bytes()))
    info = archive.getinfo(wrapper.removeprefix("/var/task/"))
    assert info.external_attr >> 16 == 0o100755
    assert archive.read(info).startswith(b"#!/bin/sh")


def test_the_installed_command_deploys_the_exec_wrapper_executable_where_the_function_looks(
    installed: Path, moto_url: str, tmp_path: Path
) -> None:
    """Deployed from a wheel install: the code Lambda got holds the wrapper, 0755, at AWS_LAMBDA_EXEC_WRAPPER."""
    suffix = uuid.uuid4().hex[:10]
    name = f"wheel-{suffix}"
    env = {**os.environ, **TEST_CREDENTIALS}
    deployed = subprocess.run([installed / "lambdash", "deploy", "--endpoint-url", moto_url, "--region", "us-east-1",
                               "--name", name, "--bucket", f"spills-{suffix}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert deployed.returncode == 0, deployed.stderr
    lam = boto3.client("lambda", endpoint_url=moto_url, region_name="us-east-1", **_keys())
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert configuration["Handler"] == "lambdash_handler.app.handle"
    wrapper = configuration["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
    # moto keeps the code but gives no way to fetch it (its Code.Location names AWS): the installed command writes
    # the same zip, byte for byte, and its hash says it is the one Lambda was given.
    written = subprocess.run([installed / "lambdash", "template", "--write-zip", "code.zip"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    code = (tmp_path / "code.zip").read_bytes()
    assert base64.b64encode(hashlib.sha256(code).digest()).decode() == configuration["CodeSha256"]
    archive = zipfile.ZipFile(io.BytesIO(code))
    info = archive.getinfo(wrapper.removeprefix("/var/task/"))
    assert info.external_attr >> 16 == 0o100755
    assert archive.read(info).startswith(b"#!/bin/sh")
    assert archive.getinfo("lambdash_handler/app.py")


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
