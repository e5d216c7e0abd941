"""Compare what deploy wants with what exists, and say what must change.

``observe`` is the only function here that calls AWS, and it only reads. The rest
are pure: ``plan_deploy`` and ``plan_destroy`` turn settings and observed state
into a ``Plan`` that ``--dry-run`` prints, ``status`` reports as drift and the
executor applies. Validation of the options happens here too, before any call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from handler.constants import ENV_BUCKET, ENV_PREFIX
from lambdash.deploy.models import (
    ARCHITECTURES,
    EPHEMERAL_STORAGE_RANGE_MB,
    FUNCTION_DESCRIPTION,
    LIFECYCLE_RULE_ID,
    LIKE_RECORD_TAG_KEY,
    MAX_NAME_LENGTH,
    MEMORY_RANGE_MB,
    PUBLIC_ACCESS_BLOCK,
    SETTINGS_TAG_KEY,
    SPILL_POLICY_NAME,
    SSE_ALGORITHM,
    SUPPORTED_RUNTIMES,
    TIMEOUT_RANGE_SECONDS,
    TWIN_TAG_KEY,
    Action,
    BucketAccess,
    BucketState,
    DeployOptions,
    DeploySettings,
    FileSystem,
    FunctionReference,
    FunctionState,
    ObservedState,
    Operation,
    Plan,
    PlannedChange,
    Resource,
    ResourceKind,
    RoleState,
    StatusReport,
    Step,
    canonical,
    lambdash_owns,
    record_fields,
    redeploy_command,
    role_name_for,
    vpc_digest,
)
from lambdash.errors import ConfigError
from lambdash.lambda_defaults import HANDLER

if TYPE_CHECKING:
    from lambdash.aws.deploy import CallerIdentity, DeployClient

_NAME = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}$")
_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")


# -- options ---------------------------------------------------------------------------------------------------------

def validate_options(options: DeployOptions) -> None:
    """Reject what AWS would reject, with one line that says why, before any call is made."""
    if not _NAME.match(options.name):
        raise ConfigError(f"invalid --name {options.name!r}: use 1 to 50 letters, digits, '-' or '_' "
                          f"(the role is named {role_name_for('NAME')})")
    if options.runtime not in SUPPORTED_RUNTIMES:
        raise ConfigError(f"unsupported runtime {options.runtime!r}: lambdash runs on {', '.join(SUPPORTED_RUNTIMES)}")
    if options.architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {options.architecture!r}: choose {' or '.join(ARCHITECTURES)}")
    _check_range("--memory", options.memory_mb, MEMORY_RANGE_MB, "MB")
    _check_range("--timeout", options.timeout_seconds, TIMEOUT_RANGE_SECONDS, "seconds")
    _check_range("--ephemeral-storage", options.ephemeral_storage_mb, EPHEMERAL_STORAGE_RANGE_MB, "MB")
    if options.use_bucket and options.bucket is not None and not _BUCKET.match(options.bucket):
        raise ConfigError(f"invalid bucket name {options.bucket!r}: use 3 to 63 lowercase letters, digits, "
                          "'.' or '-', starting and ending with a letter or digit")
    if not _PREFIX.match(options.prefix):
        raise ConfigError(f"invalid prefix {options.prefix!r}")
    for subnet in options.subnet_ids:
        if not _SUBNET.match(subnet):
            raise ConfigError(f"invalid subnet id {subnet!r} (expected subnet-0123abcd...)")
    for group in options.security_group_ids:
        if not _SECURITY_GROUP.match(group):
            raise ConfigError(f"invalid security group id {group!r} (expected sg-0123abcd...)")
    if bool(options.subnet_ids) != bool(options.security_group_ids):
        raise ConfigError("a function in a VPC needs both --subnet and --security-group")


def _check_range(option: str, value: int, bounds: tuple[int, int], unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{option} must be from {low} to {high} {unit}, not {value}")


def default_bucket_name(account: str, region: str) -> str:
    """The spill bucket deploy creates unless told otherwise: one per account and region."""
    return f"lambdash-{account}-{region}"


def resolve_settings(options: DeployOptions, identity: CallerIdentity, region: str) -> DeploySettings:
    """The settings for this account and region (the default bucket name needs the account id)."""
    bucket = (options.bucket or default_bucket_name(identity.account, region)) if options.use_bucket else None
    return DeploySettings(
        name=options.name,
        region=region,
        account=identity.account,
        partition=identity.partition,
        runtime=options.runtime,
        architecture=options.architecture,
        memory_mb=options.memory_mb,
        timeout_seconds=options.timeout_seconds,
        ephemeral_storage_mb=options.ephemeral_storage_mb,
        bucket=bucket,
        prefix=options.prefix,
        subnet_ids=tuple(sorted(set(options.subnet_ids))),
        security_group_ids=tuple(sorted(set(options.security_group_ids))),
        stream=options.stream,
    )


def check_network(client: DeployClient, settings: DeploySettings) -> None:
    """The subnets and security groups exist, in one VPC (read-only EC2 calls)."""
    if not settings.subnet_ids:
        return
    vpcs = set(client.check_subnets(list(settings.subnet_ids)))
    vpcs |= set(client.check_security_groups(list(settings.security_group_ids)))
    if len(vpcs) > 1:
        raise ConfigError(f"the subnets and security groups are in different VPCs ({', '.join(sorted(vpcs))})")


# -- reading what exists -----------------------------------------------------------------------------------------------

def observe(client: DeployClient, settings: DeploySettings, *, bucket: str | None = None) -> ObservedState:
    """Read the role, the bucket (``bucket``, else the settings') and the function. Only reads."""
    bucket = bucket or settings.bucket
    return ObservedState(
        role=observe_role(client, settings.role_name),
        bucket=observe_bucket(client, bucket) if bucket else None,
        function=observe_function(client, settings.name),
    )


def observe_role(client: DeployClient, name: str) -> RoleState | None:
    role = client.get_role(name)
    if role is None:
        return None
    return RoleState(
        name=name,
        arn=role["Arn"],
        tags={tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
        trust_policy=role.get("AssumeRolePolicyDocument", {}),
        attached_policy_arns=tuple(sorted(client.attached_role_policies(name))),
        inline_policies=client.inline_role_policies(name),
    )


def observe_bucket(client: DeployClient, name: str) -> BucketState:
    access = BucketAccess(client.bucket_access(name))
    if access is not BucketAccess.OWNED:
        return BucketState(name=name, access=access)
    return BucketState(
        name=name,
        access=access,
        tags=client.bucket_tags(name),
        public_access_block=client.public_access_block(name),
        sse_algorithm=client.bucket_sse_algorithm(name),
        lifecycle_rules=tuple(client.lifecycle_rules(name)),
    )


def observe_function(client: DeployClient, name: str) -> FunctionState | None:
    found = client.get_function(name)
    if found is None:
        return None
    return function_state(found["Configuration"], found["Tags"], has_url=client.has_function_url(name),
                          policy_statement_ids=tuple(client.function_policy_statement_ids(name)))


def function_state(
    configuration: Mapping[str, Any], tags: Mapping[str, str], *, has_url: bool = False,
    policy_statement_ids: tuple[str, ...] = (),
) -> FunctionState:
    """A FunctionState from GetFunction's Configuration (or GetFunctionConfiguration's answer) and Tags."""
    vpc = configuration.get("VpcConfig") or {}
    environment = configuration.get("Environment") or {}
    error = environment.get("Error") or {}
    return FunctionState(
        name=configuration["FunctionName"],
        arn=configuration["FunctionArn"],
        tags=dict(tags),
        runtime=configuration.get("Runtime"),
        handler=configuration.get("Handler"),
        architecture=(configuration.get("Architectures") or ["x86_64"])[0],
        memory_mb=int(configuration.get("MemorySize", 128)),
        timeout_seconds=int(configuration.get("Timeout", 3)),
        ephemeral_storage_mb=int((configuration.get("EphemeralStorage") or {}).get("Size", 512)),
        environment=dict((configuration.get("Environment") or {}).get("Variables") or {}),
        role_arn=configuration.get("Role", ""),
        code_sha256=configuration.get("CodeSha256", ""),
        code_size=int(configuration.get("CodeSize", 0)),
        subnet_ids=tuple(sorted(vpc.get("SubnetIds") or ())),
        security_group_ids=tuple(sorted(vpc.get("SecurityGroupIds") or ())),
        description=configuration.get("Description", ""),
        state=configuration.get("State"),
        last_update_status=configuration.get("LastUpdateStatus"),
        last_modified=configuration.get("LastModified"),
        has_url=has_url,
        policy_statement_ids=policy_statement_ids,
        layers=tuple(layer["Arn"] for layer in configuration.get("Layers") or ()),
        # Only meaningful in a VPC: a function outside one is never dual stack.
        ipv6_dual_stack=bool(vpc.get("SubnetIds")) and bool(vpc.get("Ipv6AllowedForDualStack")),
        file_systems=tuple(sorted(
            (FileSystem(system["Arn"], system["LocalMountPath"])
             for system in configuration.get("FileSystemConfigs") or ()),
            key=lambda system: (system.mount_path, system.arn),
        )),
        # Lambda reports no key, or an empty one, for its own AWS managed key.
        kms_key_arn=configuration.get("KMSKeyArn") or None,
        package_type=configuration.get("PackageType") or "Zip",
        environment_error=(f"{error.get('ErrorCode') or 'error'}: {error.get('Message') or 'no message'}"
                           if error else None),
    )


# -- planning a deploy -------------------------------------------------------------------------------------------------

def plan_deploy(settings: DeploySettings, observed: ObservedState, code_sha256: str) -> Plan:
    """Bucket, role, then function: each one created, updated or left alone, and why."""
    changes = [plan_role(settings, observed.role) if settings.own_role else plan_borrowed_role(settings),
               plan_function(settings, observed.function, code_sha256)]
    if settings.bucket is not None:
        changes.insert(0, plan_bucket(settings, observed.bucket or BucketState(settings.bucket, BucketAccess.MISSING)))
    return Plan(settings=settings, changes=tuple(changes))


def plan_bucket(settings: DeploySettings, bucket: BucketState) -> PlannedChange:
    resource = Resource(ResourceKind.BUCKET, bucket.name)
    configure = (
        Step(Operation.PUT_PUBLIC_ACCESS_BLOCK), Step(Operation.PUT_BUCKET_ENCRYPTION),
        Step(Operation.PUT_BUCKET_LIFECYCLE),
    )
    if bucket.access is BucketAccess.MISSING:
        # Tagged first, so a deploy cut short leaves a bucket the next deploy knows is its own.
        return PlannedChange(resource, Action.CREATE, "does not exist",
                             (Step(Operation.CREATE_BUCKET), Step(Operation.PUT_BUCKET_TAGS), *configure))
    if bucket.access is BucketAccess.FORBIDDEN:
        raise ConfigError(
            f"bucket {bucket.name} exists but this account cannot use it (it belongs to another account, "
            "or s3:ListBucket is denied); choose another with --bucket NAME, or --no-bucket"
        )
    if not bucket.managed:
        return PlannedChange(resource, Action.NO_CHANGE,
                             "exists without the lambdash tag: used as it is, never changed or removed")
    details: list[str] = []
    steps: list[Step] = []
    if dict(bucket.public_access_block or {}) != PUBLIC_ACCESS_BLOCK:
        details.append("public access block is not fully on")
        steps.append(configure[0])
    if bucket.sse_algorithm != SSE_ALGORITHM:
        details.append(f"default encryption is {bucket.sse_algorithm or 'off'}, not SSE-S3 ({SSE_ALGORITHM})")
        steps.append(configure[1])
    ours = [rule for rule in bucket.lifecycle_rules if rule.get("ID") == LIFECYCLE_RULE_ID]
    if len(bucket.lifecycle_rules) != 1 or not ours or not _contains(ours[0], settings.lifecycle_rule):
        details.append(f"lifecycle is not exactly: expire {settings.prefix}/ after 1 day")
        steps.append(configure[2])
    return _change(resource, details, steps)


def plan_role(settings: DeploySettings, role: RoleState | None) -> PlannedChange:
    resource = Resource(ResourceKind.ROLE, settings.role_name)
    wanted_policies = settings.managed_policy_arns
    spill = settings.spill_policy
    if role is None:
        steps = [Step(Operation.CREATE_ROLE), *(Step(Operation.ATTACH_ROLE_POLICY, arn) for arn in wanted_policies)]
        if spill is not None:
            steps.append(Step(Operation.PUT_ROLE_POLICY, SPILL_POLICY_NAME))
        return PlannedChange(resource, Action.CREATE, "does not exist", tuple(steps))
    if not role.managed:
        raise ConfigError(
            f"role {role.name} exists but was not created by lambdash (no lambdash=managed tag); "
            "remove it or choose another --name"
        )
    details: list[str] = []
    steps = []
    if canonical(role.trust_policy) != canonical(settings.trust_policy):
        details.append("trust policy is not lambda.amazonaws.com only")
        steps.append(Step(Operation.UPDATE_TRUST_POLICY))
    for arn in wanted_policies:
        if arn not in role.attached_policy_arns:
            details.append(f"{_policy_name(arn)} is not attached")
            steps.append(Step(Operation.ATTACH_ROLE_POLICY, arn))
    for arn in role.attached_policy_arns:
        if arn not in wanted_policies:
            details.append(f"{_policy_name(arn)} is attached but not wanted")
            steps.append(Step(Operation.DETACH_ROLE_POLICY, arn))
    for name, document in sorted(role.inline_policies.items()):
        if name != SPILL_POLICY_NAME or spill is None:
            details.append(f"inline policy {name} is not wanted")
            steps.append(Step(Operation.DELETE_ROLE_POLICY, name))
        elif canonical(document) != canonical(spill):
            details.append(f"inline policy {name} differs (wanted: {settings.bucket}/{settings.prefix}/* only)")
            steps.append(Step(Operation.PUT_ROLE_POLICY, name))
    if spill is not None and SPILL_POLICY_NAME not in role.inline_policies:
        details.append(f"inline policy {SPILL_POLICY_NAME} is missing")
        steps.append(Step(Operation.PUT_ROLE_POLICY, SPILL_POLICY_NAME))
    return _change(resource, details, steps)


def plan_borrowed_role(settings: DeploySettings) -> PlannedChange:
    """A twin made with --with-role runs with its function's role, which lambdash never changes."""
    name = settings.role_arn.rsplit("/", 1)[-1]
    return PlannedChange(Resource(ResourceKind.ROLE, name), Action.NO_CHANGE,
                         "the role of the function the twin is like (--with-role): used as it is, never changed")


def plan_function(settings: DeploySettings, function: FunctionState | None, code_sha256: str) -> PlannedChange:
    resource = Resource(ResourceKind.FUNCTION, settings.name)
    if function is None:
        return PlannedChange(resource, Action.CREATE, "does not exist", (Step(Operation.CREATE_FUNCTION),))
    if not function.managed:
        raise ConfigError(
            f"function {function.name} exists but was not created by lambdash (no lambdash=managed tag); "
            "choose another --name"
        )
    check_twin_identity(settings, function)
    details: list[str] = []
    steps: list[Step] = []
    # Access first: a lambdash function is reachable by its owner only.
    if function.has_url:
        details.append("it has a function URL")
        steps.append(Step(Operation.DELETE_FUNCTION_URL))
    for statement in function.policy_statement_ids:
        details.append(f"its resource policy lets others invoke it ({statement})")
        steps.append(Step(Operation.REMOVE_PERMISSION, statement))

    code_details = []
    if function.code_sha256 != code_sha256:
        code_details.append(f"code sha256 {_short_sha(function.code_sha256)} -> {_short_sha(code_sha256)}")
    if function.architecture != settings.architecture:
        code_details.append(f"architecture {function.architecture} -> {settings.architecture}")
    if code_details:
        details.extend(code_details)
        steps.append(Step(Operation.UPDATE_FUNCTION_CODE))

    config_details = configuration_differences(settings, function)
    if config_details:
        details.extend(config_details)
        steps.append(Step(Operation.UPDATE_FUNCTION_CONFIGURATION))

    missing_tags = {key: value for key, value in settings.function_tags.items() if function.tags.get(key) != value}
    if missing_tags:
        if not config_details and not code_details:
            details.append("tags " + ", ".join(sorted(missing_tags)) + " out of date")
        steps.append(Step(Operation.TAG_FUNCTION))
    return _change(resource, details, steps)


def check_twin_identity(settings: DeploySettings, function: FunctionState) -> None:
    """A twin is only ever updated as the twin of the same function, and a plain deploy never takes one over."""
    if settings.like is None and function.like is not None:
        raise ConfigError(
            f"function {function.name} is a twin of {function.like} (made by `lambdash deploy --like`); "
            f"update it with `{redeploy_command(function.name, function.like)}`, or choose another --name"
        )
    if settings.like is not None and function.like is None:
        raise ConfigError(f"function {function.name} is a lambdash function but not a twin; "
                          "choose another --name for the twin")
    if settings.like is not None and function.like != settings.like:
        raise ConfigError(f"function {function.name} is the twin of {function.like}, not of {settings.like}; "
                          "choose another --name for this twin")


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
                                                       hide_values=settings.like is not None))
    compare("KMS key", function.kms_key_arn or "(AWS managed)", settings.kms_key_arn or "(AWS managed)")
    if (function.subnet_ids, function.security_group_ids) != (settings.subnet_ids, settings.security_group_ids):
        differences.append(
            f"VPC {_describe_vpc(function.subnet_ids, function.security_group_ids)} -> "
            f"{_describe_vpc(settings.subnet_ids, settings.security_group_ids)}"
        )
    if settings.subnet_ids:
        compare("IPv6 dual stack", _on_off(function.ipv6_dual_stack), _on_off(settings.ipv6_dual_stack))
    compare("layers", describe_layers(function.layers), describe_layers(settings.layers))
    compare("file systems", describe_file_systems(function.file_systems), describe_file_systems(settings.file_systems))
    return differences


