"""A twin: a lambdash function that sees what another function sees (``deploy --like FUNCTION``).

The twin copies what shapes FUNCTION's sandbox: architecture, memory, timeout,
``/tmp`` size, layers, VPC and file systems, and it runs a Python runtime on the
same operating system (``choose_runtime``). FUNCTION's role and environment are
copied only when asked (``--with-role``, ``--with-env``), and values of the
environment are never printed.

It is planned like any deploy (the same ``Plan``, dry run, JSON and idempotence),
with rows under the plan saying what was copied, what was chosen and why, and which
extra permissions the deployer needs. The twin records FUNCTION's settings in a
tag, so ``status`` can say what changed in FUNCTION since the twin was made
(``drift_from_like``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lambdash.deploy.layers import layer_findings, zip_listing
from lambdash.deploy.models import (
    EFS_CLIENT_POLICY,
    LIKE_RECORD_TAG_KEY,
    SUPPORTED_RUNTIMES,
    TWIN_TAG_KEY,
    VPC_ACCESS_POLICY,
    DeployOptions,
    DeploySettings,
    FunctionReference,
    FunctionState,
    Plan,
    digest,
    file_systems_digest,
    lambdash_owns,
    record_fields,
)
from lambdash.deploy.planner import (
    check_network,
    describe_file_systems,
    describe_layers,
    function_state,
    layer_label,
    observe,
    plan_deploy,
    resolve_settings,
    validate_options,
)
from lambdash.errors import ConfigError, LambdashError
from lambdash.lambda_defaults import DEFAULT_RUNTIME

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient

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

    like: FunctionReference
    with_env: bool = False
    with_role: bool = False
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


def like_record(like: FunctionState) -> str:
    """The function's settings as one tag value, for ``status`` to see what changed since the twin was made."""
    runtime = "image" if like.package_type == "Image" else (like.runtime or "-")
    return " ".join([
        f"runtime={runtime}",
        f"arch={like.architecture}",
        f"memory={like.memory_mb}",
        f"timeout={like.timeout_seconds}",
        f"tmp={like.ephemeral_storage_mb}",
        f"layers={digest(like.layers)}",
        f"vpc={digest([*like.subnet_ids, '/', *like.security_group_ids, f'ipv6={like.ipv6_dual_stack}'])}",
        f"fs={file_systems_digest(like.file_systems)}",
        # Tag values allow no '?': "unknown" when Lambda could not show the environment.
        f"env={'unknown' if like.environment_error else digest(sorted(like.environment))}",
        f"kms={digest([like.kms_key_arn]) if like.kms_key_arn else '-'}",
        f"role={digest([like.role_arn])}",
    ])


def copyable_environment(like: FunctionState) -> dict[str, str]:
    """The function's variables a twin may copy: all but lambdash's own and the exec wrapper."""
    return {name: value for name, value in like.environment.items() if not lambdash_owns(name)}


def twin_settings(
    base: DeploySettings, like: FunctionState, options: TwinOptions, runtime: RuntimeChoice,
    layers: Sequence[LayerCheck],
) -> DeploySettings:
    """Deploy's settings for the twin: ``base`` (its name, bucket, streaming) with what it copies from ``like``."""
    copy_environment = options.with_env and like.environment_error is None
    return replace(
        base,
        runtime=runtime.runtime,
        architecture=like.architecture,
        memory_mb=like.memory_mb,
        timeout_seconds=like.timeout_seconds,
        ephemeral_storage_mb=like.ephemeral_storage_mb,
        subnet_ids=like.subnet_ids,
        security_group_ids=like.security_group_ids,
        ipv6_dual_stack=like.ipv6_dual_stack,
        layers=tuple(layer.arn for layer in layers if not layer.skipped),
        file_systems=like.file_systems,
        copied_environment=tuple(sorted(copyable_environment(like).items())) if copy_environment else (),
        environment_copied=copy_environment,
        kms_key_arn=like.kms_key_arn if copy_environment else None,
        execution_role_arn=like.role_arn if options.with_role else None,
        like=like.arn,
        like_record=like_record(like),
    )


def skipped(layer: str, skips: Sequence[str]) -> bool:
    """Whether ``--skip-layer`` names this layer version, by its ARN or by its layer's ARN."""
    return any(skip in (layer, layer.rpartition(":")[0]) for skip in skips)


