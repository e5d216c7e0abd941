"""The inventory: describe the Lambda sandbox this code runs in, section by section.

The AL2023-based Lambda runtimes have no ``ps``, ``which``, ``ip`` or ``free``, so
every section is read from files, PATH and the environment directly in Python,
one module per source: ``procfs`` (the kernel and /proc, /sys, /etc, /tmp),
``layers`` (/opt), ``network`` (resolv.conf and /proc/net), ``programs`` (PATH,
the language runtimes, Python packages), ``environment`` (Lambda's variables and
all the others, redacted) and ``identity`` (STS). A section never raises because
something is absent: a missing file, an unreadable file or a missing tool is
written into the inventory (``"error": "missing: /etc/os-release"``,
``{"path": null}``), so an inventory of a stripped-down runtime is still complete.

Standard library only, and boto3 only lazily (for the STS identity). The shape of
what ``collect_inventory`` returns is ``contract/inventory.schema.json``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from .environment import describe_environment, probe_lambda, redact_environment
from .identity import probe_identity
from .layers import probe_layers
from .network import probe_network
from .procfs import probe_cpu, probe_limits, probe_memory, probe_mounts, probe_os, probe_tmp, probe_user
from .programs import (
    RUNTIME_VERSION_FLAGS,
    describe_executables,
    find_executables,
    probe_python_packages,
    probe_runtime,
)

__all__ = [
    "INVENTORY_SCHEMA",
    "INVENTORY_SCHEMA_VERSION",
    "SECTION_KEYS",
    "collect_inventory",
    "describe_environment",
    "redact_environment",
]


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
