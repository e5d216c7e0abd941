"""A twin: a lambdash function that sees what another function sees (``deploy --like FUNCTION``).

FUNCTION is the twin's original (``TwinOptions.original``), and the twin records its
ARN (``DeploySettings.twin_of``, ``FunctionState.twin_of``). The twin copies what
shapes FUNCTION's sandbox: architecture, memory, timeout, ``/tmp`` size, layers, VPC
and file systems, and it runs a Python runtime on the same operating system
(``choose_runtime``). FUNCTION's role and environment are copied only when asked
(``--with-role``, ``--with-env``), and values of the environment are never printed.

It is planned like any deploy (the same ``Plan``, dry run, JSON and idempotence),
with rows under the plan saying what was copied, what was chosen and why, and which
extra permissions the deployer needs. The twin records FUNCTION's settings in a
tag, so ``status`` can say what changed in FUNCTION since the twin was made
(``drift_from_original``). The checks that keep a twin the twin of one function are
here too. Nothing here calls AWS: ``observed`` reads FUNCTION and its layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lambdash.deploy.documents import EFS_CLIENT_POLICY, VPC_ACCESS_POLICY
from lambdash.deploy.drift import describe_file_systems, describe_layers, layer_label, short_sha
from lambdash.deploy.layers import layer_findings
from lambdash.deploy.observed import FunctionState, LayerListing
from lambdash.deploy.plan import Plan
from lambdash.deploy.settings import (
    SUPPORTED_RUNTIMES,
    DeploySettings,
    FunctionReference,
    default_twin_name,
    lambdash_owns,
)
from lambdash.deploy.tags import (
    CODE_OF_TAG_KEY,
    ORIGINAL_RECORD_TAG_KEY,
    TWIN_RECORD_TAG_KEY,
    decode_record,
    function_arn_tag,
    original_record,
    twin_record,
)
from lambdash.errors import ConfigError
from lambdash.lambda_defaults import DEFAULT_RUNTIME
from lambdash_handler.contract import ENV_LIKE_HANDLER

# -- the runtime: Python on the same operating system ----------------------------------------------------------------

AMAZON_LINUX_2023 = "Amazon Linux 2023"
AMAZON_LINUX_2 = "Amazon Linux 2"
AMAZON_LINUX_1 = "Amazon Linux 1"
# The operating system of each Lambda runtime, as AWS's table of runtimes lists it (deprecated ones too).
RUNTIME_OS: Mapping[str, str] = {
    **dict.fromkeys(("nodejs24.x", "nodejs22.x", "nodejs20.x"), AMAZON_LINUX_2023),
    **dict.fromkeys(("nodejs18.x", "nodejs16.x", "nodejs14.x", "nodejs12.x", "nodejs10.x"), AMAZON_LINUX_2),
    **dict.fromkeys(("python3.14", "python3.13", "python3.12"), AMAZON_LINUX_2023),
    **dict.fromkeys(("python3.11", "python3.10", "python3.9", "python3.8"), AMAZON_LINUX_2),
    **dict.fromkeys(("python3.7", "python3.6", "python2.7"), AMAZON_LINUX_1),
    **dict.fromkeys(("java25", "java21"), AMAZON_LINUX_2023),
    **dict.fromkeys(("java17", "java11", "java8.al2"), AMAZON_LINUX_2),
    "java8": AMAZON_LINUX_1,
    "provided.al2023": AMAZON_LINUX_2023,
    "provided.al2": AMAZON_LINUX_2,
    "provided": AMAZON_LINUX_1,
    **dict.fromkeys(("dotnet10", "dotnet8"), AMAZON_LINUX_2023),
    **dict.fromkeys(("dotnet7", "dotnet6", "dotnetcore3.1"), AMAZON_LINUX_2),
    **dict.fromkeys(("ruby3.4", "ruby3.3"), AMAZON_LINUX_2023),
    **dict.fromkeys(("ruby3.2", "ruby2.7"), AMAZON_LINUX_2),
    **dict.fromkeys(("go1.x", "ruby2.5"), AMAZON_LINUX_1),
}
# lambdash's runtime on each operating system (it needs Python 3.11 or later, so none on Amazon Linux 1).
LAMBDASH_RUNTIME_ON: Mapping[str, str] = {AMAZON_LINUX_2023: "python3.13", AMAZON_LINUX_2: "python3.11"}


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str
    reason: str


def choose_runtime(runtime: str | None, package_type: str = "Zip", function: str = "the function") -> RuntimeChoice:
    """The twin's runtime for a function with this runtime: the same for Python, else Python on the same OS.

    The reason names the chosen runtime, so it reads on its own in the plan.
    """
    if package_type == "Image" or not runtime:
        return RuntimeChoice(DEFAULT_RUNTIME, f"{DEFAULT_RUNTIME}, the default: {function} is a container image, "
                                              "which has no runtime, and the image's own file system is not there")
    if runtime in SUPPORTED_RUNTIMES:
        return RuntimeChoice(runtime, f"{runtime}, as {function}")
    system = RUNTIME_OS.get(runtime)
    if system is None:
        return RuntimeChoice(DEFAULT_RUNTIME, f"{DEFAULT_RUNTIME}, the default: lambdash does not know the runtime "
                                              f"{runtime} of {function}")
    if system == AMAZON_LINUX_1:
        chosen = LAMBDASH_RUNTIME_ON[AMAZON_LINUX_2]
        return RuntimeChoice(chosen, f"{chosen}: {function} runs {runtime} on {system}, where lambdash cannot run; "
                                     f"{chosen}, on {AMAZON_LINUX_2}, is the closest")
    chosen = LAMBDASH_RUNTIME_ON[system]
    if runtime.startswith("python"):
        return RuntimeChoice(chosen, f"{chosen}: {function} runs {runtime}, and lambdash needs Python 3.11 or "
                                     f"later; both run on {system}")
    return RuntimeChoice(chosen, f"{chosen}: {function} runs {runtime}, and both run on {system}")


# -- what is copied --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinOptions:
    """What ``deploy --like`` was asked for."""

    original: FunctionReference
    with_env: bool = False
    with_role: bool = False
    # Copy the function's code package beside lambdash's handler (``function_code``).
    with_code: bool = False
    # Layer version ARNs, or layer ARNs without a version (any version of that layer).
    skip_layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerCheck:
    """One of the function's layers: left out or not, and what its listing shows."""

    arn: str
    skipped: bool = False
    findings: tuple[str, ...] = ()
    # Why the layer's contents were not read, when they were not.
    unchecked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"arn": self.arn, "skipped": self.skipped, "warnings": list(self.findings),
                "unchecked": self.unchecked}