def _change(resource: Resource, details: list[str], steps: list[Step]) -> PlannedChange:
    if not steps:
        return PlannedChange(resource, Action.NO_CHANGE, "up to date")
    return PlannedChange(resource, Action.UPDATE, "; ".join(details), tuple(steps), tuple(details))


def _contains(observed: Any, wanted: Any) -> bool:
    """Whether ``observed`` has every key and value of ``wanted`` (AWS adds defaults of its own)."""
    if isinstance(wanted, Mapping):
        return isinstance(observed, Mapping) and all(
            key in observed and _contains(observed[key], value) for key, value in wanted.items()
        )
    return bool(observed == wanted)


def _policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _short_sha(sha: str) -> str:
    return sha[:12] + "..." if sha else "(none)"


def _describe_environment(environment: Mapping[str, str]) -> str:
    if not environment:
        return "(empty)"
    return " ".join(f"{key}={value}" for key, value in sorted(environment.items()))


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


def layer_label(arn: str) -> str:
    """``name:version`` of a layer version ARN (``arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION``)."""
    parts = arn.split(":")
    return ":".join(parts[6:8]) if len(parts) >= 8 and parts[5] == "layer" else arn


def describe_layers(layers: tuple[str, ...]) -> str:
    return ", ".join(layer_label(arn) for arn in layers) or "(none)"


