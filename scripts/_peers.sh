# Sourced by scripts/test after _venv.sh: what the tests need beyond Python. tmux, and the Lambda parts
# nobody here wrote, which the tests check lambdash against, fetched once into .peers/ (gitignored):
#   .peers/aws-lambda-rie      AWS's Runtime Interface Emulator, taken out of the aws-sam-cli wheel
#                              (from PyPI; only that file: aws-sam-cli itself is never installed);
#   .peers/node/node_modules/aws-lambda-ric   AWS's Node.js runtime interface client (from npm; needs
#                              Node.js and npm, and builds a native module).
# What cannot be fetched here is skipped with one line saying why, and its tests skip too; under CI
# (CI=true) it is an error instead, so CI never skips them silently (.ci/run installs Node.js and npm).
PEERS="$ROOT/.peers"
SAM_CLI_VERSION="1.170.0"
NODE_RIC_VERSION="4.0.2"

# A peer that could not be had: an error under CI, else one line naming the tests skipped and the fix.
peer_missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "lambdash: error: $1" >&2
        exit 255
    fi
    echo "lambdash: skipping $2: $1" >&2
}

mkdir -p "$PEERS"
if [ ! -x "$PEERS/aws-lambda-rie" ]; then
    echo "lambdash: fetching AWS's Runtime Interface Emulator for the tests (first run only)..." >&2
    wheel_dir="$(mktemp -d)"
    if "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
            "aws-sam-cli==$SAM_CLI_VERSION" -d "$wheel_dir" >&2; then
        "$VENV/bin/python" - "$wheel_dir" "$PEERS/aws-lambda-rie" <<'PY'
import glob, os, platform, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "aws_sam_cli-*.whl"))[0]
arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
with zipfile.ZipFile(wheel) as archive:
    data = archive.read(f"samcli/local/rapid/aws-lambda-rie-{arch}")
with open(sys.argv[2] + ".part", "wb") as out:
    out.write(data)
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
    else
        peer_missing "the aws-sam-cli $SAM_CLI_VERSION wheel could not be downloaded from PyPI (it holds AWS's Runtime Interface Emulator)" \
            "the tests under AWS's Runtime Interface Emulator"
    fi
    rm -rf "$wheel_dir"
fi
if [ ! -f "$PEERS/node/node_modules/aws-lambda-ric/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        peer_missing "Node.js and npm are not installed (e.g. apt-get install nodejs npm); they install AWS's Node.js runtime interface client" \
            "the Node.js runtime-client tests"
    else
        echo "lambdash: installing AWS's Node.js runtime interface client for the tests (first run only, ~1 min)..." >&2
        mkdir -p "$PEERS/node"
        (cd "$PEERS/node" && [ -f package.json ] || echo '{"name": "lambdash-test-peers", "private": true}' > package.json)
        if ! npm install --prefix "$PEERS/node" --no-audit --no-fund --loglevel=error "aws-lambda-ric@$NODE_RIC_VERSION" >&2; then
            peer_missing "npm install aws-lambda-ric@$NODE_RIC_VERSION failed (it builds a native module with make, g++ and cmake)" \
                "the Node.js runtime-client tests"
        fi
    fi
fi
if ! command -v tmux >/dev/null 2>&1; then
    peer_missing "tmux is not installed (e.g. apt-get install tmux); it drives the REPL in a real terminal" \
        "the REPL's terminal tests"
fi