def copyable_environment(original: FunctionState) -> dict[str, str]:
    """The function's variables a twin may copy: all but lambdash's own and the exec wrapper."""
    return {name: value for name, value in original.environment.items() if not lambdash_owns(name)}


def twin_settings(
    base: DeploySettings, original: FunctionState, options: TwinOptions, runtime: RuntimeChoice,
    layers: Sequence[LayerCheck],
) -> DeploySettings:
    """Deploy's settings for the twin: ``base`` (its name, bucket, streaming) with what it copies from ``original``."""
    copy_environment = options.with_env and original.environment_error is None
    return replace(
        base,
        runtime=runtime.runtime,
        architecture=original.architecture,
        memory_mb=original.memory_mb,
        timeout_seconds=original.timeout_seconds,
        ephemeral_storage_mb=original.ephemeral_storage_mb,
        subnet_ids=original.subnet_ids,
        security_group_ids=original.security_group_ids,
        ipv6_dual_stack=original.ipv6_dual_stack,
        layers=tuple(layer.arn for layer in layers if not layer.skipped),
        file_systems=original.file_systems,
        copied_environment=tuple(sorted(copyable_environment(original).items())) if copy_environment else (),
        environment_copied=copy_environment,
        kms_key_arn=original.kms_key_arn if copy_environment else None,
        execution_role_arn=original.role_arn if options.with_role else None,
        twin_of=function_arn_tag(original.arn),
        original_record=original_record(original),
        code_of=original.code_sha256 if options.with_code else None,
        code_handler=(original.handler or None) if options.with_code else None,
    )


