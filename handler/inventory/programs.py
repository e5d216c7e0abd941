"""Inventory sections about programs: the executables on PATH, the language runtimes and Python packages.

The runtimes have no ``which``: PATH is searched here. A runtime's version is the
first line it prints, each in its own process group, killed at its timeout.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import signal
import subprocess
from collections.abc import Mapping
from typing import Any

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
# A version line is kept to this many characters.
VERSION_LINE_MAX_CHARS = 200


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
