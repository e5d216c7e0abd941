"""Tests for handler/inventory/: inventories of fake sandbox trees built in tmp_path.

Each test plants the files a Lambda sandbox would have (/proc, /etc, /sys/fs/cgroup,
/opt, a PATH directory of fake runtimes) under a temporary root, and checks the exact
values the inventory reports, including what it records when something is missing.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdash_handler.contract import schema_path
from lambdash_handler.inventory import INVENTORY_SCHEMA_VERSION, SECTION_KEYS, collect_inventory, redact_environment
from tests.helpers import ROOT

SCHEMA_PATH = schema_path("inventory")


OS_RELEASE = """\
NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
VERSION_ID="2023"
PRETTY_NAME="Amazon Linux 2023.6.20241212"
"""

CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.90GHz

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.90GHz
"""

MEMINFO = """\
MemTotal:        3919312 kB
MemFree:         3500000 kB
MemAvailable:    3600000 kB
"""

MOUNTS = """\
/dev/root / ext4 ro,nosuid,nodev,relatime 0 0
/dev/vdb /tmp ext4 rw,relatime 0 0
none /var/task\\040code squashfs ro,relatime 0 0
"""

RESOLV_CONF = """\
# written by the sandbox
nameserver 169.254.78.1
nameserver 10.0.0.2
search ec2.internal
"""

PROC_NET_DEV = """\
Inter-|   Receive                            |  Transmit
 face |bytes    packets errs drop fifo frame |bytes    packets errs drop fifo
    lo:    3193      29    0    0    0     0     3193      29    0    0    0
 vinternal_1:  1234  10    0    0    0     0     4321      12    0    0    0
"""

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000000000000000001 02 40 20 80 vinternal_1
"""

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
     |-- 169.254.79.130
        /32 host LOCAL
     |-- 169.254.79.255
        /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 169.254.79.130
        /32 host LOCAL
"""

LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "lambdash",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/lambdash",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/12/12/[$LATEST]abcdef",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
}