def skipped(layer: str, skips: Sequence[str]) -> bool:
    """Whether ``--skip-layer`` names this layer version, by its ARN or by its layer's ARN."""
    return any(skip in (layer, layer.rpartition(":")[0]) for skip in skips)


def check_skipped_layers(original: FunctionState, skips: Sequence[str]) -> None:
    """Each ``--skip-layer`` names one of the function's layers."""
    for skip in skips:
        if not any(skipped(layer, [skip]) for layer in original.layers):
            have = ", ".join(original.layers) or "none"
            raise ConfigError(f"--skip-layer {skip}: {original.name} has no such layer (its layers: {have})")


def layers_to_read(original: FunctionState, skips: Sequence[str]) -> list[str]:
    """The function's layers the twin gets, whose contents the plan checks."""
    return [layer for layer in original.layers if not skipped(layer, skips)]


def layer_checks(
    original: FunctionState, skips: Sequence[str], listings: Mapping[str, LayerListing]
) -> tuple[LayerCheck, ...]:
    """Each of the function's layers: left out, or what its listing (in ``listings``) brings, or why unread."""
    checks = []
    for layer in original.layers:
        if skipped(layer, skips):
            checks.append(LayerCheck(layer, skipped=True))
        elif listings[layer].unreadable is not None:
            checks.append(LayerCheck(layer, unchecked=listings[layer].unreadable))
        else:
            checks.append(LayerCheck(layer, findings=tuple(layer_findings(listings[layer].names))))
    return tuple(checks)


# -- the plan, with what the twin copies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinPlan:
    """A deploy plan for a twin, and the rows that say what it copies from its function, and why."""

    plan: Plan
    original: FunctionState
    runtime: RuntimeChoice
    layers: tuple[LayerCheck, ...]
    rows: tuple[tuple[str, str], ...]
    permissions: tuple[str, ...]

    @property
    def header(self) -> str:
        return f"like {self.original.name} ({self.original.arn}):"

    def lines(self) -> list[str]:
        rows = [*self.rows, *(("permission", permission) for permission in self.permissions)]
        return [self.header, *(f"  {label:<13}{text}" for label, text in rows)]

    @property
    def warnings(self) -> list[str]:
        return [text for label, text in self.rows if label == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.original.arn,
            "runtime": {"runtime": self.runtime.runtime, "reason": self.runtime.reason},
            "layers": [layer.to_dict() for layer in self.layers],
            "notes": [{"about": label, "text": text} for label, text in self.rows if label != "warning"],
            "warnings": self.warnings,
            "permissions": list(self.permissions),
        }


