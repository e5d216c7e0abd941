"""Environment-inventory probes: describe the Lambda sandbox this code runs in.

The AL2023-based Lambda runtimes have no ``ps``, ``which``, ``ip`` or ``free``, so
every probe here reads files and PATH directly from Python. A probe never raises
because something is absent: a missing file, an unreadable file or a missing tool is
written into the inventory (``"error": "missing: /etc/os-release"``,
``{"path": null}``), so an inventory of a stripped-down runtime is still complete.

This module is deployed inside the handler zip. It uses only the standard library,
and boto3 only lazily (for the STS identity probe), so it imports nothing from the
``lambdash`` client package. The shape of its output is documented in
``inventory_schema.json`` next to it.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import ipaddress
import json
import os
import platform
import re
import resource
import signal
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..limits import ENV_FUNCTION_NAME
from ..redaction import redact_value

INVENTORY_SCHEMA = "lambdash.inventory"
INVENTORY_SCHEMA_VERSION = 1
# The sections of every inventory, in the order reports show them.
SECTION_KEYS = (
    "os",
    "cpu",
    "memory",
    "tmp",
    "mounts",
    "limits",
    "user",
    "lambda",
    "runtimes",
    "executables",
    "python_packages",
    "layers",
    "environment",
    "network",
    "identity",
    "sandbox",
)


# Runtimes worth a version line, each with the flag that prints it. `java` only
# gained `--version` in Java 9; `-version` works on every JDK.
RUNTIME_VERSION_FLAGS: dict[str, str] = {
    "python3": "--version",
    "node": "--version",
    "perl": "--version",
    "ruby": "--version",
    "java": "-version",
    "bash": "--version",
    "sh": "--version",
}

OS_RELEASE_FIELDS = ("NAME", "VERSION_ID", "PRETTY_NAME")

LAMBDA_ENVIRONMENT_FIELDS: dict[str, str] = {
    "function_name": ENV_FUNCTION_NAME,
    "function_version": "AWS_LAMBDA_FUNCTION_VERSION",
    "memory_size_mb": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "region": "AWS_REGION",
    "log_group_name": "AWS_LAMBDA_LOG_GROUP_NAME",
    "log_stream_name": "AWS_LAMBDA_LOG_STREAM_NAME",
    "initialization_type": "AWS_LAMBDA_INITIALIZATION_TYPE",
    "execution_env": "AWS_EXECUTION_ENV",
}

RESOURCE_LIMIT_NAMES = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_STACK",
)

# STS error codes that mean "the role may not call this", as opposed to a broken call.
DENIED_ERROR_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"})

# Walking /opt to size layers is cheap for typical layers but not for a 250 MB
# layer of small files; past this many entries in total, sizes are left unmeasured
# (null) so the inventory stays well under a second.
LAYER_SIZE_ENTRY_BUDGET = 20_000
# A layer directory with thousands of children would bloat the inventory; list only
# this many names and say how many were left out.
LAYER_CONTENTS_LIMIT = 200
# cgroup v1 reports "no limit" as a page-rounded 2**63 - 1.
CGROUP_UNLIMITED_THRESHOLD = 2**62
VERSION_LINE_MAX_CHARS = 200


class SourceUnavailable(Exception):
    """A file a probe needs is missing or unreadable; the message is what gets recorded."""


def collect_inventory(
    *,
    root: str = "/",
    environ: Mapping[str, str] | None = None,
    redact: bool = True,
    redact_key: bytes | None = None,
    sts_client: Any = None,
    sandbox: Mapping[str, Any] | None = None,
    timeout_per_tool: float = 5.0,
) -> dict[str, Any]:
    """Describe this sandbox as a JSON-ready inventory.

    ``root`` is prefixed to every absolute file path read (/proc, /etc, /sys, /tmp,
    /opt), so tests can point the probes at a fake tree. ``environ`` defaults to
    ``os.environ``; PATH, the Lambda fields and the environment section come from it.
    PATH directories are used as given, not under ``root``: they name programs that
    are run, and the caller already controls them through ``environ``.

    The slow parts (one subprocess per runtime version, the STS call) run
    concurrently, each bounded by ``timeout_per_tool`` seconds.
    """
    environment = os.environ if environ is None else environ
    executable_dirs = find_executables(environment.get("PATH"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(RUNTIME_VERSION_FLAGS) + 1) as pool:
        identity_future = pool.submit(probe_identity, sts_client, timeout_per_tool)
        runtime_futures = {
            name: pool.submit(probe_runtime, name, executable_dirs.get(name), environment, timeout_per_tool)
            for name in RUNTIME_VERSION_FLAGS
        }
        # The file probes run here, while the subprocesses and STS are in flight.
        sections: dict[str, dict[str, Any]] = {
            "os": _guarded(probe_os, root),
            "cpu": _guarded(probe_cpu, root),
            "memory": _guarded(probe_memory, root),
            "tmp": _guarded(probe_tmp, root),
            "mounts": _guarded(probe_mounts, root),
            "limits": _guarded(probe_limits),
            "user": _guarded(probe_user, root),
            "lambda": _guarded(probe_lambda, environment),
            "executables": _guarded(describe_executables, environment.get("PATH"), executable_dirs),
            "python_packages": _guarded(probe_python_packages),
            "layers": _guarded(probe_layers, root),
            "environment": describe_environment(environment, redact=redact, key=redact_key),
            "network": _guarded(probe_network, root),
            "sandbox": _json_ready(dict(sandbox or {})),
        }
        sections["runtimes"] = {name: _guarded(future.result) for name, future in runtime_futures.items()}
        sections["identity"] = _guarded(identity_future.result)
    return {
        "schema": INVENTORY_SCHEMA,
        "schema_version": INVENTORY_SCHEMA_VERSION,
        "sections": {key: sections[key] for key in SECTION_KEYS},
    }


def describe_environment(environ: Mapping[str, str], *, redact: bool, key: bytes | None = None) -> dict[str, Any]:
    """The environment section: every variable, sorted, secrets redacted unless told."""
    variables = redact_environment(environ, key) if redact else dict(sorted(environ.items()))
    return {"redacted": redact, "variables": variables}


def redact_environment(environ: Mapping[str, str], key: bytes | None = None) -> dict[str, str]:
    """The variables sorted by name, with secrets redacted by name and by value (see ``redaction``)."""
    return {name: redact_value(name, value, key) for name, value in sorted(environ.items())}


# --- reading the tree --------------------------------------------------------------


def path_under_root(root: str, path: str) -> str:
    """The real location of absolute ``path`` inside the tree mounted at ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(root: str, path: str) -> str:
    """Read a text file of the tree, or raise SourceUnavailable saying why not."""
    try:
        with open(path_under_root(root, path), encoding="utf-8", errors="replace") as file:
            return file.read()
    except FileNotFoundError:
        raise SourceUnavailable(f"missing: {path}") from None
    except OSError as exc:
        raise SourceUnavailable(f"unreadable: {path} ({exc.strerror or exc})") from None