class FakeStsClient:
    """Stands in for boto3's STS client: returns a response or raises an error."""

    def __init__(self, response: Mapping[str, Any] | None = None, error: Exception | None = None) -> None:
        self.response = response
        self.error = error

    def get_caller_identity(self) -> Mapping[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


OK_STS = FakeStsClient(
    response={
        "UserId": "AROAEXAMPLE:lambdash",
        "Account": "123456789012",
        "Arn": "arn:aws:sts::123456789012:assumed-role/lambdash-role/lambdash",
        "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200},
    }
)


def write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def write_tool(directory: Path, name: str, script_body: str) -> Path:
    tool = write(directory, name, "#!/bin/sh\n" + script_body + "\n")
    tool.chmod(0o755)
    return tool


@pytest.fixture
def sandbox_root(tmp_path: Path) -> Path:
    """A tree shaped like an AL2023 Lambda sandbox, with one layer under /opt."""
    root = tmp_path / "root"
    write(root, "/etc/os-release", OS_RELEASE)
    write(root, "/proc/cpuinfo", CPUINFO)
    write(root, "/proc/meminfo", MEMINFO)
    write(root, "/proc/mounts", MOUNTS)
    write(root, "/proc/self/cgroup", "0::/\n")
    write(root, "/proc/net/dev", PROC_NET_DEV)
    write(root, "/proc/net/if_inet6", IF_INET6)
    write(root, "/proc/net/fib_trie", FIB_TRIE)
    write(root, "/sys/fs/cgroup/memory.max", "536870912\n")
    write(root, "/etc/resolv.conf", RESOLV_CONF)
    write(
        root,
        "/etc/passwd",
        # Another user first, so that the probe must match the uid, not take line one.
        f"other:x:{os.getuid() + 1000}:0::/root:/bin/bash\n"
        f"sbx_user1051:x:{os.getuid()}:{os.getgid()}::/tmp:/sbin/nologin\n",
    )
    (root / "tmp").mkdir()
    write(root, "/opt/python/requests/__init__.py", "x" * 100)
    write(root, "/opt/python/requests/api.py", "y" * 50)
    write(root, "/opt/extensions/telemetry", "z" * 10)
    return root


@pytest.fixture
def tool_dir(tmp_path: Path) -> Path:
    """A PATH directory of fake runtimes that print known version lines."""
    directory = tmp_path / "bin"
    write_tool(directory, "node", "echo v20.1.0")
    write_tool(directory, "python3", 'echo "Python 3.12.8"')
    # java prints its version on stderr, which the probe must capture too.
    write_tool(directory, "java", "echo 'openjdk version \"21.0.5\" 2024-10-15 LTS' >&2")
    write_tool(directory, "bash", "echo 'GNU bash, version 5.2.15(1)-release'\necho 'Copyright'")
    write_tool(directory, "sh", "echo 'sh: 0: Illegal option --' >&2\nexit 2")
    write(directory, "README", "not executable")
    return directory


def test_os_cpu_and_memory_are_read_from_the_tree(sandbox_root: Path) -> None:
    sections = collect_inventory(root=str(sandbox_root), environ={}, sts_client=OK_STS)["sections"]

    assert sections["os"] == {
        "name": "Amazon Linux",
        "version_id": "2023",
        "pretty_name": "Amazon Linux 2023.6.20241212",
        "kernel_release": os.uname().release,
        "arch": platform.machine(),
    }
    assert sections["cpu"]["model_name"] == "Intel(R) Xeon(R) Processor @ 2.90GHz"
    assert sections["cpu"]["processors"] == 2
    assert sections["cpu"]["os_cpu_count"] == os.cpu_count()
    assert sections["memory"] == {
        "mem_total_bytes": 3919312 * 1024,
        "cgroup_version": "v2",
        "cgroup_memory_limit_bytes": 536870912,
    }


@pytest.mark.parametrize(
    ("cgroup_files", "expected"),
    [
        pytest.param(
            {"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"},
            ("v2", "unlimited"),
            id="v2-unlimited",
        ),
        pytest.param(
            {
                "/proc/self/cgroup": "0::/sandbox/fn\n",
                "/sys/fs/cgroup/sandbox/fn/memory.max": "268435456\n",
                "/sys/fs/cgroup/memory.max": "max\n",
            },
            ("v2", 268435456),
            id="v2-own-cgroup-first",
        ),
        pytest.param(
            {
                "/proc/self/cgroup": "4:memory:/process_api/abc\n1:cpu:/\n",
                "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "1073741824\n",
            },
            ("v1", 1073741824),
            id="v1-own-cgroup",
        ),
        pytest.param(
            {"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"},
            ("v1", "unlimited"),
            id="v1-page-rounded-infinity",
        ),
    ],
)
def test_cgroup_memory_limit(tmp_path: Path, cgroup_files: dict[str, str], expected: tuple[str, int | str]) -> None:
    write(tmp_path, "/proc/meminfo", MEMINFO)
    for path, text in cgroup_files.items():
        write(tmp_path, path, text)

    memory = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)["sections"]["memory"]

    assert (memory["cgroup_version"], memory["cgroup_memory_limit_bytes"]) == expected
    assert "error" not in memory


def test_mounts_tmp_user_and_layers(sandbox_root: Path) -> None:
    sections = collect_inventory(root=str(sandbox_root), environ={}, sts_client=OK_STS)["sections"]

    assert sections["mounts"] == {
        "entries": [
            {
                "device": "/dev/root",
                "mountpoint": "/",
                "fstype": "ext4",
                "options": "ro,nosuid,nodev,relatime",
            },
            {"device": "/dev/vdb", "mountpoint": "/tmp", "fstype": "ext4", "options": "rw,relatime"},
            {
                "device": "none",
                "mountpoint": "/var/task code",
                "fstype": "squashfs",
                "options": "ro,relatime",
            },
        ]
    }
    usage = os.statvfs(sandbox_root / "tmp")
    assert sections["tmp"]["size_bytes"] == usage.f_blocks * usage.f_frsize
    assert sections["tmp"]["free_bytes"] > 0
    assert sections["user"] == {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "user_name": "sbx_user1051",
        "groups": sorted(os.getgroups()),
    }
    assert sections["layers"] == {
        "opt": {
            "extensions": {"kind": "dir", "size_bytes": 10, "file_count": 1},
            "python": {"kind": "dir", "size_bytes": 150, "file_count": 2},
        },
        "contents": {"extensions": ["telemetry"], "python": ["requests"]},
    }