def describe_file_systems(systems: tuple[FileSystem, ...]) -> str:
    return ", ".join(f"{system.arn.rsplit('/', 1)[-1]} at {system.mount_path}" for system in systems) or "(none)"


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _describe_vpc(subnets: tuple[str, ...], groups: tuple[str, ...]) -> str:
    if not subnets and not groups:
        return "(none)"
    return f"subnets {','.join(subnets) or '-'} groups {','.join(groups) or '-'}"


# -- status: what changed outside lambdash ---------------------------------------------------------------------------

def recorded_settings(base: DeploySettings, function: FunctionState) -> tuple[DeploySettings, list[str]]:
    """The settings the function was deployed with (from its settings tag), and notes on what is unknown.

    Only a digest of the VPC ids is recorded: when it still matches, the function's
    own ids are the deployed ones; otherwise the VPC changed outside lambdash.
    """
    record = function.tags.get(SETTINGS_TAG_KEY)
    notes: list[str] = []
    if record is None:
        notes.append(f"no {SETTINGS_TAG_KEY} tag: compared with deploy's defaults")
        bucket = function.environment.get(ENV_BUCKET)
        settings = replace(base, bucket=bucket, prefix=function.environment.get(ENV_PREFIX, base.prefix))
        return replace(settings, subnet_ids=function.subnet_ids,
                       security_group_ids=function.security_group_ids), notes
    settings = base.from_record(record)
    recorded_vpc = dict(item.partition("=")[::2] for item in record.split()).get("vpc", "-")
    settings = replace(settings, subnet_ids=function.subnet_ids, security_group_ids=function.security_group_ids)
    if vpc_digest(function.subnet_ids, function.security_group_ids) != recorded_vpc:
        notes.append("VPC subnets or security groups changed outside lambdash")
    if function.like is not None:
        settings = _recorded_twin_settings(settings, function, notes)
    return settings, notes


