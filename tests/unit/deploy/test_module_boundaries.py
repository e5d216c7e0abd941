"""deploy/ keeps to its seams: only ``observed`` reads AWS, only the executor writes, and nothing opens a shell."""

from __future__ import annotations

import ast
from pathlib import Path

import lambdash.deploy
import lambdash.local

DEPLOY = Path(lambdash.deploy.__file__).parent
LOCAL = Path(lambdash.local.__file__).parent
# The stages that compute without I/O: what they need is passed to them.
PURE = ("validate", "settings", "documents", "tags", "plan", "planner", "drift", "twin")


def runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (not those under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def client_calls(path: Path) -> set[str]:
    """The methods ``path`` calls on a ``client`` (a DeployClient, by the name deploy gives it)."""
    calls: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if (isinstance(owner, ast.Name) and owner.id == "client") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "client"):
                calls.add(node.func.attr)
    return calls


def test_only_observed_reads_aws_and_only_the_executor_writes() -> None:
    callers = {path.stem: client_calls(path) for path in DEPLOY.glob("*.py") if client_calls(path)}
    assert set(callers) == {"observed", "executor"}
    assert callers["observed"].isdisjoint(callers["executor"])


def test_the_pure_stages_import_no_aws_and_deploy_opens_no_shells() -> None:
    for path in DEPLOY.glob("*.py"):
        imports = runtime_imports(path)
        assert "lambdash.targets" not in imports, path.name
        assert not any(module.startswith("lambdash.commands") for module in imports), path.name
        if path.stem in PURE:
            assert not any(module.startswith(("lambdash.aws", "boto3", "botocore")) for module in imports), path.name


def test_the_local_lambda_takes_the_function_defaults_and_nothing_of_deploy() -> None:
    for path in LOCAL.glob("*.py"):
        assert not any(module.startswith("lambdash.deploy") for module in runtime_imports(path)), path.name
    assert "lambdash.lambda_defaults" in runtime_imports(LOCAL / "function.py")