# -- the plan, with what the twin copies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinPlan:
    """A deploy plan for a twin, and the rows that say what it copies from its function, and why."""

    plan: Plan
    like: FunctionState
    runtime: RuntimeChoice
    layers: tuple[LayerCheck, ...]
    rows: tuple[tuple[str, str], ...]
    permissions: tuple[str, ...]

    @property
    def header(self) -> str:
        return f"like {self.like.name} ({self.like.arn}):"

    def lines(self) -> list[str]:
        rows = [*self.rows, *(("permission", permission) for permission in self.permissions)]
        return [self.header, *(f"  {label:<13}{text}" for label, text in rows)]

    @property
    def warnings(self) -> list[str]:
        return [text for label, text in self.rows if label == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.like.arn,
            "runtime": {"runtime": self.runtime.runtime, "reason": self.runtime.reason},
            "layers": [layer.to_dict() for layer in self.layers],
            "notes": [{"about": label, "text": text} for label, text in self.rows if label != "warning"],
            "warnings": self.warnings,
            "permissions": list(self.permissions),
        }


def describe_twin(
    settings: DeploySettings, like: FunctionState, options: TwinOptions, runtime: RuntimeChoice,
    layers: Sequence[LayerCheck],
) -> list[tuple[str, str]]:
    """The rows under the plan: each thing the twin takes from its function, or why it does not."""
    name = like.name
    rows = [
        ("runtime", runtime.reason),
        ("limits", f"{settings.architecture}, memory {settings.memory_mb} MB, timeout {settings.timeout_seconds} s, "
                   f"/tmp {settings.ephemeral_storage_mb} MB: as {name}"),
    ]
    if not layers:
        rows.append(("layers", "none" + (": a container image has none" if like.package_type == "Image" else "")))
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
    rows.extend(_environment_rows(settings, like, options))
    if settings.own_role:
        rows.append(("role", f"lambdash's own {settings.role_name}, least privilege "
                             f"(--with-role runs the twin with the role of {name})"))
    else:
        rows.append(("role", f"{like.role_arn}, the role of {name} (--with-role): used as it is, never changed"))
        if settings.bucket is not None:
            rows.append(("spills", f"need that role to allow s3:PutObject, s3:GetObject and s3:DeleteObject on "
                                   f"{settings.bucket}/{settings.prefix}/*; output too big to return inline is cut "
                                   "when it cannot"))
    return rows


def _environment_rows(settings: DeploySettings, like: FunctionState, options: TwinOptions) -> list[tuple[str, str]]:
    name = like.name
    if like.environment_error is not None:
        return [("environment", f"not copied: Lambda cannot show the values of {name} "
                                f"({like.environment_error})")]
    if not like.environment:
        return [("environment", f"none: {name} has no variables")]
    names = ", ".join(sorted(like.environment))
    if not options.with_env:
        count = len(like.environment)
        return [("environment", f"not copied: {name} has {count} variable{'s' if count > 1 else ''} ({names}); "
                                "--with-env copies them")]
    copied = ", ".join(variable for variable, _ in settings.copied_environment)
    rows = [("environment", f"copied from {name} (values not shown): {copied}" if copied
             else f"nothing copied from {name}")]
    left_out = sorted(set(like.environment) - {variable for variable, _ in settings.copied_environment})
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


def extra_permissions(settings: DeploySettings, like: FunctionState) -> list[str]:
    """What the deployer needs beyond a plain deploy's permissions."""
    permissions = [f"lambda:GetFunctionConfiguration on {like.arn}"]
    if like.layers:
        permissions.append("lambda:GetLayerVersion on its layers")
    if settings.kms_key_arn:
        permissions.append(f"kms:CreateGrant and kms:Encrypt on {settings.kms_key_arn}")
    if not settings.own_role:
        permissions.append(f"iam:PassRole on {settings.role_arn}")
    return permissions


# -- reading and planning --------------------------------------------------------------------------------------------

Listing = Callable[[str], list[str]]


def read_like(client: DeployClient, like: FunctionReference) -> FunctionState:
    """The function a twin is like, from lambda:GetFunctionConfiguration."""
    return function_state(client.get_function_configuration(like.text), {})