def _recorded_twin_settings(settings: DeploySettings, function: FunctionState, notes: list[str]) -> DeploySettings:
    """A twin's copied settings as it has them, with a note for each that changed outside lambdash.

    Only digests of what the twin copied are recorded: when one still matches, the
    twin's own value is the deployed one; otherwise it was changed outside lambdash.
    """
    recorded = record_fields(function.tags.get(TWIN_TAG_KEY, ""))
    copied_env = recorded.get("env", "-") != "-"
    borrowed_role = recorded.get("role", "own") != "own"
    twin = replace(
        settings,
        like=function.like,
        like_record=function.tags.get(LIKE_RECORD_TAG_KEY, ""),
        layers=function.layers,
        ipv6_dual_stack=function.ipv6_dual_stack,
        file_systems=function.file_systems,
        copied_environment=tuple(sorted((name, value) for name, value in function.environment.items()
                                        if not lambdash_owns(name))) if copied_env else (),
        environment_copied=copied_env,
        kms_key_arn=function.kms_key_arn if copied_env else None,
        execution_role_arn=function.role_arn if borrowed_role else None,
    )
    now = record_fields(twin.twin_record())
    labels = {"layers": "layers", "ipv6": "IPv6 dual stack", "fs": "file systems",
              "env": "names of the copied environment variables", "kms": "KMS key", "role": "role"}
    for key, label in labels.items():
        # With nothing copied, a difference shows in the drift itself (deploy would remove it).
        if key in recorded and recorded[key] != "-" and now.get(key) != recorded[key]:
            notes.append(f"{label} changed outside lambdash")
    return twin


