"""Tests for lambdash/reports/inventory.py: loading, reporting and diffing saved inventories.

tests/data/inventory_a.json and inventory_b.json are the same function before and
after a move from Python 3.12.8 to 3.13.1: newer boto3, one package added, one
environment variable removed, and a different sandbox (id, trace id, log stream,
addresses), which a default diff must not report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lambdash.reports import inventory
from lambdash.reports.inventory import (
    VOLATILE_FIELDS,
    Change,
    diff_inventories,
    diff_to_json,
    load_inventory_file,
    render_diff,
    render_markdown,
    render_text,
)
from lambdash_handler import inventory as handler_inventory
from tests.helpers import ROOT

DATA_DIR = ROOT / "tests" / "data"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

EXPECTED_CHANGES = [
    Change(
        "environment",
        "variables.AWS_EXECUTION_ENV",
        "changed",
        "AWS_Lambda_python3.12",
        "AWS_Lambda_python3.13",
    ),
    Change("environment", "variables.FEATURE_FLAG", "removed", "on", None),
    Change("executables", "by_dir./var/lang/bin", "removed", "pip3.12", None),
    Change("executables", "by_dir./var/lang/bin", "removed", "python3.12", None),
    Change("executables", "by_dir./var/lang/bin", "added", None, "pip3.13"),
    Change("executables", "by_dir./var/lang/bin", "added", None, "python3.13"),
    Change("lambda", "execution_env", "changed", "AWS_Lambda_python3.12", "AWS_Lambda_python3.13"),
    Change("python_packages", "count", "changed", 3, 4),
    Change("python_packages", "packages.boto3", "changed", "1.34.145", "1.35.90"),
    Change("python_packages", "packages.botocore", "changed", "1.34.145", "1.35.90"),
    Change("python_packages", "packages.requests", "added", None, "2.32.3"),
    Change("python_packages", "python_version", "changed", "3.12.8", "3.13.1"),
    Change(
        "runtimes",
        "python3.realpath",
        "changed",
        "/var/lang/bin/python3.12",
        "/var/lang/bin/python3.13",
    ),
    Change("runtimes", "python3.version", "changed", "Python 3.12.8", "Python 3.13.1"),
]


class NoNetworkStsClient:
    """An STS client for probes run in tests: the call fails, as it would offline."""

    def get_caller_identity(self) -> dict[str, Any]:
        raise RuntimeError("no network in unit tests")


@pytest.fixture
def inventory_a() -> dict[str, Any]:
    return load_inventory_file(str(DATA_DIR / "inventory_a.json"))


@pytest.fixture
def inventory_b() -> dict[str, Any]:
    return load_inventory_file(str(DATA_DIR / "inventory_b.json"))


def test_client_and_handler_agree_on_the_schema() -> None:
    assert inventory.INVENTORY_SCHEMA == handler_inventory.INVENTORY_SCHEMA
    assert inventory.INVENTORY_SCHEMA_VERSION == handler_inventory.INVENTORY_SCHEMA_VERSION


def test_volatile_fields_name_real_sections() -> None:
    assert {section for section, _ in VOLATILE_FIELDS} <= set(handler_inventory.SECTION_KEYS)


# --- diffs -----------------------------------------------------------------------------


def test_diff_reports_the_known_differences_and_skips_volatile_fields(
    inventory_a: dict[str, Any], inventory_b: dict[str, Any]
) -> None:
    assert diff_inventories(inventory_a, inventory_b) == EXPECTED_CHANGES


def test_diff_with_volatile_fields_shows_the_other_sandbox(
    inventory_a: dict[str, Any], inventory_b: dict[str, Any]
) -> None:
    changes = diff_inventories(inventory_a, inventory_b, include_volatile=True)

    volatile = [change for change in changes if change not in EXPECTED_CHANGES]
    assert volatile == [
        Change(
            "environment",
            "variables.AWS_LAMBDA_LOG_STREAM_NAME",
            "changed",
            "2024/12/12/[$LATEST]0a1b2c3d",
            "2024/12/13/[$LATEST]9f8e7d6c",
        ),
        Change(
            "environment",
            "variables._X_AMZN_TRACE_ID",
            "changed",
            "Root=1-6759a1b2-aaaa",
            "Root=1-6759a1b2-bbbb",
        ),
        Change("identity", "request_id", "changed", "11111111-aaaa", "22222222-bbbb"),
        Change(
            "lambda",
            "log_stream_name",
            "changed",
            "2024/12/12/[$LATEST]0a1b2c3d",
            "2024/12/13/[$LATEST]9f8e7d6c",
        ),
        Change("network", "hostname", "changed", "169.254.10.1", "169.254.20.2"),
        Change("network", "ipv4_addresses", "removed", "169.254.10.1", None),
        Change("network", "ipv4_addresses", "added", None, "169.254.20.2"),
        Change("sandbox", "id", "changed", "sbx-aaaa", "sbx-bbbb"),
        Change("sandbox", "uptime_seconds", "changed", 0.4, 0.3),
        Change("tmp", "free_bytes", "changed", 540000000, 530000000),
    ]
    assert [change for change in changes if change in EXPECTED_CHANGES] == EXPECTED_CHANGES


def test_an_inventory_has_no_differences_with_itself(inventory_a: dict[str, Any]) -> None:
    assert diff_inventories(inventory_a, inventory_a, include_volatile=True) == []


@pytest.mark.parametrize(("old", "new", "volatile"), [
    ("http://127.0.0.1:40709", "http://127.0.0.1:60529", True),
    ("http://localhost:4566/s3", "http://localhost:4567/s3", True),
    ("http://127.0.0.1:40709", "https://s3.eu-west-1.amazonaws.com", False),
    ("http://127.0.0.1:40709/a", "http://127.0.0.1:60529/b", False),
    ("http://10.0.0.5:40709", "http://10.0.0.5:60529", False),
])
def test_only_the_port_of_a_loopback_endpoint_is_volatile(
    inventory_a: dict[str, Any], old: str, new: str, volatile: bool
) -> None:
    inventory_b = json.loads(json.dumps(inventory_a))
    inventory_a = json.loads(json.dumps(inventory_a))
    inventory_a["sections"]["environment"]["variables"]["AWS_ENDPOINT_URL_S3"] = old
    inventory_b["sections"]["environment"]["variables"]["AWS_ENDPOINT_URL_S3"] = new
    change = Change("environment", "variables.AWS_ENDPOINT_URL_S3", "changed", old, new)
    assert diff_inventories(inventory_a, inventory_b) == ([] if volatile else [change])
    assert diff_inventories(inventory_a, inventory_b, include_volatile=True) == [change]


def test_list_items_are_compared_as_sets_including_objects(inventory_a: dict[str, Any]) -> None:
    inventory_b = json.loads(json.dumps(inventory_a))
    mounts = inventory_b["sections"]["mounts"]["entries"]
    mounts.reverse()  # a new order alone is no change
    efs = {"device": "fs-1:/", "mountpoint": "/mnt/efs", "fstype": "nfs4", "options": "rw"}
    mounts.append(efs)
    inventory_b["sections"]["network"]["nameservers"] = []

    assert diff_inventories(inventory_a, inventory_b) == [
        Change("mounts", "entries", "added", None, efs),
        Change("network", "nameservers", "removed", "169.254.78.1", None),
    ]


def test_a_section_missing_on_one_side_shows_all_its_fields(inventory_a: dict[str, Any]) -> None:
    inventory_b = json.loads(json.dumps(inventory_a))
    del inventory_b["sections"]["tmp"]
    inventory_b["sections"]["os"] = {"error": "missing: /etc/os-release"}

    changes = diff_inventories(inventory_a, inventory_b)

    assert Change("tmp", "size_bytes", "removed", 551550976, None) in changes
    assert Change("os", "error", "added", None, "missing: /etc/os-release") in changes
    assert Change("os", "name", "removed", "Amazon Linux", None) in changes
    assert all(change.key != "free_bytes" for change in changes)  # volatile, even when removed


def test_render_diff_groups_by_section_with_diff_marks(
    inventory_a: dict[str, Any], inventory_b: dict[str, Any]
) -> None:
    text = render_diff(
        diff_inventories(inventory_a, inventory_b),
        color=False,
        label_a="python3.12.json",
        label_b="python3.13.json",
    )
    lines = text.splitlines()

    assert lines[:2] == ["--- python3.12.json", "+++ python3.13.json"]
    assert lines[lines.index("@@ runtimes @@") + 1 :] == [
        "~ python3.realpath: /var/lang/bin/python3.12 -> /var/lang/bin/python3.13",
        "~ python3.version: Python 3.12.8 -> Python 3.13.1",
        "14 changes: 3 added, 3 removed, 8 changed",
    ]
    assert "~ python_version: 3.12.8 -> 3.13.1" in lines
    assert "~ packages.boto3: 1.34.145 -> 1.35.90" in lines
    assert "+ packages.requests: 2.32.3" in lines
    assert "- variables.FEATURE_FLAG: on" in lines
    assert "- by_dir./var/lang/bin: pip3.12" in lines
    assert "+ by_dir./var/lang/bin: pip3.13" in lines
    assert [line for line in lines if line.startswith("@@")] == [
        "@@ environment @@",
        "@@ executables @@",
        "@@ lambda @@",
        "@@ python_packages @@",
        "@@ runtimes @@",
    ]
    assert "sandbox" not in text
    assert "\x1b[" not in text


def test_render_diff_colours_only_when_asked(inventory_a: dict[str, Any], inventory_b: dict[str, Any]) -> None:
    changes = diff_inventories(inventory_a, inventory_b)

    coloured = render_diff(changes, color=True, label_a="a", label_b="b")

    assert "\x1b[32m+ packages.requests: 2.32.3\x1b[0m" in coloured
    assert "\x1b[31m- variables.FEATURE_FLAG: on\x1b[0m" in coloured
    assert ANSI_ESCAPE.sub("", coloured) == render_diff(changes, color=False, label_a="a", label_b="b")


def test_render_diff_of_identical_inventories() -> None:
    assert render_diff([], color=False, label_a="a", label_b="b") == ("--- a\n+++ b\nno differences\n")


def test_render_diff_shows_non_string_values_as_json() -> None:
    changes = [
        Change("memory", "cgroup_memory_limit_bytes", "changed", None, 536870912),
        Change("environment", "variables.EMPTY", "added", None, ""),
    ]

    lines = render_diff(changes, color=False, label_a="a", label_b="b").splitlines()

    assert "~ cgroup_memory_limit_bytes: null -> 536870912" in lines
    assert '+ variables.EMPTY: ""' in lines


def test_diff_to_json(inventory_a: dict[str, Any], inventory_b: dict[str, Any]) -> None:
    document = diff_to_json(diff_inventories(inventory_a, inventory_b))

    assert document["schema"] == "lambdash.inventory-diff"
    assert document["summary"] == {"added": 3, "removed": 3, "changed": 8}
    assert document["changes"][1] == {
        "section": "environment",
        "key": "variables.FEATURE_FLAG",
        "kind": "removed",
        "old": "on",
        "new": None,
    }
    assert json.loads(json.dumps(document)) == document


# --- reports -------------------------------------------------------------------------


def section_lines(report: str, section: str) -> list[str]:
    """The lines of one section of a text report, from its heading to the blank line."""
    lines = report.splitlines()
    start = lines.index(section)
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def test_render_text_aligns_each_table(inventory_a: dict[str, Any]) -> None:
    report = render_text(inventory_a, color=False)

    assert section_lines(report, "os") == [
        "os",
        "  name            Amazon Linux",
        "  version_id      2023",
        "  pretty_name     Amazon Linux 2023.6.20241212",
        "  kernel_release  5.10.227-239.884.amzn2.x86_64",
        "  arch            x86_64",
    ]
    assert section_lines(report, "limits") == [
        "limits",
        "  name    soft     hard",
        "  nofile  1024     1024",
        "  nproc   1024     1024",
        "  stack   8388608  unlimited",
    ]
    assert section_lines(report, "python_packages") == [
        "python_packages",
        "  python_version  3.12.8",
        "  count           3",
        "  packages",
        "    awslambdaric  3.0.0",
        "    boto3         1.34.145",
        "    botocore      1.34.145",
    ]
    assert "  mem_total_bytes            4013375488 (3.7 GiB)" in report
    assert "    /var/lang/bin  pip3, pip3.12, python3, python3.12" in report
    assert "  search          (none)" in report
    assert "\x1b[" not in report


def test_render_text_wraps_long_lists_under_their_column(inventory_a: dict[str, Any]) -> None:
    names = [f"tool-{index:03d}" for index in range(40)]
    inventory_a["sections"]["executables"]["by_dir"] = {"/usr/bin": names}

    lines = section_lines(render_text(inventory_a, color=False), "executables")

    by_dir = lines.index("  by_dir")
    wrapped = lines[by_dir + 1 :]
    assert len(wrapped) > 1
    assert wrapped[0].startswith("    /usr/bin  tool-000, tool-001,")
    assert all(line.startswith(" " * 14 + "tool-") for line in wrapped[1:])
    assert all(len(line) <= inventory.REPORT_WIDTH for line in wrapped)
    assert ", ".join(names) == " ".join(line.strip() for line in wrapped).removeprefix("/usr/bin  ")


def test_render_text_colours_only_when_asked(inventory_a: dict[str, Any]) -> None:
    coloured = render_text(inventory_a, color=True)

    assert "\x1b[1m\x1b[36mos\x1b[0m" in coloured
    assert ANSI_ESCAPE.sub("", coloured) == render_text(inventory_a, color=False)


def test_render_markdown_makes_headings_and_tables(inventory_a: dict[str, Any]) -> None:
    markdown = render_markdown(inventory_a)
    lines = markdown.splitlines()

    assert lines[0] == "# lambdash inventory"
    os_heading = lines.index("## os")
    assert lines[os_heading + 1 : os_heading + 5] == [
        "",
        "| field | value |",
        "| --- | --- |",
        "| name | Amazon Linux |",
    ]
    runtimes = lines.index("## runtimes")
    assert lines[runtimes + 2 : runtimes + 5] == [
        "| name | path | realpath | version |",
        "| --- | --- | --- | --- |",
        "| python3 | /var/lang/bin/python3 | /var/lang/bin/python3.12 | Python 3.12.8 |",
    ]
    assert "### python_packages.packages" in lines
    assert "| boto3 | 1.34.145 |" in lines
    # "<redacted>" would read as an HTML tag and disappear without escaping.
    assert "| AWS_SESSION_TOKEN | \\<redacted\\> |" in lines


def test_reports_cover_every_section(inventory_a: dict[str, Any]) -> None:
    text_headings = [line for line in render_text(inventory_a, color=False).splitlines() if line[:1].isalpha()]
    markdown_headings = [
        line.removeprefix("## ") for line in render_markdown(inventory_a).splitlines() if line.startswith("## ")
    ]

    assert text_headings == list(handler_inventory.SECTION_KEYS)
    assert markdown_headings == list(handler_inventory.SECTION_KEYS)


def test_the_real_inventory_of_this_machine_renders() -> None:
    real = handler_inventory.collect_inventory(sts_client=NoNetworkStsClient())

    assert render_text(real, color=False).startswith("os\n")
    assert render_markdown(real).startswith("# lambdash inventory\n")
    assert diff_inventories(real, real) == []


# --- loading -------------------------------------------------------------------------


def test_load_inventory_file_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "package.json"
    path.write_text('{"name": "left-pad", "version": "1.3.0"}')

    expected = (
        f'{path}: not a lambdash inventory: expected "schema": "lambdash.inventory" '
        "(make one with: lambdash inventory --json)"
    )
    with pytest.raises(ValueError, match=re.escape(expected)) as raised:
        load_inventory_file(str(path))

    assert str(raised.value) == expected  # the whole message, on one line


@pytest.mark.parametrize(
    ("content", "expected_message"),
    [
        pytest.param(
            "not json at all",
            "not a lambdash inventory: not JSON (line 1 column 1: Expecting value)",
            id="not-json",
        ),
        pytest.param("[1, 2]", 'not a lambdash inventory: expected "schema"', id="array"),
        pytest.param(
            '{"schema": "lambdash.inventory", "schema_version": 2, "sections": {}}',
            "inventory schema_version 2 is not supported; this lambdash reads version 1",
            id="newer-version",
        ),
        pytest.param(
            '{"schema": "lambdash.inventory", "sections": {}}',
            "inventory schema_version null is not supported",
            id="no-version",
        ),
        pytest.param(
            '{"schema": "lambdash.inventory", "schema_version": 1, "sections": {"os": 1}}',
            'not a lambdash inventory: "sections" must map names to objects',
            id="bad-sections",
        ),
    ],
)
def test_load_inventory_file_messages(tmp_path: Path, content: str, expected_message: str) -> None:
    path = tmp_path / "inventory.json"
    path.write_text(content)

    with pytest.raises(ValueError, match=re.escape(f"{path}: {expected_message}")):
        load_inventory_file(str(path))


def test_load_inventory_file_reports_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    with pytest.raises(ValueError, match=re.escape(f"{path}: cannot read: No such file")):
        load_inventory_file(str(path))


def test_a_collected_inventory_survives_a_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "saved.json"
    collected = handler_inventory.collect_inventory(root=str(tmp_path), environ={}, sts_client=NoNetworkStsClient())
    path.write_text(json.dumps(collected))

    assert load_inventory_file(str(path)) == collected
