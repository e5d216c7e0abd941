"""How a difference reads: the lines the plan gives as reasons and ``status`` lists as drift.

Each difference is one ``what observed -> wanted`` line. A twin's environment holds
its function's secrets, so its differences name variables, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdash.deploy.observed import FunctionState
from lambdash.deploy.settings import FUNCTION_DESCRIPTION, DeploySettings, FileSystem, lambdash_owns
from lambdash_handler.contract import HANDLER


def configuration_differences(settings: DeploySettings, function: FunctionState) -> list[str]:
    """Each configuration setting whose value differs from what deploy sets, as ``what observed -> wanted``."""
    differences = []

    def compare(label: str, observed: Any, wanted: Any, unit: str = "") -> None:
        if observed != wanted:
            differences.append(f"{label} {observed}{unit} -> {wanted}{unit}")

    compare("runtime", function.runtime, settings.runtime)
    compare("handler", function.handler, HANDLER)
    compare("memory", function.memory_mb, settings.memory_mb, " MB")
    compare("timeout", function.timeout_seconds, settings.timeout_seconds, " s")
    compare("ephemeral storage", function.ephemeral_storage_mb, settings.ephemeral_storage_mb, " MB")
    compare("role", function.role_arn, settings.role_arn)
    compare("description", repr(function.description), repr(FUNCTION_DESCRIPTION))
    if dict(function.environment) != settings.environment:
        differences.append(describe_environment_change(function.environment, settings.environment,
                                                       hide_values=settings.twin_of is not None))
    compare("KMS key", function.kms_key_arn or "(AWS managed)", settings.kms_key_arn or "(AWS managed)")
    if (function.subnet_ids, function.security_group_ids) != (settings.subnet_ids, settings.security_group_ids):
        differences.append(
            f"VPC {describe_vpc(function.subnet_ids, function.security_group_ids)} -> "
            f"{describe_vpc(settings.subnet_ids, settings.security_group_ids)}"
        )
    if settings.subnet_ids:
        compare("IPv6 dual stack", on_off(function.ipv6_dual_stack), on_off(settings.ipv6_dual_stack))
    compare("layers", describe_layers(function.layers), describe_layers(settings.layers))
    compare("file systems", describe_file_systems(function.file_systems), describe_file_systems(settings.file_systems))
    return differences


def describe_environment_change(
    observed: Mapping[str, str], wanted: Mapping[str, str], *, hide_values: bool = False
) -> str:
    """How the environment differs; for a twin, values only of lambdash's own variables (it copies secrets)."""
    if not hide_values or all(lambdash_owns(name) for name in {*observed, *wanted}):
        return f"environment {_describe_environment(observed)} -> {_describe_environment(wanted)}"
    parts = []
    added = sorted(set(wanted) - set(observed))
    removed = sorted(set(observed) - set(wanted))
    changed = sorted(name for name in set(observed) & set(wanted) if observed[name] != wanted[name])
    if added:
        parts.append(f"{', '.join(added)} to be set")
    if removed:
        parts.append(f"{', '.join(removed)} to be removed")
    if changed:
        parts.append(f"{', '.join(changed)} to change")
    return "environment: " + "; ".join(parts) + " (values not shown)"


def _describe_environment(environment: Mapping[str, str]) -> str:
    if not environment:
        return "(empty)"
    return " ".join(f"{key}={value}" for key, value in sorted(environment.items()))


def layer_label(arn: str) -> str:
    """``name:version`` of a layer version ARN (``arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION``)."""
    parts = arn.split(":")
    return ":".join(parts[6:8]) if len(parts) >= 8 and parts[5] == "layer" else arn


def describe_layers(layers: tuple[str, ...]) -> str:
    return ", ".join(layer_label(arn) for arn in layers) or "(none)"


def describe_file_systems(systems: tuple[FileSystem, ...]) -> str:
    return ", ".join(f"{system.arn.rsplit('/', 1)[-1]} at {system.mount_path}" for system in systems) or "(none)"


def describe_vpc(subnets: tuple[str, ...], groups: tuple[str, ...]) -> str:
    if not subnets and not groups:
        return "(none)"
    return f"subnets {','.join(subnets) or '-'} groups {','.join(groups) or '-'}"


def short_sha(sha: str) -> str:
    return sha[:12] + "..." if sha else "(none)"


def on_off(flag: bool) -> str:
    return "on" if flag else "off"