# -- planning a destroy ------------------------------------------------------------------------------------------------

def bucket_of(observed: ObservedState) -> str | None:
    """Which spill bucket the deployment uses: the function's LAMBDASH_BUCKET, else the role's spill policy."""
    if observed.function is not None and observed.function.environment.get(ENV_BUCKET):
        return observed.function.environment[ENV_BUCKET]
    if observed.role is not None and SPILL_POLICY_NAME in observed.role.inline_policies:
        statements = observed.role.inline_policies[SPILL_POLICY_NAME].get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            resources = statement.get("Resource", [])
            for resource in [resources] if isinstance(resources, str) else resources:
                match = re.match(r"^arn:[\w-]+:s3:::([^/]+)/", resource)
                if match:
                    return match.group(1)
    return None


def plan_destroy(settings: DeploySettings, observed: ObservedState, bucket_users: tuple[str, ...] = ()) -> Plan:
    """Function, role, then bucket: removed only when tagged lambdash=managed."""
    changes = [
        _destroy_function(settings, observed.function),
        _destroy_role(settings, observed.role),
    ]
    if observed.bucket is not None:
        changes.append(_destroy_bucket(observed.bucket, bucket_users))
    return Plan(settings=settings, changes=tuple(changes))


def _destroy_function(settings: DeploySettings, function: FunctionState | None) -> PlannedChange:
    resource = Resource(ResourceKind.FUNCTION, settings.name)
    if function is None:
        return PlannedChange(resource, Action.KEEP, "does not exist")
    if not function.managed:
        return PlannedChange(resource, Action.KEEP, "not tagged lambdash=managed: left alone")
    reason = "tagged lambdash=managed"
    if function.like is not None:
        reason += f"; a twin of {function.like}, which is not touched"
    return PlannedChange(resource, Action.DELETE, reason, (Step(Operation.DELETE_FUNCTION),))


