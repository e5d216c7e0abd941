# Sourced by scripts/test after _venv.sh: the Lambda parts nobody here wrote, which the tests check
# lambdash against, fetched once into .peers/ (gitignored):
#   .peers/aws-lambda-rie      AWS's Runtime Interface Emulator, taken out of the aws-sam-cli wheel
#                              (only that file: aws-sam-cli itself is never installed);
#   .peers/node/node_modules/aws-lambda-ric   AWS's Node.js runtime interface client (needs npm).
PEERS="$ROOT/.peers"
SAM_CLI_VERSION="1.170.0"
NODE_RIC_VERSION="4.0.2"
mkdir -p "$PEERS"
if [ ! -x "$PEERS/aws-lambda-rie" ]; then
    echo "lambdash: fetching AWS's Runtime Interface Emulator for the tests (first run only)..." >&2
    wheel_dir="$(mktemp -d)"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
        "aws-sam-cli==$SAM_CLI_VERSION" -d "$wheel_dir" >&2
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
    rm -rf "$wheel_dir"
fi
if [ ! -f "$PEERS/node/node_modules/aws-lambda-ric/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "lambdash: error: the tests need npm (Node.js) to install AWS's Node.js runtime interface client" >&2
        exit 255
    fi
    echo "lambdash: installing AWS's Node.js runtime interface client for the tests (first run only, ~1 min)..." >&2
    mkdir -p "$PEERS/node"
    (cd "$PEERS/node" && [ -f package.json ] || echo '{"name": "lambdash-test-peers", "private": true}' > package.json)
    npm install --prefix "$PEERS/node" --no-audit --no-fund --loglevel=error "aws-lambda-ric@$NODE_RIC_VERSION" >&2
fi
