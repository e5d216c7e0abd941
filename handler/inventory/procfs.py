"""Inventory sections read from the kernel and the sandbox's own files.

/proc, /sys/fs/cgroup, /etc and /tmp give the os, cpu, memory, tmp, mounts and
user sections; the process's own ids and resource limits come from the kernel.
Every path is read under a ``root`` (``/`` on Lambda, a fake tree in tests), and
a file that is missing or unreadable becomes the section's ``error``, never an
exception. The other sections that read files (``layers``, ``network``) use the
readers here.
"""

from __future__ import annotations

import os
import platform
import re
import resource
from collections.abc import Mapping
from typing import Any

OS_RELEASE_FIELDS = ("NAME", "VERSION_ID", "PRETTY_NAME")

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

# cgroup v1 reports "no limit" as a page-rounded 2**63 - 1.
CGROUP_UNLIMITED_THRESHOLD = 2**62


class SourceUnavailable(Exception):
    """A file a probe needs is missing or unreadable; the message is what gets recorded."""


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


def with_errors(section: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    if errors:
        section["error"] = "; ".join(errors)
    return section


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
    return with_errors(section, errors)


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
    return with_errors(
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
    return with_errors(
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
    return with_errors(
        {"uid": uid, "gid": os.getgid(), "user_name": user_name, "groups": sorted(os.getgroups())},
        errors,
    )
