"""Compare what deploy wants with what exists, and say what must change. Pure: no AWS.

``plan_deploy`` and ``plan_destroy`` turn settings and observed state (read by
``observed``) into a ``Plan`` that ``--dry-run`` prints and the executor applies.
``recorded_settings`` and ``plan_status`` give what ``status`` shows: the same
deploy plan, read as drift from the settings the function was deployed with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambdash.deploy.documents import (
    LIFECYCLE_RULE_ID,
    PUBLIC_ACCESS_BLOCK,
    SPILL_POLICY_NAME,
    SSE_ALGORITHM,
    canonical,
)
from lambdash.deploy.drift import configuration_differences, short_sha
from lambdash.deploy.observed import BucketAccess, BucketState, FunctionState, ObservedState, RoleState
from lambdash.deploy.plan import Action, Operation, Plan, PlannedChange, Resource, ResourceKind, StatusReport, Step
from lambdash.deploy.settings import DeploySettings
from lambdash.deploy.tags import SETTINGS_TAG_KEY, decode_record, function_tags, settings_from_record, vpc_digest
from lambdash.deploy.twin import check_twin_identity, recorded_twin_settings
from lambdash.errors import ConfigError
from lambdash_handler.contract import ENV_BUCKET, ENV_PREFIX
from lambdash_handler.contract.session import SESSION_ROLE_NAME

# -- planning a deploy -------------------------------------------------------------------------------------------------

def plan_deploy(settings: DeploySettings, observed: ObservedState, code_sha256: str) -> Plan:
    """Bucket, role, then function: each one created, updated or left alone, and why."""
    changes = [plan_role(settings, observed.role) if settings.own_role else plan_borrowed_role(settings),
               plan_function(settings, observed.function, code_sha256)]
    if settings.sessions:
        changes.insert(0, plan_session_role(settings, observed.session_role))
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
    if role is None:
        steps = [Step(Operation.CREATE_ROLE),
                 *(Step(Operation.ATTACH_ROLE_POLICY, arn) for arn in settings.managed_policy_arns),
                 *(Step(Operation.PUT_ROLE_POLICY, name) for name in sorted(settings.inline_policies(resource.name)))]
        return PlannedChange(resource, Action.CREATE, "does not exist", tuple(steps))
    if not role.managed:
        raise ConfigError(
            f"role {role.name} exists but was not created by lambdash (no lambdash=managed tag); "
            "remove it or choose another --name"
        )
    differences = [*_role_policy_differences(settings, role), *_inline_policy_differences(settings, role)]
    return _change(resource, [detail for detail, _ in differences], [step for _, step in differences])


def plan_session_role(settings: DeploySettings, role: RoleState | None) -> PlannedChange:
    """The account's session role: assumed by lambdash's function roles, it may only send to session queues."""
    resource = Resource(ResourceKind.SESSIONS, SESSION_ROLE_NAME)
    if role is None:
        steps = (Step(Operation.CREATE_ROLE),
                 *(Step(Operation.PUT_ROLE_POLICY, name) for name in sorted(settings.inline_policies(resource.name))))
        return PlannedChange(resource, Action.CREATE, "does not exist (the account's lambdash functions share it: "
                                                      "sessions hand out its send-only credentials)", steps)
    if not role.managed:
        raise ConfigError(
            f"role {role.name} exists but was not created by lambdash (no lambdash=managed tag); sessions "
            "(lambdash -i, the REPL's :i and :py) need it as lambdash makes it: remove it, then deploy again"
        )
    differences = [*_role_policy_differences(settings, role), *_inline_policy_differences(settings, role)]
    return _change(resource, [detail for detail, _ in differences], [step for _, step in differences])


def _role_policy_differences(settings: DeploySettings, role: RoleState) -> list[tuple[str, Step]]:
    """The trust policy, and the managed policies attached that should not be or missing that should."""
    session_role = role.name == SESSION_ROLE_NAME
    wanted = () if session_role else settings.managed_policy_arns
    differences = []
    if canonical(role.trust_policy) != canonical(settings.role_trust_policy(role.name)):
        trusted = "lambdash's function roles" if session_role else "lambda.amazonaws.com"
        differences.append((f"trust policy is not {trusted} only", Step(Operation.UPDATE_TRUST_POLICY)))
    differences += [(f"{_policy_name(arn)} is not attached", Step(Operation.ATTACH_ROLE_POLICY, arn))
                    for arn in wanted if arn not in role.attached_policy_arns]
    differences += [(f"{_policy_name(arn)} is attached but not wanted", Step(Operation.DETACH_ROLE_POLICY, arn))
                    for arn in role.attached_policy_arns if arn not in wanted]
    return differences


def _inline_policy_differences(settings: DeploySettings, role: RoleState) -> list[tuple[str, Step]]:
    """The role's inline policies are exactly deploy's: the spill policy (with a bucket) and the sessions policy."""
    wanted = settings.inline_policies(role.name)
    differences = []
    for name, document in sorted(role.inline_policies.items()):
        if name not in wanted:
            differences.append((f"inline policy {name} is not wanted", Step(Operation.DELETE_ROLE_POLICY, name)))
        elif canonical(document) != canonical(wanted[name]):
            scope = (f"{settings.bucket}/{settings.prefix}/* only" if name == SPILL_POLICY_NAME
                     else "session queues and the session role only")
            differences.append((f"inline policy {name} differs (wanted: {scope})",
                                Step(Operation.PUT_ROLE_POLICY, name)))
    differences += [(f"inline policy {name} is missing", Step(Operation.PUT_ROLE_POLICY, name))
                    for name in sorted(wanted) if name not in role.inline_policies]
    return differences


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

    code_details = _code_differences(settings, function, code_sha256)
    if code_details:
        details.extend(code_details)
        steps.append(Step(Operation.UPDATE_FUNCTION_CODE))

    config_details = configuration_differences(settings, function)
    if config_details:
        details.extend(config_details)
        steps.append(Step(Operation.UPDATE_FUNCTION_CONFIGURATION))

    wanted_tags = function_tags(settings)
    missing_tags = {key: value for key, value in wanted_tags.items() if function.tags.get(key) != value}
    if missing_tags:
        if not config_details and not code_details:
            details.append("tags " + ", ".join(sorted(missing_tags)) + " out of date")
        steps.append(Step(Operation.TAG_FUNCTION))
    return _change(resource, details, steps)


def _code_differences(settings: DeploySettings, function: FunctionState, code_sha256: str) -> list[str]:
    """The code, and the architecture, which goes with the code in Lambda's API."""
    differences = []
    if function.code_sha256 != code_sha256:
        differences.append(f"code sha256 {short_sha(function.code_sha256)} -> {short_sha(code_sha256)}")
    if function.architecture != settings.architecture:
        differences.append(f"architecture {function.architecture} -> {settings.architecture}")
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
    settings = settings_from_record(base, record)
    recorded_vpc = decode_record(record).get("vpc", "-")
    settings = replace(settings, subnet_ids=function.subnet_ids, security_group_ids=function.security_group_ids)
    if vpc_digest(function.subnet_ids, function.security_group_ids) != recorded_vpc:
        notes.append("VPC subnets or security groups changed outside lambdash")
    if function.twin_of is not None:
        settings, twin_notes = recorded_twin_settings(settings, function)
        notes += twin_notes
    return settings, notes


def plan_status(
    settings: DeploySettings, notes: list[str], function: FunctionState, observed: ObservedState, code_sha256: str
) -> StatusReport:
    """The function as it is, and as drift: the notes, then everything a deploy of ``settings`` would change."""
    drift = list(notes)
    for change in plan_deploy(settings, observed, code_sha256).changes:
        label = f"{change.resource.kind} {change.resource.name}"
        if change.action is Action.CREATE:
            drift.append(f"{label}: missing")
        elif change.action is Action.UPDATE:
            drift.extend(f"{label}: {detail}" for detail in change.details)
    return StatusReport(settings=settings, function=function, role=observed.role, bucket=observed.bucket,
                        local_code_sha256=code_sha256, drift=tuple(drift))


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
    if function.twin_of is not None:
        reason += f"; a twin of {function.twin_of}, which is not touched"
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
