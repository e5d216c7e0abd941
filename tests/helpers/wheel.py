"""lambdash as users get it: a wheel built from this checkout, installed into a clean venv.

The venv borrows the dependencies (boto3, moto, ...) of the test venv through a
path entry, so nothing is downloaded; lambdash itself comes only from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.helpers.environment import ROOT

# What a source distribution of lambdash holds: the wheel is built from a copy of only these.
SOURCES = ("lambdash", "handler", "setup.cfg", "pyproject.toml", "README.md")


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout, built into ``out`` from a clean copy of its sources.

    Never in the checkout itself: setuptools would reuse what an earlier build left in
    its ``build/``, and a file the packaging no longer ships would still be in the wheel.
    """
    source = out / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(source)], check=True, capture_output=True,
                   timeout=300)
    (built,) = out.glob("lambdash-*.whl")
    return built


def install_wheel(wheel: Path, venv: Path) -> Path:
    """A clean venv at ``venv`` holding the wheel (and borrowing the test venv's packages); its ``bin`` directory."""
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