def test_network_is_read_from_resolv_conf_and_proc_net(sandbox_root: Path) -> None:
    network = collect_inventory(root=str(sandbox_root), environ={}, sts_client=OK_STS)["sections"]["network"]

    assert network["nameservers"] == ["169.254.78.1", "10.0.0.2"]
    assert network["search"] == ["ec2.internal"]
    assert network["interfaces"] == ["lo", "vinternal_1"]
    assert network["ipv4_addresses"] == ["127.0.0.1", "169.254.79.130"]
    assert network["ipv6_addresses"] == {"lo": ["::1"], "vinternal_1": ["fe80::1"]}
    assert "error" not in network


def test_lambda_section_comes_from_the_environment(sandbox_root: Path) -> None:
    sections = collect_inventory(root=str(sandbox_root), environ=LAMBDA_ENVIRONMENT, sts_client=OK_STS)["sections"]

    assert sections["lambda"] == {
        "function_name": "lambdash",
        "function_version": "$LATEST",
        "memory_size_mb": "512",
        "region": "eu-west-1",
        "log_group_name": "/aws/lambda/lambdash",
        "log_stream_name": "2024/12/12/[$LATEST]abcdef",
        "initialization_type": "on-demand",
        "execution_env": "AWS_Lambda_python3.12",
    }


def test_runtimes_are_found_on_path_and_asked_for_their_version(sandbox_root: Path, tool_dir: Path) -> None:
    runtimes = collect_inventory(root=str(sandbox_root), environ={"PATH": str(tool_dir)}, sts_client=OK_STS)[
        "sections"
    ]["runtimes"]

    def found(name: str, version: str) -> dict[str, Any]:
        path = str(tool_dir / name)
        return {"path": path, "realpath": os.path.realpath(path), "version": version}

    assert runtimes == {
        "python3": found("python3", "Python 3.12.8"),
        "node": found("node", "v20.1.0"),
        "perl": {"path": None},
        "ruby": {"path": None},
        "java": found("java", 'openjdk version "21.0.5" 2024-10-15 LTS'),
        "bash": found("bash", "GNU bash, version 5.2.15(1)-release"),
        "sh": {
            "path": str(tool_dir / "sh"),
            "realpath": os.path.realpath(tool_dir / "sh"),
            "version": None,
            "error": "exit status 2: sh: 0: Illegal option --",
        },
    }


def test_a_hanging_runtime_is_stopped_at_the_timeout(sandbox_root: Path, tmp_path: Path) -> None:
    slow_dir = tmp_path / "slow"
    # The child sleep must die too, or it would hold the output pipe open.
    sleep = shutil.which("sleep")
    assert sleep is not None
    write_tool(slow_dir, "ruby", f"{sleep} 30 &\n{sleep} 30")

    started = time.monotonic()
    ruby = collect_inventory(
        root=str(sandbox_root),
        environ={"PATH": str(slow_dir)},
        sts_client=OK_STS,
        timeout_per_tool=0.5,
    )["sections"]["runtimes"]["ruby"]

    assert ruby["version"] is None
    assert ruby["error"] == "timed out after 0.5s"
    assert time.monotonic() - started < 5


def test_executables_are_listed_first_wins_by_path_order(tmp_path: Path, tool_dir: Path) -> None:
    later_dir = tmp_path / "later"
    write_tool(later_dir, "node", "echo v18.0.0")  # shadowed by tool_dir's node
    write_tool(later_dir, "jq", "echo jq-1.7")
    (later_dir / "subdir").mkdir()
    missing_dir = tmp_path / "missing"
    path = os.pathsep.join([str(tool_dir), str(missing_dir), str(later_dir)])

    sections = collect_inventory(root=str(tmp_path), environ={"PATH": path}, sts_client=OK_STS)["sections"]

    assert sections["executables"] == {
        "path_dirs": [str(tool_dir), str(missing_dir), str(later_dir)],
        "missing_dirs": [str(missing_dir)],
        "count": 6,
        "by_dir": {
            str(tool_dir): ["bash", "java", "node", "python3", "sh"],
            str(later_dir): ["jq"],
        },
    }
    assert sections["runtimes"]["node"]["version"] == "v20.1.0"