def _destroy_role(settings: DeploySettings, role: RoleState | None) -> PlannedChange:
    resource = Resource(ResourceKind.ROLE, settings.role_name)
    if role is None:
        return PlannedChange(resource, Action.KEEP, "does not exist")
    if not role.managed:
        return PlannedChange(resource, Action.KEEP, "not tagged lambdash=managed: left alone")
    steps = [Step(Operation.DETACH_ROLE_POLICY, arn) for arn in role.attached_policy_arns]
    steps += [Step(Operation.DELETE_ROLE_POLICY, name) for name in sorted(role.inline_policies)]
    steps.append(Step(Operation.DELETE_ROLE))
    return PlannedChange(resource, Action.DELETE, "tagged lambdash=managed", tuple(steps))


def _destroy_bucket(bucket: BucketState, users: tuple[str, ...]) -> PlannedChange:
    resource = Resource(ResourceKind.BUCKET, bucket.name)
    if bucket.access is BucketAccess.MISSING:
        return PlannedChange(resource, Action.KEEP, "does not exist")
    if bucket.access is BucketAccess.FORBIDDEN or not bucket.managed:
        return PlannedChange(resource, Action.KEEP, "not tagged lambdash=managed: left alone")
    if users:
        return PlannedChange(resource, Action.KEEP, f"still the spill bucket of {', '.join(users)}")
    return PlannedChange(resource, Action.DELETE, "tagged lambdash=managed (emptied first, every version)",
                         (Step(Operation.EMPTY_BUCKET), Step(Operation.DELETE_BUCKET)))