def describe_twin(
    settings: DeploySettings, original: FunctionState, options: TwinOptions, runtime: RuntimeChoice,
    layers: Sequence[LayerCheck],
) -> list[tuple[str, str]]:
    """The rows under the plan: each thing the twin takes from its function, or why it does not."""
    name = original.name
    rows = [
        ("runtime", runtime.reason),
        ("limits", f"{settings.architecture}, memory {settings.memory_mb} MB, timeout {settings.timeout_seconds} s, "
                   f"/tmp {settings.ephemeral_storage_mb} MB: as {name}"),
    ]
    if not layers:
        rows.append(("layers", "none" + (": a container image has none" if original.package_type == "Image" else "")))
    for layer in layers:
        if layer.skipped:
            rows.append(("layer", f"{layer.arn}: left out (--skip-layer)"))
            continue
        rows.append(("layer", layer.arn + (f" (contents not checked: {layer.unchecked})" if layer.unchecked else "")))
        rows.extend(("warning", f"layer {layer_label(layer.arn)} {finding}") for finding in layer.findings)
    if settings.subnet_ids:
        rows.append(("vpc", f"subnets {', '.join(settings.subnet_ids)}; security groups "
                            f"{', '.join(settings.security_group_ids)}; IPv6 dual stack "
                            f"{'on' if settings.ipv6_dual_stack else 'off'}"
                            + (f"; the role gets {_policy(VPC_ACCESS_POLICY)}" if settings.own_role else "")))
    else:
        rows.append(("vpc", f"none: {name} is not in a VPC"))
    rows.extend(("file system", f"{system.arn} at {system.mount_path}") for system in settings.file_systems)
    if settings.file_systems and settings.own_role:
        rows.append(("file system", f"the role gets {EFS_CLIENT_POLICY} to mount them"))
    if settings.code_of is not None:
        rows.append(("code", f"{name}'s code (sha256 {short_sha(settings.code_of)}) beside lambdash's handler: "
                             f"the REPL's :py imports it" + (f"; its handler is {settings.code_handler}"
                                                             if settings.code_handler else "")))
    elif original.package_type == "Zip":
        rows.append(("code", f"lambdash's handler only: --with-code copies {name}'s code in too, for :py"))
    rows.extend(_environment_rows(settings, original, options))
    if settings.own_role:
        rows.append(("role", f"lambdash's own {settings.role_name}, least privilege "
                             f"(--with-role runs the twin with the role of {name})"))
    else:
        rows.append(("role", f"{original.role_arn}, the role of {name} (--with-role): used as it is, never changed"))
        if settings.bucket is not None:
            rows.append(("spills", f"need that role to allow s3:PutObject, s3:GetObject and s3:DeleteObject on "
                                   f"{settings.bucket}/{settings.prefix}/*; output too big to return inline is cut "
                                   "when it cannot"))
    return rows


def _environment_rows(settings: DeploySettings, original: FunctionState, options: TwinOptions) -> list[tuple[str, str]]:
    name = original.name
    if original.environment_error is not None:
        return [("environment", f"not copied: Lambda cannot show the values of {name} "
                                f"({original.environment_error})")]
    if not original.environment:
        return [("environment", f"none: {name} has no variables")]
    names = ", ".join(sorted(original.environment))
    if not options.with_env:
        count = len(original.environment)
        return [("environment", f"not copied: {name} has {count} variable{'s' if count > 1 else ''} ({names}); "
                                "--with-env copies them")]
    copied = ", ".join(variable for variable, _ in settings.copied_environment)
    rows = [("environment", f"copied from {name} (values not shown): {copied}" if copied
             else f"nothing copied from {name}")]
    left_out = sorted(set(original.environment) - {variable for variable, _ in settings.copied_environment})
    for variable in left_out:
        if variable.startswith("LAMBDASH_"):
            why = "lambdash's own variables win"
        elif settings.stream:
            why = "lambdash sets its own, which starts its streaming runtime loop"
        else:
            why = "it would start another runtime loop than lambdash's"
        rows.append(("environment", f"{variable} of {name} left out: {why}"))
    if settings.kms_key_arn:
        rows.append(("KMS key", f"{settings.kms_key_arn}: kept, as {name} encrypts its environment with it"))
    return rows


