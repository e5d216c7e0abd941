"""lambdash as users get it: a wheel built from this checkout, installed into a clean venv.

The venv borrows the dependencies (boto3, moto, ...) of the test venv through a
path entry, so nothing is downloaded; lambdash itself comes only from the wheel.
Every run is from another directory, so nothing of the checkout is importable.
"""

from __future__ import annotations

import io
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("lambdash-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv holding the wheel; its ``bin`` directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The test venv's packages, after the clean venv's own: a path entry, so its editable lambdash is not seen.
    (site / "zz-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return venv / "bin"


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
