"""Fixtures of the integration tier: lambdash built as a wheel and installed, as users get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.wheel import build_wheel, install_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv holding the wheel; its ``bin`` directory."""
    return install_wheel(wheel, tmp_path_factory.mktemp("venv"))
