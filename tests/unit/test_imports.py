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

from tests.helpers import ROOT

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


# The client's layers, top to bottom; each may import only from its own layer and those below it.
# The agent sits under the commands: the CLI hands one-shots to it and `lambdash agent` asks it.
LAYERS = ("cli", "commands", "agent", "repl", "reports", "shell", "deploy", "aws", "config", "local",
          "errors terminal paths concurrency lambda_defaults text")


def layer_of(module: str) -> int:
    """The layer of a ``lambdash`` module: by its subpackage, or by its own name at the root.

    A ``__main__`` is an entry point (``python -m lambdash``, ``python -m lambdash.agent``):
    it wires the layers together, so it stands with the CLI at the top.
    """
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "errors"  # lambdash/__init__.py holds only the version: any may read it
    name = "cli" if parts[-1] == "__main__" else name
    return next(index for index, layer in enumerate(LAYERS) if name in layer.split())


def client_imports() -> dict[str, set[str]]:
    """Each client module, and the client modules it imports (TYPE_CHECKING imports aside)."""
    modules = {}
    for path in python_files("lambdash"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(node) for block in ast.walk(tree)
                       if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                       for node in ast.walk(block)}
        found = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
                for alias in node.names:  # a submodule by name, or a name the module defines
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_client_has_no_import_cycle() -> None:
    assert cycles(client_imports()) == []


def test_the_client_layers_only_look_down() -> None:
    upward = sorted(f"{module} imports {target}" for module, targets in client_imports().items()
                    for target in targets if layer_of(target) < layer_of(module))
    assert upward == []


def test_the_cycle_and_layer_checks_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("lambdash.shell.remote") > layer_of("lambdash.repl.session")
    assert layer_of("lambdash.errors") > layer_of("lambdash.local.server")
    assert layer_of("lambdash.agent.client") > layer_of("lambdash.commands.agent")
    assert layer_of("lambdash.agent.__main__") == layer_of("lambdash.cli")
