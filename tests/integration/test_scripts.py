"""What scripts/test does on a machine without the tools some tests need (scripts/_peers.sh).

A developer's machine skips those tests with one line naming what is missing and the
fix; CI (CI=true) refuses instead, so it never skips them silently. The script runs
in bash with a PATH that has none of npm, node or tmux, and a checkout of its own
whose RIE is already fetched, so nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import ROOT

PEERS_SCRIPT = ROOT / "scripts" / "_peers.sh"


def run_peers(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    checkout, tools = tmp_path / "checkout", tmp_path / "bin"
    (checkout / ".peers").mkdir(parents=True)
    rie = checkout / ".peers" / "aws-lambda-rie"
    rie.write_text("")
    rie.chmod(0o755)
    tools.mkdir()
    for tool in ("mkdir", "mktemp", "rm"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    env = {"PATH": str(tools), "HOME": str(tmp_path), **({"CI": "true"} if ci else {})}
    program = f'set -euo pipefail; ROOT={checkout}; VENV={checkout}/.venv; source {PEERS_SCRIPT}; echo sourced'
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, "-c", program], env=env, capture_output=True, text=True, timeout=60)


def test_without_npm_or_tmux_their_tests_are_skipped_with_a_line_each(tmp_path: Path) -> None:
    done = run_peers(tmp_path, ci=False)
    assert (done.returncode, done.stdout) == (0, "sourced\n")
    assert done.stderr.splitlines() == [
        "lambdash: skipping the Node.js runtime-client tests: Node.js and npm are not installed (e.g. apt-get "
        "install nodejs npm); they install AWS's Node.js runtime interface client",
        "lambdash: skipping the REPL's terminal tests: tmux is not installed (e.g. apt-get install tmux); it drives "
        "the REPL in a real terminal",
    ]


def test_under_ci_a_missing_tool_is_an_error(tmp_path: Path) -> None:
    done = run_peers(tmp_path, ci=True)
    assert (done.returncode, done.stdout) == (255, "")
    assert done.stderr == ("lambdash: error: Node.js and npm are not installed (e.g. apt-get install nodejs npm); "
                           "they install AWS's Node.js runtime interface client\n")


def test_the_readme_says_what_the_tests_need() -> None:
    readme = (ROOT / "README.md").read_text()
    for needed in ("Node.js", "npm", "tmux", "aws-sam-cli", "aws-lambda-ric"):
        assert needed in readme
