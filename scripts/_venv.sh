# Sourced by the scripts in this folder: make sure .venv exists and holds the
# project (editable) with its test extra at the pinned versions of constraints.txt, reinstalling
# when the packaging or the pins change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.lambdash-installed"

find_python() {
    for candidate in "${LAMBDASH_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "lambdash: error: Python 3.11 or newer is needed (set LAMBDASH_PYTHON to its path)" >&2
    exit 255
}

CONSTRAINTS="$ROOT/scripts/constraints.txt"
wanted="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$CONSTRAINTS" | cksum)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    echo "lambdash: setting up $VENV (first run only)..." >&2
    [ -x "$VENV/bin/python" ] || "$(find_python)" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" -e "$ROOT[test]" >&2
    echo "$wanted" > "$STAMP"
fi

# mypy cannot follow the editable install's import hook, so it reads the handler package
# (the checkout's handler/, installed as lambdash_handler) through this link.
mkdir -p "$VENV/mypy-path"
ln -sfn "$ROOT/handler" "$VENV/mypy-path/lambdash_handler"