def _with_errors(section: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    if errors:
        section["error"] = "; ".join(errors)
    return section


def _guarded(probe: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    # One buggy or surprised probe must not cost the whole inventory: this code runs
    # in sandboxes we cannot inspect otherwise, so the failure is recorded instead.
    try:
        return probe(*args)
    except Exception as exc:
        return {"error": f"probe failed: {type(exc).__name__}: {exc}"}


def _json_ready(value: dict[str, Any]) -> dict[str, Any]:
    # The sandbox facts come from the caller; make sure the inventory stays JSON.
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


# --- sections from files -----------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5) KEY=value lines, unquoting values."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, separator, value = line.strip().partition("=")
        if not separator or name.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[name] = value
    return fields


def probe_os(root: str) -> dict[str, Any]:
    """The distribution (os-release), kernel release and machine architecture."""
    errors: list[str] = []
    release: dict[str, str] = {}
    try:
        release = parse_os_release(read_text(root, "/etc/os-release"))
    except SourceUnavailable as missing_etc:
        # os-release(5): /usr/lib/os-release is the fallback when /etc has none.
        try:
            release = parse_os_release(read_text(root, "/usr/lib/os-release"))
        except SourceUnavailable:
            errors.append(str(missing_etc))
    section: dict[str, Any] = {field.lower(): release.get(field) for field in OS_RELEASE_FIELDS}
    section["kernel_release"] = os.uname().release
    section["arch"] = platform.machine()
    return _with_errors(section, errors)


def probe_cpu(root: str) -> dict[str, Any]:
    """The CPU model and how many CPUs the kernel and this process see."""
    errors: list[str] = []
    model_name: str | None = None
    processors: int | None = None
    try:
        cpuinfo = read_text(root, "/proc/cpuinfo")
    except SourceUnavailable as exc:
        errors.append(str(exc))
    else:
        processors = 0
        fields: dict[str, str] = {}
        for line in cpuinfo.splitlines():
            name, separator, value = line.partition(":")
            name = name.strip()
            if not separator:
                continue
            if name == "processor":
                processors += 1
            fields.setdefault(name, value.strip())
        # x86 says "model name"; arm64 (Graviton) has no model name, only the
        # implementer/part codes, and some kernels say "Hardware" or "cpu model".
        model_name = (
            fields.get("model name") or fields.get("cpu model") or fields.get("Hardware") or _arm_cpu_name(fields)
        )
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return _with_errors(
        {
            "model_name": model_name,
            "processors": processors,
            "os_cpu_count": os.cpu_count(),
            "usable_cpus": len(affinity) if affinity is not None else None,
        },
        errors,
    )


def _arm_cpu_name(fields: Mapping[str, str]) -> str | None:
    implementer = fields.get("CPU implementer")
    part = fields.get("CPU part")
    if implementer is None or part is None:
        return None
    return f"CPU implementer {implementer}, part {part}"


def probe_memory(root: str) -> dict[str, Any]:
    """Total memory (/proc/meminfo) and the cgroup memory limit, v2 or v1."""
    errors: list[str] = []
    mem_total_bytes: int | None = None
    try:
        meminfo = read_text(root, "/proc/meminfo")
    except SourceUnavailable as exc:
        errors.append(str(exc))
    else:
        match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.MULTILINE)
        if match:
            mem_total_bytes = int(match.group(1)) * 1024
        else:
            errors.append("no MemTotal in /proc/meminfo")
    cgroup_version, limit = _cgroup_memory_limit(root)
    if cgroup_version is None:
        errors.append("missing: /sys/fs/cgroup/memory.max and /sys/fs/cgroup/memory/memory.limit_in_bytes")
    return _with_errors(
        {
            "mem_total_bytes": mem_total_bytes,
            "cgroup_version": cgroup_version,
            "cgroup_memory_limit_bytes": limit,
        },
        errors,
    )


def _cgroup_memory_limit(root: str) -> tuple[str | None, int | str | None]:
    """Find this process's cgroup memory limit: (version, bytes or "unlimited")."""
    v2_paths: list[str] = []
    v1_paths: list[str] = []
    try:
        membership = read_text(root, "/proc/self/cgroup")
    except SourceUnavailable:
        membership = ""  # only narrows the search; the hierarchy roots are tried below
    for line in membership.splitlines():
        _, controllers, cgroup_path = [*line.split(":", 2), "", ""][:3]
        cgroup_path = cgroup_path.rstrip("/")
        if controllers == "":
            v2_paths.append(f"/sys/fs/cgroup{cgroup_path}/memory.max")
        elif "memory" in controllers.split(","):
            v1_paths.append(f"/sys/fs/cgroup/memory{cgroup_path}/memory.limit_in_bytes")
    v2_paths.append("/sys/fs/cgroup/memory.max")
    v1_paths.append("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    for version, paths in (("v2", v2_paths), ("v1", v1_paths)):
        for path in paths:
            try:
                value = read_text(root, path).strip()
            except SourceUnavailable:
                continue
            if value == "max":
                return version, "unlimited"
            if value.isdigit():
                limit = int(value)
                return version, "unlimited" if limit >= CGROUP_UNLIMITED_THRESHOLD else limit
            return version, None
    return None, None


def probe_tmp(root: str) -> dict[str, Any]:
    """Size and free space of /tmp, the only writable place on Lambda."""
    try:
        usage = os.statvfs(path_under_root(root, "/tmp"))
    except FileNotFoundError:
        return {"size_bytes": None, "free_bytes": None, "error": "missing: /tmp"}
    except OSError as exc:
        return {
            "size_bytes": None,
            "free_bytes": None,
            "error": f"unreadable: /tmp ({exc.strerror or exc})",
        }
    return {
        "size_bytes": usage.f_blocks * usage.f_frsize,
        "free_bytes": usage.f_bavail * usage.f_frsize,
    }


def _unescape_mount_field(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def probe_mounts(root: str) -> dict[str, Any]:
    """Every mount from /proc/mounts, in the kernel's order."""
    try:
        text = read_text(root, "/proc/mounts")
    except SourceUnavailable as exc:
        return {"entries": [], "error": str(exc)}
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mountpoint, fstype, options = (_unescape_mount_field(f) for f in fields[:4])
        entries.append({"device": device, "mountpoint": mountpoint, "fstype": fstype, "options": options})
    return {"entries": entries}


def probe_limits() -> dict[str, Any]:
    """Soft and hard resource limits of this process, by lower-case RLIMIT name."""
    limits: dict[str, Any] = {}
    for constant_name in RESOURCE_LIMIT_NAMES:
        constant = getattr(resource, constant_name, None)
        if constant is None:
            continue
        soft, hard = resource.getrlimit(constant)
        limits[constant_name.removeprefix("RLIMIT_").lower()] = {
            "soft": _limit_value(soft),
            "hard": _limit_value(hard),
        }
    return limits


def _limit_value(limit: int) -> int | str:
    return "unlimited" if limit == resource.RLIM_INFINITY else limit


def probe_user(root: str) -> dict[str, Any]:
    """Who this process runs as: ids, the passwd name, supplementary groups."""
    uid = os.getuid()
    errors: list[str] = []
    user_name = "unknown"
    try:
        passwd = read_text(root, "/etc/passwd")
    except SourceUnavailable as exc:
        errors.append(str(exc))
    else:
        for line in passwd.splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[2] == str(uid):
                user_name = fields[0]
                break
    return _with_errors(
        {"uid": uid, "gid": os.getgid(), "user_name": user_name, "groups": sorted(os.getgroups())},
        errors,
    )


def probe_lambda(environ: Mapping[str, str]) -> dict[str, Any]:
    """The function's facts as Lambda publishes them in environment variables."""
    section: dict[str, Any] = {field: environ.get(variable) for field, variable in LAMBDA_ENVIRONMENT_FIELDS.items()}
    if section["region"] is None:
        section["region"] = environ.get("AWS_DEFAULT_REGION")
    return section


def probe_layers(root: str) -> dict[str, Any]:
    """What the layers put under /opt: each top-level entry, sized, and its children."""
    opt = path_under_root(root, "/opt")
    try:
        top_entries = sorted(os.scandir(opt), key=lambda entry: entry.name)
    except FileNotFoundError:
        return {"opt": {}, "contents": {}, "error": "missing: /opt"}
    except OSError as exc:
        return {"opt": {}, "contents": {}, "error": f"unreadable: /opt ({exc.strerror or exc})"}
    budget = _EntryBudget(LAYER_SIZE_ENTRY_BUDGET)
    opt_entries: dict[str, Any] = {}
    contents: dict[str, list[str]] = {}
    for entry in top_entries:
        if entry.is_symlink():
            opt_entries[entry.name] = {
                "kind": "symlink",
                "size_bytes": None,
                "file_count": None,
            }
        elif entry.is_dir():
            size_bytes, file_count = _directory_size(entry.path, budget)
            opt_entries[entry.name] = {
                "kind": "dir",
                "size_bytes": size_bytes,
                "file_count": file_count,
            }
            contents[entry.name] = _list_children(entry.path)
        else:
            opt_entries[entry.name] = {
                "kind": "file",
                "size_bytes": entry.stat(follow_symlinks=False).st_size,
                "file_count": 1,
            }
    return {"opt": opt_entries, "contents": contents}


class _EntryBudget:
    """How many more directory entries the layer sizing may stat, shared across /opt."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining


def _directory_size(path: str, budget: _EntryBudget) -> tuple[int | None, int | None]:
    """Total bytes and file count below ``path``; (None, None) once the budget runs out."""
    total_bytes = 0
    file_count = 0
    for entry in _walk_entries(path):
        budget.remaining -= 1
        if budget.remaining < 0:
            return None, None
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(status.st_mode):
            total_bytes += status.st_size
            file_count += 1
    return total_bytes, file_count


def _walk_entries(path: str) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        yield entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_entries(entry.path)


def _list_children(path: str) -> list[str]:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        return [f"unreadable ({exc.strerror or exc})"]
    if len(names) > LAYER_CONTENTS_LIMIT:
        left_out = len(names) - LAYER_CONTENTS_LIMIT
        return [*names[:LAYER_CONTENTS_LIMIT], f"... ({left_out} more)"]
    return names


def probe_network(root: str) -> dict[str, Any]:
    """DNS settings, interfaces and local addresses, best effort from /proc and /etc."""
    errors: list[str] = []
    nameservers: list[str] = []
    search: list[str] = []
    try:
        resolv_conf = read_text(root, "/etc/resolv.conf")
    except SourceUnavailable as exc:
        errors.append(str(exc))
    else:
        for line in resolv_conf.splitlines():
            words = line.split()
            if not words:
                continue
            if words[0] == "nameserver" and len(words) > 1:
                nameservers.append(words[1])
            elif words[0] in ("search", "domain"):
                search = words[1:]  # the last search/domain line wins, as in resolv.conf(5)

    interfaces: list[str]
    try:
        interfaces = _interfaces_from_proc_net_dev(read_text(root, "/proc/net/dev"))
    except SourceUnavailable as exc:
        errors.append(str(exc))
        interfaces = _interfaces_from_if_nameindex()

    ipv4_addresses: list[str] = []
    try:
        ipv4_addresses = _local_ipv4_from_fib_trie(read_text(root, "/proc/net/fib_trie"))
    except SourceUnavailable:
        pass  # absent without IPv4 routing support; the other sources still describe it

    ipv6_addresses: dict[str, list[str]] = {}
    try:
        ipv6_addresses = _ipv6_from_if_inet6(read_text(root, "/proc/net/if_inet6"))
    except SourceUnavailable:
        pass  # absent when IPv6 is disabled, which is normal on Lambda

    return _with_errors(
        {
            "hostname": socket.gethostname(),
            "nameservers": nameservers,
            "search": search,
            "interfaces": interfaces,
            "ipv4_addresses": ipv4_addresses,
            "ipv6_addresses": ipv6_addresses,
        },
        errors,
    )


def _interfaces_from_proc_net_dev(text: str) -> list[str]:
    # The first two lines are column headers; each other line is "  name: counters".
    return sorted(line.split(":", 1)[0].strip() for line in text.splitlines()[2:] if ":" in line)


def _interfaces_from_if_nameindex() -> list[str]:
    try:
        return sorted(name for _, name in socket.if_nameindex())
    except OSError:
        return []


def _local_ipv4_from_fib_trie(text: str) -> list[str]:
    """Local addresses: the leaves of /proc/net/fib_trie marked "/32 host LOCAL"."""
    addresses: set[str] = set()
    last_leaf: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last_leaf = stripped[3:].strip()
        elif last_leaf and stripped.startswith("/32") and stripped.endswith("host LOCAL"):
            addresses.add(last_leaf)
    return sorted(addresses, key=ipaddress.IPv4Address)


def _ipv6_from_if_inet6(text: str) -> dict[str, list[str]]:
    by_interface: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32:
            continue
        packed = bytes.fromhex(fields[0])
        address = socket.inet_ntop(socket.AF_INET6, packed)
        by_interface.setdefault(fields[5], []).append(address)
    return {name: sorted(addresses) for name, addresses in sorted(by_interface.items())}


# --- PATH, executables and runtimes -----------------------------------------------


def path_directories(path_variable: str | None) -> list[str]:
    """PATH split into directories; an empty entry means the current one, as in sh."""
    if not path_variable:
        return []
    return [directory or "." for directory in path_variable.split(os.pathsep)]


def find_executables(path_variable: str | None) -> dict[str, str]:
    """Map each executable name on PATH to the first directory that provides it."""
    found: dict[str, str] = {}
    for directory in path_directories(path_variable):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name in found:
                continue
            try:
                if entry.is_file() and os.access(entry.path, os.X_OK):
                    found[entry.name] = directory
            except OSError:
                continue  # a dangling or unreadable entry is not a command
    return found


def describe_executables(path_variable: str | None, executable_dirs: Mapping[str, str]) -> dict[str, Any]:
    """The executables section: PATH, and the commands each directory provides first."""
    directories = path_directories(path_variable)
    names_by_dir: dict[str, list[str]] = {}
    for name, directory in sorted(executable_dirs.items()):
        names_by_dir.setdefault(directory, []).append(name)
    # In PATH order, so the report reads in the order the shell searches.
    by_dir = {
        directory: names_by_dir[directory] for directory in dict.fromkeys(directories) if directory in names_by_dir
    }
    section: dict[str, Any] = {
        "path_dirs": directories,
        "missing_dirs": [directory for directory in directories if not os.path.isdir(directory)],
        "count": len(executable_dirs),
        "by_dir": by_dir,
    }
    if path_variable is None:
        section["error"] = "PATH is not set"
    return section


def probe_runtime(
    name: str,
    directory: str | None,
    environ: Mapping[str, str],
    timeout: float,
) -> dict[str, Any]:
    """Where a runtime is on PATH and the first line of its version output."""
    if directory is None:
        return {"path": None}
    path = os.path.join(directory, name)
    section: dict[str, Any] = {"path": path, "realpath": os.path.realpath(path), "version": None}
    try:
        exit_status, output = run_with_timeout([path, RUNTIME_VERSION_FLAGS[name]], environ, timeout)
    except subprocess.TimeoutExpired:
        section["error"] = f"timed out after {timeout:g}s"
        return section
    except OSError as exc:
        section["error"] = f"cannot run: {exc.strerror or exc}"
        return section
    first_line = next((line.strip() for line in output.splitlines() if line.strip()), "")
    first_line = first_line[:VERSION_LINE_MAX_CHARS]
    if exit_status == 0:
        section["version"] = first_line or None
    else:
        section["error"] = f"exit status {exit_status}: {first_line}"
    return section


def run_with_timeout(command: list[str], environ: Mapping[str, str], timeout: float) -> tuple[int, str]:
    """Run a command with stdout and stderr merged; kill its whole group at the timeout.

    The command gets its own session so that a wrapper script's children die with it;
    otherwise a grandchild holding the pipe would keep us waiting past the timeout.
    """
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(environ),
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    return process.returncode, output.decode("utf-8", errors="replace")


def probe_python_packages() -> dict[str, Any]:
    """Installed distributions visible to this interpreter: name -> version, by name."""
    packages: dict[str, str] = {}
    seen: set[str] = set()
    # distributions() follows sys.path, so the first copy found is the one imported.
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if not name:
            continue
        normalized = re.sub(r"[-_.]+", "-", name).lower()
        if normalized in seen:
            continue
        seen.add(normalized)
        packages[name] = distribution.version
    return {
        "python_version": platform.python_version(),
        "count": len(packages),
        "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
    }


# --- identity ------------------------------------------------------------------------


def probe_identity(sts_client: Any, timeout: float) -> dict[str, Any]:
    """Who the function's credentials say it is, from STS GetCallerIdentity."""
    try:
        client = sts_client if sts_client is not None else _create_sts_client(timeout)
        response = client.get_caller_identity()
    # Any failure, including boto3 missing, is a finding about this sandbox; and
    # botocore's ClientError cannot be named here without importing boto3.
    except Exception as exc:
        code = _client_error_code(exc)
        if code in DENIED_ERROR_CODES:
            return {"status": "denied", "code": code}
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {"status": "error", "message": message}
    if not isinstance(response, Mapping):
        return {"status": "error", "message": f"unexpected response: {type(response).__name__}"}
    metadata = response.get("ResponseMetadata") or {}
    return {
        "status": "ok",
        "account": response.get("Account"),
        "arn": response.get("Arn"),
        "user_id": response.get("UserId"),
        "request_id": metadata.get("RequestId"),
    }


def _create_sts_client(timeout: float) -> Any:
    # Imported here so that the other probes work, and this module imports fast, without boto3.
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
    return boto3.client("sts", config=config)


def _client_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (found by shape, not by class)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    error = response.get("Error")
    if not isinstance(error, Mapping):
        return None
    code = error.get("Code")
    return code if isinstance(code, str) else None
