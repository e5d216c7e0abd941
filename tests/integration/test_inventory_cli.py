"""``lambdash inventory`` in a subprocess: on the local sandbox, a served one, and saved files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lambdash_handler.contract import schema_path
from lambdash_handler.inventory import SECTION_KEYS
from tests.helpers import run_lambdash, serving

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SCHEMA = json.loads(schema_path("inventory").read_text())
INVENTORY_A, INVENTORY_B = str(DATA / "inventory_a.json"), str(DATA / "inventory_b.json")

EXPECTED_DIFF = f"""\
--- {INVENTORY_A}
+++ {INVENTORY_B}
@@ environment @@
~ variables.AWS_EXECUTION_ENV: AWS_Lambda_python3.12 -> AWS_Lambda_python3.13
- variables.FEATURE_FLAG: on
@@ executables @@
- by_dir./var/lang/bin: pip3.12
- by_dir./var/lang/bin: python3.12
+ by_dir./var/lang/bin: pip3.13
+ by_dir./var/lang/bin: python3.13
@@ lambda @@
~ execution_env: AWS_Lambda_python3.12 -> AWS_Lambda_python3.13
@@ python_packages @@
~ count: 3 -> 4
~ packages.boto3: 1.34.145 -> 1.35.90
~ packages.botocore: 1.34.145 -> 1.35.90
+ packages.requests: 2.32.3
~ python_version: 3.12.8 -> 3.13.1
@@ runtimes @@
~ python3.realpath: /var/lang/bin/python3.12 -> /var/lang/bin/python3.13
~ python3.version: Python 3.12.8 -> Python 3.13.1
14 changes: 3 added, 3 removed, 8 changed
"""


def lambdash(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return run_lambdash(*args, timeout=timeout)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--concurrency", "4") as url:
        yield url


def inventory_of(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_the_json_inventory_of_the_local_sandbox_validates_against_the_schema(home: Path) -> None:
    done = lambdash("--local", "inventory", "--json")

    inventory = inventory_of(done)
    jsonschema.validate(inventory, SCHEMA)
    assert list(inventory["sections"]) == list(SECTION_KEYS)
    assert inventory["sections"]["lambda"]["function_name"] == "lambdash"
    assert done.stderr == b""


# Set as the function's own configuration would set them (serve --env and --env-file).
SECRETS = {
    "DB_PASSWD": "hunter2-passwd",
    "GITHUB_PAT": "some-personal-token",
    "DB_CREDENTIALS": "user:pass-credentials",
    "HTTP_AUTH": "Basic dXNlcjpwYXNz",
    "API_KEY": "plain-api-key-value",
    "APIKEY": "another-api-key-val",
    "DB_PWD": "pwd-value-secret",
    "DEPLOY_ID": "AKIA2E0A8F3B244C9986",
}
SECRET_URL = ("DATABASE_URL", "postgres://u:pass-in-url@db.internal/app")
LOOK_ALIKES = {"KEYBOARD_LAYOUT": "us-intl", "AUTHOR": "Ada Lovelace", "MONKEY_COUNT": "12"}


def test_secrets_are_redacted_by_name_and_by_value_in_every_format(home: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "function.env"
    env_file.write_text("# the function's configuration\n" + "".join(f"{name}={value}\n" for name, value in
                                                                   SECRETS.items()))
    extra = [f"--env={name}={value}" for name, value in (SECRET_URL, *LOOK_ALIKES.items())]
    markdown = tmp_path / "inventory.md"
    with serving("--env-file", str(env_file), *extra) as url:
        text = lambdash("--endpoint-url", url, "inventory")
        document = inventory_of(lambdash("--endpoint-url", url, "inventory", "--json"))
        written = lambdash("--endpoint-url", url, "inventory", "--markdown", "-o", str(markdown))
        shown = inventory_of(lambdash("--endpoint-url", url, "inventory", "--json", "--no-redact"))
    assert written.returncode == 0, written.stderr
    variables = document["sections"]["environment"]["variables"]
    for output in (text.stdout.decode(), json.dumps(document), markdown.read_text()):
        for secret in (*SECRETS.values(), "pass-in-url"):
            assert secret not in output
    for name in SECRETS:
        assert variables[name].startswith("<redacted len:")
        assert " hmac:" in variables[name]  # keyed by the user's own key, so --diff sees a change
    assert variables["DATABASE_URL"].startswith("postgres://u:<redacted len:8-15 hmac:")
    assert variables["DATABASE_URL"].endswith(">@db.internal/app")
    assert {name: variables[name] for name in LOOK_ALIKES} == LOOK_ALIKES
    assert stat.S_IMODE(markdown.stat().st_mode) == 0o644  # redacted, so shareable
    assert shown["sections"]["environment"]["variables"]["DB_PASSWD"] == "hunter2-passwd"


def test_the_text_report_has_a_heading_per_section_and_no_colour_off_a_terminal(home: Path) -> None:
    done = lambdash("--local", "inventory")

    assert done.returncode == 0
    text = done.stdout.decode()
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headings == list(SECTION_KEYS)
    assert "\x1b[" not in text
    assert "  function_name" in text


def test_markdown_names_the_target(home: Path) -> None:
    done = lambdash("--local", "inventory", "--markdown")

    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "# lambdash inventory: local"
    assert "## cpu" in lines
    assert "| field | value |" in lines


def test_output_file_is_0644_and_said_on_stderr(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "inventory.json"
    previous = os.umask(0o022)
    try:
        done = lambdash("--local", "inventory", "--json", "-o", str(saved))
    finally:
        os.umask(previous)

    assert done.returncode == 0
    assert done.stdout == b""
    size = saved.stat().st_size
    assert done.stderr.decode() == f"lambdash: wrote the inventory of local to {saved} ({size} bytes)\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    jsonschema.validate(json.loads(saved.read_text()), SCHEMA)


def test_an_unredacted_output_file_is_private(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "secrets.txt"
    saved.write_text("old")
    saved.chmod(0o644)

    done = lambdash("--local", "inventory", "--no-redact", "-o", str(saved))

    assert done.returncode == 0
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert saved.read_text().startswith("os\n")


def test_diff_of_two_saved_inventories(home: Path) -> None:
    done = lambdash("inventory", "--diff", INVENTORY_A, INVENTORY_B)

    assert done.returncode == 1
    assert done.stdout.decode() == EXPECTED_DIFF
    assert done.stderr == b""


def test_diff_of_an_inventory_with_itself(home: Path) -> None:
    done = lambdash("inventory", "--diff", INVENTORY_A, INVENTORY_A)

    assert done.returncode == 0
    assert done.stdout.decode() == f"--- {INVENTORY_A}\n+++ {INVENTORY_A}\nno differences\n"


def test_diff_with_volatile_fields(home: Path) -> None:
    done = lambdash("inventory", "--diff", INVENTORY_A, INVENTORY_B, "--include-volatile")

    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert "@@ sandbox @@" in lines
    assert "~ id: sbx-aaaa -> sbx-bbbb" in lines
    assert "~ free_bytes: 540000000 -> 530000000" in lines
    assert lines[-1] == "24 changes: 4 added, 4 removed, 16 changed"
    assert lambdash("inventory", "--diff", INVENTORY_A, INVENTORY_B, "--all").stdout == done.stdout


def test_diff_as_json(home: Path) -> None:
    done = lambdash("inventory", "--diff", INVENTORY_A, INVENTORY_B, "--json")

    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["schema"] == "lambdash.inventory-diff"
    assert document["schema_version"] == 1
    assert (document["a"], document["b"]) == (INVENTORY_A, INVENTORY_B)
    assert document["summary"] == {"added": 3, "removed": 3, "changed": 8}
    assert {"section": "runtimes", "key": "python3.version", "kind": "changed",
            "old": "Python 3.12.8", "new": "Python 3.13.1"} in document["changes"]


def test_diff_of_two_local_sandboxes_shows_no_differences(home: Path) -> None:
    done = lambdash("inventory", "--diff", "local", "local")

    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "--- local\n+++ local\nno differences\n"


def test_two_saved_local_inventories_differ_only_in_volatile_fields(home: Path, tmp_path: Path) -> None:
    # Each run starts its own local Lambda, whose embedded S3 listens on a random loopback port.
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    for saved in (first, second):
        assert lambdash("--local", "inventory", "--json", "-o", str(saved)).returncode == 0
    done = lambdash("inventory", "--diff", str(first), str(second))
    assert (done.returncode, done.stdout.decode()) == (0, f"--- {first}\n+++ {second}\nno differences\n")
    everything = lambdash("inventory", "--diff", str(first), str(second), "--include-volatile")
    assert "~ variables.AWS_ENDPOINT_URL_S3: http://127.0.0.1:" in everything.stdout.decode()


def test_diff_of_a_saved_inventory_against_the_live_function(home: Path, served: str, tmp_path: Path) -> None:
    saved = tmp_path / "before.json"
    assert lambdash("--endpoint-url", served, "inventory", "--json", "-o", str(saved)).returncode == 0

    done = lambdash("--endpoint-url", served, "inventory", "--diff", str(saved), "fn:lambdash")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.decode() == f"--- {saved}\n+++ fn:lambdash\nno differences\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: cannot read: No such file or directory"),
        ("{", "{path}: not a lambdash inventory: not JSON (line 1 column 2: Expecting property name enclosed in "
              "double quotes)"),
        ('{"schema": "lambdash.inventory", "schema_version": 9, "sections": {}}',
         "{path}: inventory schema_version 9 is not supported; this lambdash reads version 1"),
    ],
)
def test_an_unreadable_inventory_is_one_line_and_255(home: Path, tmp_path: Path, content: str | None,
                                                       message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)

    done = lambdash("inventory", "--diff", str(path), INVENTORY_B)

    assert done.returncode == 255
    assert done.stderr.decode() == "lambdash: error: " + message.format(path=path) + "\n"
    assert done.stdout == b""


def test_diff_sources_must_name_a_function(home: Path) -> None:
    done = lambdash("inventory", "--diff", "fn:", INVENTORY_B)

    assert done.returncode == 255
    assert done.stderr.decode() == "lambdash: error: 'fn:' names no function (write fn:NAME or fn:NAME@REGION)\n"


def test_several_targets_are_labelled(home: Path, served: str) -> None:
    args = ["--endpoint-url", served, "inventory", "-f", "lambdash", "--region", "us-east-1", "--region", "eu-west-1"]

    document = inventory_of(lambdash(*args, "--json"))
    text = lambdash(*args)

    assert document["schema"] == "lambdash.inventory-set"
    assert document["schema_version"] == 1
    labels = [f"lambdash (us-east-1) @ {served}", f"lambdash (eu-west-1) @ {served}"]
    assert list(document["inventories"]) == labels
    assert document["errors"] == {}
    for inventory in document["inventories"].values():
        jsonschema.validate(inventory, SCHEMA)
    assert text.returncode == 0
    headings = [line for line in text.stdout.decode().splitlines() if line.startswith("==> ")]
    assert headings == [f"==> {label} <==" for label in labels]


def test_a_failing_target_among_several_is_reported_and_255(home: Path, served: str) -> None:
    done = lambdash("--endpoint-url", served, "inventory", "-f", "lambdash", "-f", "missing", "--json")

    assert done.returncode == 255
    document = json.loads(done.stdout)
    assert list(document["inventories"]) == [f"lambdash @ {served}"]
    assert list(document["errors"]) == [f"missing @ {served}"]
    assert done.stderr.decode().startswith(f"lambdash: error: missing @ {served}: function 'missing' not found")