def check_layers(
    client: DeployClient, like: FunctionState, skips: Sequence[str], listing: Listing = zip_listing
) -> tuple[LayerCheck, ...]:
    """Each of the function's layers: left out, or read for what it brings. Unreadable contents are a note."""
    for skip in skips:
        if not any(skipped(layer, [skip]) for layer in like.layers):
            have = ", ".join(like.layers) or "none"
            raise ConfigError(f"--skip-layer {skip}: {like.name} has no such layer (its layers: {have})")
    checks = []
    for layer in like.layers:
        if skipped(layer, skips):
            checks.append(LayerCheck(layer, skipped=True))
            continue
        try:
            location = client.get_layer_version(layer).get("Content", {}).get("Location", "")
            names = listing(location)
        except LambdashError as problem:
            checks.append(LayerCheck(layer, unchecked=problem.message))
            continue
        checks.append(LayerCheck(layer, findings=tuple(layer_findings(names))))
    return tuple(checks)


def prepare_twin(
    client: DeployClient, options: DeployOptions, twin: TwinOptions, code_sha256: str, *,
    listing: Listing = zip_listing,
) -> TwinPlan:
    """Read the function the twin is like and its layers, then plan the twin as deploy plans. Only reads."""
    validate_options(options)
    like = read_like(client, twin.like)
    layers = check_layers(client, like, twin.skip_layers, listing)
    base = resolve_settings(options, client.caller_identity(), client.region)
    runtime = choose_runtime(like.runtime, like.package_type, like.name)
    settings = twin_settings(base, like, twin, runtime, layers)
    check_network(client, settings)
    plan = plan_deploy(settings, observe(client, settings), code_sha256)
    return TwinPlan(plan=plan, like=like, runtime=runtime, layers=layers,
                    rows=tuple(describe_twin(settings, like, twin, runtime, layers)),
                    permissions=tuple(extra_permissions(settings, like)))


# -- status: what changed in the function since the twin was made ----------------------------------------------------

def inspect_like_drift(client: DeployClient, twin: FunctionState) -> tuple[tuple[str, ...], str | None]:
    """For a twin, what changed in the function it is like since it was made; or why that cannot be read."""
    if twin.like is None:
        return (), None
    try:
        like = function_state(client.get_function_configuration(twin.like), {})
    except LambdashError as problem:
        return (), problem.message
    return tuple(drift_from_like(twin, like)), None


def drift_from_like(twin: FunctionState, like: FunctionState) -> list[str]:
    """Each difference between the function now and as the twin recorded it (``deploy --like`` follows it)."""
    was = record_fields(twin.tags.get(LIKE_RECORD_TAG_KEY, ""))
    now = record_fields(like_record(like))
    copied = record_fields(twin.tags.get(TWIN_TAG_KEY, ""))
    drift = []
    if was.get("runtime") != now["runtime"]:
        before = choose_runtime(None if was.get("runtime") in (None, "image", "-") else was["runtime"],
                                "Image" if was.get("runtime") == "image" else "Zip")
        after = choose_runtime(like.runtime, like.package_type)
        if before.runtime != after.runtime:
            drift.append(f"runtime {was.get('runtime', '?')} -> {now['runtime']}: the twin's would be "
                         f"{after.runtime}, not {before.runtime}")
    for key, label, unit in (("arch", "architecture", ""), ("memory", "memory", " MB"), ("timeout", "timeout", " s"),
                             ("tmp", "ephemeral storage", " MB")):
        if was.get(key) != now[key]:
            drift.append(f"{label} {was.get(key, '?')}{unit} -> {now[key]}{unit}")
    if was.get("layers") != now["layers"]:
        drift.append(f"layers now {describe_layers(like.layers)} (the twin has {describe_layers(twin.layers)})")
    if was.get("vpc") != now["vpc"]:
        drift.append(f"VPC now {_describe_network(like)} (the twin: {_describe_network(twin)})")
    if was.get("fs") != now["fs"]:
        drift.append(f"file systems now {describe_file_systems(like.file_systems)} "
                     f"(the twin has {describe_file_systems(twin.file_systems)})")
    if copied.get("env", "-") != "-":
        drift.extend(_environment_drift(twin, like))
        if was.get("kms") != now["kms"]:
            drift.append(f"KMS key now {like.kms_key_arn or '(AWS managed)'} "
                         f"(the twin's: {twin.kms_key_arn or '(AWS managed)'})")
    if copied.get("role", "own") != "own" and was.get("role") != now["role"]:
        drift.append(f"role now {like.role_arn} (the twin runs with {twin.role_arn})")
    return drift


def _environment_drift(twin: FunctionState, like: FunctionState) -> list[str]:
    """Names only: which copied variables the function has set, removed or changed since."""
    if like.environment_error is not None:
        return [f"environment cannot be read now: {like.environment_error}"]
    theirs = copyable_environment(like)
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