def _policy(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def extra_permissions(settings: DeploySettings, original: FunctionState) -> list[str]:
    """What the deployer needs beyond a plain deploy's permissions."""
    permissions = [f"lambda:GetFunctionConfiguration on {original.arn}"]
    if settings.code_of is not None:
        permissions.append(f"lambda:GetFunction on {original.arn} (its code)")
    if original.layers:
        permissions.append("lambda:GetLayerVersion on its layers")
    if settings.kms_key_arn:
        permissions.append(f"kms:CreateGrant and kms:Encrypt on {settings.kms_key_arn}")
    if not settings.own_role:
        permissions.append(f"iam:PassRole on {settings.role_arn}")
    return permissions


def twin_plan(
    plan: Plan, original: FunctionState, options: TwinOptions, runtime: RuntimeChoice, layers: tuple[LayerCheck, ...]
) -> TwinPlan:
    """The twin's deploy plan, with the rows that say what it copies and the permissions it needs."""
    return TwinPlan(plan=plan, original=original, runtime=runtime, layers=layers,
                    rows=tuple(describe_twin(plan.settings, original, options, runtime, layers)),
                    permissions=tuple(extra_permissions(plan.settings, original)))


# -- which function a twin is of: checked before anything is changed ------------------------------------------------

def check_twin_identity(settings: DeploySettings, function: FunctionState) -> None:
    """A twin is only ever updated as the twin of the same function, and a plain deploy never takes one over."""
    if settings.twin_of is None and function.twin_of is not None:
        raise ConfigError(
            f"function {function.name} is a twin of {function.twin_of} (made by `lambdash deploy --like`); "
            f"update it with `{redeploy_command(function.name, function.twin_of)}`, or choose another --name"
        )
    if settings.twin_of is not None and function.twin_of is None:
        raise ConfigError(f"function {function.name} is a lambdash function but not a twin; "
                          "choose another --name for the twin")
    if settings.twin_of is not None and function.twin_of != settings.twin_of:
        raise ConfigError(f"function {function.name} is the twin of {function.twin_of}, not of {settings.twin_of}; "
                          "choose another --name for this twin")


def check_twin_of(function: FunctionState, original: FunctionReference | None) -> None:
    """With ``--like FUNCTION``, the function must be FUNCTION's twin."""
    if original is not None and (function.twin_of is None or not original.matches(function.twin_of)):
        what = f"the twin of {function.twin_of}" if function.twin_of else "not a twin"
        raise ConfigError(f"function {function.name} is {what}, not a twin of {original.text}; "
                          "name the twin with --name")


def redeploy_command(twin: str, twin_of: str) -> str:
    """The command that brings the twin ``twin`` back in line with its original (``twin_of``: the original's ARN)."""
    reference = FunctionReference.parse(twin_of)
    if reference is None:
        return f"lambdash deploy --like {twin_of} --name {twin}"
    command = f"lambdash deploy --like {reference.label}"
    return command if default_twin_name(reference) == twin else f"{command} --name {twin}"


# -- status: the twin's copied settings as it has them -----------------------------------------------------------------

def recorded_twin_settings(settings: DeploySettings, function: FunctionState) -> tuple[DeploySettings, list[str]]:
    """A twin's copied settings as it has them, with a note for each that changed outside lambdash.

    Only digests of what the twin copied are recorded: when one still matches, the
    twin's own value is the deployed one; otherwise it was changed outside lambdash.
    """
    recorded = decode_record(function.tags.get(TWIN_RECORD_TAG_KEY, ""))
    copied_env = recorded.get("env", "-") != "-"
    borrowed_role = recorded.get("role", "own") != "own"
    twin = replace(
        settings,
        twin_of=function.twin_of,
        original_record=function.tags.get(ORIGINAL_RECORD_TAG_KEY, ""),
        layers=function.layers,
        ipv6_dual_stack=function.ipv6_dual_stack,
        file_systems=function.file_systems,
        copied_environment=tuple(sorted((name, value) for name, value in function.environment.items()
                                        if not lambdash_owns(name))) if copied_env else (),
        environment_copied=copied_env,
        kms_key_arn=function.kms_key_arn if copied_env else None,
        execution_role_arn=function.role_arn if borrowed_role else None,
        code_of=function.tags.get(CODE_OF_TAG_KEY),
        code_handler=function.environment.get(ENV_LIKE_HANDLER) if CODE_OF_TAG_KEY in function.tags else None,
    )
    now = decode_record(twin_record(twin))
    labels = {"layers": "layers", "ipv6": "IPv6 dual stack", "fs": "file systems",
              "env": "names of the copied environment variables", "kms": "KMS key", "role": "role"}
    # With nothing copied, a difference shows in the drift itself (deploy would remove it).
    notes = [f"{label} changed outside lambdash" for key, label in labels.items()
             if key in recorded and recorded[key] != "-" and now.get(key) != recorded[key]]
    return twin, notes


# -- status: what changed in the function since the twin was made ----------------------------------------------------

def drift_from_original(twin: FunctionState, original: FunctionState) -> list[str]:
    """Each difference between the function now and as the twin recorded it (``deploy --like`` follows it)."""
    was = decode_record(twin.tags.get(ORIGINAL_RECORD_TAG_KEY, ""))
    now = decode_record(original_record(original))
    copied = decode_record(twin.tags.get(TWIN_RECORD_TAG_KEY, ""))
    drift = []
    if was.get("runtime") != now["runtime"]:
        before = choose_runtime(None if was.get("runtime") in (None, "image", "-") else was["runtime"],
                                "Image" if was.get("runtime") == "image" else "Zip")
        after = choose_runtime(original.runtime, original.package_type)
        if before.runtime != after.runtime:
            drift.append(f"runtime {was.get('runtime', '?')} -> {now['runtime']}: the twin's would be "
                         f"{after.runtime}, not {before.runtime}")
    for key, label, unit in (("arch", "architecture", ""), ("memory", "memory", " MB"), ("timeout", "timeout", " s"),
                             ("tmp", "ephemeral storage", " MB")):
        if was.get(key) != now[key]:
            drift.append(f"{label} {was.get(key, '?')}{unit} -> {now[key]}{unit}")
    if was.get("layers") != now["layers"]:
        drift.append(f"layers now {describe_layers(original.layers)} (the twin has {describe_layers(twin.layers)})")
    if was.get("vpc") != now["vpc"]:
        drift.append(f"VPC now {_describe_network(original)} (the twin: {_describe_network(twin)})")
    if was.get("fs") != now["fs"]:
        drift.append(f"file systems now {describe_file_systems(original.file_systems)} "
                     f"(the twin has {describe_file_systems(twin.file_systems)})")
    if copied.get("env", "-") != "-":
        drift.extend(_environment_drift(twin, original))
        if was.get("kms") != now["kms"]:
            drift.append(f"KMS key now {original.kms_key_arn or '(AWS managed)'} "
                         f"(the twin's: {twin.kms_key_arn or '(AWS managed)'})")
    if copied.get("role", "own") != "own" and was.get("role") != now["role"]:
        drift.append(f"role now {original.role_arn} (the twin runs with {twin.role_arn})")
    code_of = twin.tags.get(CODE_OF_TAG_KEY)
    if code_of is not None and code_of != original.code_sha256:
        drift.append(f"code sha256 {short_sha(code_of)} -> {short_sha(original.code_sha256)}: the twin has "
                     "the code it was made with")
    return drift


def _environment_drift(twin: FunctionState, original: FunctionState) -> list[str]:
    """Names only: which copied variables the function has set, removed or changed since."""
    if original.environment_error is not None:
        return [f"environment cannot be read now: {original.environment_error}"]
    theirs = copyable_environment(original)
    ours = {name: value for name, value in twin.environment.items() if not lambdash_owns(name)}
    parts = []
    for label, names in (("set", sorted(set(theirs) - set(ours))), ("removed", sorted(set(ours) - set(theirs))),
                         ("changed", sorted(name for name in set(ours) & set(theirs) if ours[name] != theirs[name]))):
        if names:
            parts.append(f"{', '.join(names)} {label}")
    return [f"environment: {'; '.join(parts)} (values not shown)"] if parts else []


def _describe_network(function: FunctionState) -> str:
    if not function.subnet_ids:
        return "(none)"
    return (f"subnets {', '.join(function.subnet_ids)} groups {', '.join(function.security_group_ids)} "
            f"IPv6 {'on' if function.ipv6_dual_stack else 'off'}")