def test_python_packages_are_those_of_this_interpreter(tmp_path: Path) -> None:
    packages = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)["sections"]["python_packages"]

    assert packages["python_version"] == platform.python_version()
    assert packages["packages"]["pytest"] == importlib.metadata.version("pytest")
    assert packages["count"] == len(packages["packages"])
    names = list(packages["packages"])
    assert names == sorted(names, key=str.lower)


def test_an_empty_tree_is_recorded_as_missing_without_raising(tmp_path: Path) -> None:
    sections = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)["sections"]

    assert list(sections) == list(SECTION_KEYS)
    assert sections["os"]["error"] == "missing: /etc/os-release"
    assert sections["os"]["name"] is None
    assert sections["cpu"]["error"] == "missing: /proc/cpuinfo"
    assert sections["cpu"]["model_name"] is None
    assert sections["memory"]["error"] == (
        "missing: /proc/meminfo; missing: /sys/fs/cgroup/memory.max and /sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    assert sections["tmp"] == {"size_bytes": None, "free_bytes": None, "error": "missing: /tmp"}
    assert sections["mounts"] == {"entries": [], "error": "missing: /proc/mounts"}
    assert sections["user"]["user_name"] == "unknown"
    assert sections["user"]["error"] == "missing: /etc/passwd"
    assert sections["layers"] == {"opt": {}, "contents": {}, "error": "missing: /opt"}
    assert sections["network"]["error"] == "missing: /etc/resolv.conf; missing: /proc/net/dev"
    assert sections["executables"]["error"] == "PATH is not set"
    assert sections["runtimes"] == {name: {"path": None} for name in sections["runtimes"]}
    assert set(sections["runtimes"]) == {"python3", "node", "perl", "ruby", "java", "bash", "sh"}


def test_an_unreadable_file_is_recorded_as_unreadable(sandbox_root: Path) -> None:
    # A directory where a file should be fails to read even for root, unlike chmod 000.
    (sandbox_root / "proc" / "cpuinfo").unlink()
    (sandbox_root / "proc" / "cpuinfo").mkdir()

    cpu = collect_inventory(root=str(sandbox_root), environ={}, sts_client=OK_STS)["sections"]["cpu"]

    assert cpu["error"] == "unreadable: /proc/cpuinfo (Is a directory)"
    assert cpu["processors"] is None


def test_os_release_falls_back_to_usr_lib(tmp_path: Path) -> None:
    write(tmp_path, "/usr/lib/os-release", 'NAME="Amazon Linux"\nVERSION_ID="2023"\n')

    os_section = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)["sections"]["os"]

    assert (os_section["name"], os_section["version_id"], os_section["pretty_name"]) == (
        "Amazon Linux",
        "2023",
        None,
    )
    assert "error" not in os_section


PLANTED_SECRETS = {
    "MY_API_KEY": "sk-live-123",
    "DB_PASSWORD": "hunter2",
    "GITHUB_TOKEN": "ghp_abc",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2lu",
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
    "client_secret": "lowercase-too",
}
PLAIN_VARIABLES = {"HOME": "/tmp", "LANG": "C.UTF-8", "AWS_REGION": "eu-west-1", "PATH": ""}


def test_secrets_are_redacted_and_other_variables_kept(tmp_path: Path) -> None:
    environment = collect_inventory(
        root=str(tmp_path), environ={**PLANTED_SECRETS, **PLAIN_VARIABLES}, sts_client=OK_STS
    )["sections"]["environment"]

    assert environment["redacted"] is True
    assert environment["variables"] == {
        **{name: f"<redacted len:{'<8' if len(value) < 8 else '8-15'}>" for name, value in PLANTED_SECRETS.items()},
        **PLAIN_VARIABLES,
    }
    assert list(environment["variables"]) == sorted(environment["variables"])
    serialized = json.dumps(environment)
    assert not any(secret in serialized for secret in PLANTED_SECRETS.values())


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    environment = collect_inventory(
        root=str(tmp_path), environ={"DB_PASSWORD": "hunter2"}, redact=False, sts_client=OK_STS
    )["sections"]["environment"]

    assert environment == {"redacted": False, "variables": {"DB_PASSWORD": "hunter2"}}