# -- the three commands' reads, in one place -------------------------------------------------------------------------

def prepare_deploy(client: DeployClient, options: DeployOptions, code_sha256: str) -> Plan:
    """Validate, resolve the account and region, check the network, read what exists, and plan. Only reads."""
    validate_options(options)
    settings = resolve_settings(options, client.caller_identity(), client.region)
    check_network(client, settings)
    return plan_deploy(settings, observe(client, settings), code_sha256)


def base_settings(client: DeployClient, name: str) -> DeploySettings:
    """Deploy's defaults for this function in the client's account and region."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid --name {name!r}: use 1 to 50 letters, digits, '-' or '_'")
    return resolve_settings(DeployOptions(name=name), client.caller_identity(), client.region)


def check_twin_of(function: FunctionState, like: FunctionReference | None) -> None:
    """With ``--like FUNCTION``, the function must be FUNCTION's twin."""
    if like is not None and (function.like is None or not like.matches(function.like)):
        what = f"the twin of {function.like}" if function.like else "not a twin"
        raise ConfigError(f"function {function.name} is {what}, not a twin of {like.text}; name the twin with --name")


def prepare_destroy(client: DeployClient, name: str, like: FunctionReference | None = None) -> Plan:
    """What destroy would remove: only what carries the lambdash=managed tag, and a bucket no one else uses."""
    settings = base_settings(client, name)
    role = observe_role(client, settings.role_name)
    function = observe_function(client, name)
    if function is not None:
        check_twin_of(function, like)
    bucket_name = bucket_of(ObservedState(role=role, bucket=None, function=function)) or settings.bucket
    bucket = observe_bucket(client, bucket_name) if bucket_name else None
    users: tuple[str, ...] = ()
    if bucket is not None and bucket.managed:
        users = tuple(user for user in client.functions_using_bucket(bucket.name) if user != name)
    settings = replace(settings, bucket=bucket_name)
    return plan_destroy(settings, ObservedState(role=role, bucket=bucket, function=function), users)


def inspect_status(
    client: DeployClient, name: str, code_sha256: str, like: FunctionReference | None = None
) -> StatusReport:
    """The function, its role and bucket, and every difference from what its last deploy set."""
    base = base_settings(client, name)
    function = observe_function(client, name)
    if function is None:
        create = f"lambdash deploy --like {like.text}" if like else "lambdash deploy"
        raise ConfigError(f"function {name!r} not found in {base.region}; create it with `{create}`")
    if not function.managed:
        raise ConfigError(f"function {name!r} was not deployed by lambdash (no lambdash=managed tag)")
    check_twin_of(function, like)
    settings, notes = recorded_settings(base, function)
    observed = observe(client, settings)
    drift = list(notes)
    for change in plan_deploy(settings, observed, code_sha256).changes:
        label = f"{change.resource.kind} {change.resource.name}"
        if change.action is Action.CREATE:
            drift.append(f"{label}: missing")
        elif change.action is Action.UPDATE:
            drift.extend(f"{label}: {detail}" for detail in change.details)
    return StatusReport(settings=settings, function=function, role=observed.role, bucket=observed.bucket,
                        local_code_sha256=code_sha256, drift=tuple(drift))
