"""The import rules the layout stands on, read from the source with ``ast``.

- The handler runs inside Lambda: it imports only the standard library,
  boto3/botocore and itself (relatively, so the same files are the deploy zip's
  ``lambdash_handler`` and an installed lambdash's).
- The client imports the handler only through ``lambdash_handler.contract``, or
  the package root to find the files it ships.
- Nothing imports a top-level ``handler``: that name belongs to other projects.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLER_THIRD_PARTY = {"boto3", "botocore"}


def imports(path: Path) -> Iterator[tuple[int, int, str]]:
    """(line, level, module) of every import in ``path``; ``module`` is absolute for level 0."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.level, node.module or ""


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def foreign_to_the_handler(path: Path) -> list[str]:
    return [f"line {line}: {module}" for line, level, module in imports(path)
            if level == 0 and module.split(".")[0] not in sys.stdlib_module_names
            and module.split(".")[0] not in HANDLER_THIRD_PARTY and module != "__future__"]


def handler_internals(path: Path) -> list[str]:
    return [f"line {line}: {module}" for line, level, module in imports(path)
            if level == 0 and module.split(".")[0] in ("lambdash_handler", "handler")
            and module != "lambdash_handler" and not module.startswith("lambdash_handler.contract")]


def top_level_handler(path: Path) -> list[str]:
    return [f"line {line}: {module}" for line, level, module in imports(path)
            if level == 0 and module.split(".")[0] == "handler"]


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", python_files("handler"), ids=ids)
def test_the_handler_imports_only_the_standard_library_boto3_and_itself(path: Path) -> None:
    assert foreign_to_the_handler(path) == [], "the handler must import itself relatively, and nothing beyond boto3"


@pytest.mark.parametrize("path", python_files("lambdash"), ids=ids)
def test_the_client_imports_the_handler_only_through_its_contract(path: Path) -> None:
    assert handler_internals(path) == []


@pytest.mark.parametrize("path", python_files("lambdash", "handler", "scripts", "tests"), ids=ids)
def test_nothing_imports_a_top_level_handler(path: Path) -> None:
    assert top_level_handler(path) == []


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The checks above are not vacuous: each finds a planted offender, and passes what is allowed."""
    planted = tmp_path / "planted.py"
    planted.write_text("import json\nimport boto3\nfrom . import runner\nimport requests\n"
                       "from handler.app import respond\nfrom lambdash_handler.runner import Spool\n"
                       "import lambdash_handler\nfrom lambdash_handler.contract.records import RESULT\n")
    assert foreign_to_the_handler(planted) == [
        "line 4: requests", "line 5: handler.app", "line 6: lambdash_handler.runner", "line 7: lambdash_handler",
        "line 8: lambdash_handler.contract.records"]
    assert handler_internals(planted) == ["line 5: handler.app", "line 6: lambdash_handler.runner"]
    assert top_level_handler(planted) == ["line 5: handler.app"]