def test_redact_environment_on_its_own() -> None:
    assert redact_environment({"KEYBOARD_LAYOUT": "us", "TZ": "UTC", "aws_session_token": "t"}) == {
        "KEYBOARD_LAYOUT": "us",
        "TZ": "UTC",
        "aws_session_token": "<redacted len:<8>",
    }


def test_identity_from_sts(tmp_path: Path) -> None:
    identity = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)["sections"]["identity"]

    assert identity == {
        "status": "ok",
        "account": "123456789012",
        "arn": "arn:aws:sts::123456789012:assumed-role/lambdash-role/lambdash",
        "user_id": "AROAEXAMPLE:lambdash",
        "request_id": "req-1",
    }


def test_identity_denied_by_sts(tmp_path: Path) -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not authorized to GetCallerIdentity"}},
        "GetCallerIdentity",
    )

    identity = collect_inventory(root=str(tmp_path), environ={}, sts_client=FakeStsClient(error=denied))["sections"][
        "identity"
    ]

    assert identity == {"status": "denied", "code": "AccessDenied"}


def test_identity_other_errors_are_reported(tmp_path: Path) -> None:
    expired = ClientError(
        {"Error": {"Code": "ExpiredToken", "Message": "The security token has expired"}},
        "GetCallerIdentity",
    )

    identity = collect_inventory(root=str(tmp_path), environ={}, sts_client=FakeStsClient(error=expired))["sections"][
        "identity"
    ]

    assert identity == {
        "status": "error",
        "message": "An error occurred (ExpiredToken) when calling the GetCallerIdentity "
        "operation: The security token has expired",
    }


def test_sandbox_facts_are_copied(tmp_path: Path) -> None:
    facts = {"id": "sbx-1", "cold": True, "uptime_seconds": 1.5, "invocations": 1}

    inventory = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS, sandbox=facts)

    assert inventory["sections"]["sandbox"] == facts


# --- the documented schema --------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_errors(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Check ``value`` against the JSON Schema keywords inventory_schema.json uses.

    Those are type, const, enum, required, properties, additionalProperties, items and
    minimum; annotations ($schema, title, description) are ignored.
    """
    known = {"type", "const", "enum", "required", "properties", "additionalProperties"}
    known |= {"items", "minimum", "$schema", "title", "description"}
    unknown = set(schema) - known
    assert not unknown, f"{where}: the test validator does not support {sorted(unknown)}"
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        is_bool = isinstance(value, bool)
        if not any(isinstance(value, _JSON_TYPES[name]) and not (is_bool and name != "boolean") for name in names):
            return [f"{where}: {value!r} is not of type {names}"]
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        errors.append(f"{where}: {value!r} is below {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{index}]")
    return errors


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def test_the_schema_requires_every_section_the_probes_produce() -> None:
    schema = load_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": INVENTORY_SCHEMA_VERSION}
    sections = schema["properties"]["sections"]
    assert sections["required"] == list(SECTION_KEYS)
    assert all(sections["properties"][key]["type"] == "object" for key in SECTION_KEYS)


def test_the_real_inventory_of_this_machine_validates_against_the_schema() -> None:
    inventory = collect_inventory(sts_client=OK_STS, sandbox={"id": "local", "cold": True})

    assert schema_errors(json.loads(json.dumps(inventory)), load_schema()) == []


def test_the_inventory_of_an_empty_tree_validates_against_the_schema(tmp_path: Path) -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetCallerIdentity")
    inventory = collect_inventory(root=str(tmp_path), environ={}, sts_client=FakeStsClient(error=denied))

    assert schema_errors(inventory, load_schema()) == []


def test_the_schema_check_catches_a_broken_inventory(tmp_path: Path) -> None:
    inventory = collect_inventory(root=str(tmp_path), environ={}, sts_client=OK_STS)
    del inventory["sections"]["cpu"]
    inventory["sections"]["tmp"]["size_bytes"] = "big"

    assert schema_errors(inventory, load_schema()) == [
        "$.sections: missing 'cpu'",
        "$.sections.tmp.size_bytes: 'big' is not of type ['integer', 'null']",
    ]


@pytest.mark.parametrize("name", ["inventory_a.json", "inventory_b.json"])
def test_the_saved_test_inventories_validate_against_the_schema(name: str) -> None:
    saved = json.loads((ROOT / "tests" / "data" / name).read_text())

    assert schema_errors(saved, load_schema()) == []
