"""What deploy will change, and what status reports: plain frozen data, printed and tested without AWS.

A ``Plan`` is the settings and a tuple of ``PlannedChange``, one per resource, each
with the ``Step`` calls that make it so; ``--dry-run`` prints it, the executor
applies it. A ``StatusReport`` is the function as it is and its drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambdash.deploy.observed import BucketState, FunctionState, RoleState
from lambdash.deploy.settings import DeploySettings
from lambdash.deploy.tags import CODE_OF_TAG_KEY
from lambdash_handler.contract import ENV_BUCKET, ENV_EXEC_WRAPPER, ENV_LIKE_HANDLER, ENV_PREFIX
from lambdash_handler.contract.session import ENV_SESSION_ROLE


class Action(StrEnum):
    """What a plan does to one resource."""

    CREATE = "create"
    UPDATE = "update"
    NO_CHANGE = "no-change"
    DELETE = "delete"
    KEEP = "keep"


class ResourceKind(StrEnum):
    BUCKET = "bucket"
    # The account's session role, shared by its lambdash functions (see ``planner.plan_session_role``).
    SESSIONS = "sessions"
    ROLE = "role"
    FUNCTION = "function"


class Operation(StrEnum):
    """One kind of call the executor makes; each has exactly one method in ``PlanExecutor``."""

    CREATE_BUCKET = "create_bucket"
    PUT_BUCKET_TAGS = "put_bucket_tags"
    PUT_PUBLIC_ACCESS_BLOCK = "put_public_access_block"
    PUT_BUCKET_ENCRYPTION = "put_bucket_encryption"
    PUT_BUCKET_LIFECYCLE = "put_bucket_lifecycle"
    EMPTY_BUCKET = "empty_bucket"
    DELETE_BUCKET = "delete_bucket"
    CREATE_ROLE = "create_role"
    UPDATE_TRUST_POLICY = "update_trust_policy"
    ATTACH_ROLE_POLICY = "attach_role_policy"
    DETACH_ROLE_POLICY = "detach_role_policy"
    PUT_ROLE_POLICY = "put_role_policy"
    DELETE_ROLE_POLICY = "delete_role_policy"
    DELETE_ROLE = "delete_role"
    CREATE_FUNCTION = "create_function"
    UPDATE_FUNCTION_CODE = "update_function_code"
    UPDATE_FUNCTION_CONFIGURATION = "update_function_configuration"
    TAG_FUNCTION = "tag_function"
    DELETE_FUNCTION_URL = "delete_function_url"
    REMOVE_PERMISSION = "remove_permission"
    DELETE_FUNCTION = "delete_function"


@dataclass(frozen=True)
class Step:
    """One call the executor makes, e.g. ``attach_role_policy`` with a policy ARN as its argument."""

    operation: Operation
    argument: str = ""

    def __str__(self) -> str:
        return f"{self.operation}({self.argument})" if self.argument else self.operation


@dataclass(frozen=True)
class Resource:
    kind: ResourceKind
    name: str


@dataclass(frozen=True)
class PlannedChange:
    """What happens to one resource and why; ``steps`` are the calls that make it so.

    ``reason`` is one line for people; ``details`` holds each difference on its own
    (status lists them as drift).
    """

    resource: Resource
    action: Action
    reason: str
    steps: tuple[Step, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The changes to make, in the order to make them."""

    settings: DeploySettings
    changes: tuple[PlannedChange, ...]

    @property
    def changed(self) -> bool:
        return any(change.action not in (Action.NO_CHANGE, Action.KEEP) for change in self.changes)

    @property
    def header(self) -> str:
        """The line above the plan: which function, where."""
        return f"function {self.settings.name} in {self.settings.region} (account {self.settings.account}):"

    def lines(self) -> list[str]:
        """One aligned line per resource: kind, name, action, reason."""
        if not self.changes:
            return []
        width = max(len(change.resource.name) for change in self.changes)
        return [
            f"{change.resource.kind:<9}{change.resource.name:<{width}}  {change.action:<11}{change.reason}"
            for change in self.changes
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.public_dict(),
            "changed": self.changed,
            "changes": [
                {
                    "kind": str(change.resource.kind),
                    "name": change.resource.name,
                    "action": str(change.action),
                    "reason": change.reason,
                    "steps": [str(step) for step in change.steps],
                }
                for change in self.changes
            ],
        }


@dataclass(frozen=True)
class StatusReport:
    """What ``lambdash status`` shows: the function as it is, and what deploy would change (drift)."""

    settings: DeploySettings
    function: FunctionState
    role: RoleState | None
    bucket: BucketState | None
    local_code_sha256: str
    drift: tuple[str, ...]
    # For a twin: what changed in its original since the twin was made, or why that is unknown.
    twin_drift: tuple[str, ...] = ()
    twin_drift_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        function = self.function
        return {
            "function": function.name,
            "streaming": ENV_EXEC_WRAPPER in function.environment,
            # The role whose send-only credentials the function hands a session's client (None: no sessions).
            "session_role": function.environment.get(ENV_SESSION_ROLE),
            "arn": function.arn,
            "region": self.settings.region,
            "state": function.state,
            "last_update_status": function.last_update_status,
            "runtime": function.runtime,
            "architecture": function.architecture,
            "memory_mb": function.memory_mb,
            "timeout_seconds": function.timeout_seconds,
            "ephemeral_storage_mb": function.ephemeral_storage_mb,
            "last_modified": function.last_modified,
            "code_sha256": function.code_sha256,
            "local_code_sha256": self.local_code_sha256,
            "code_current": function.code_sha256 == self.local_code_sha256,
            # A twin with its function's code: that code's CodeSha256 when copied, and the function's handler.
            "code_of": function.tags.get(CODE_OF_TAG_KEY),
            "code_handler": function.environment.get(ENV_LIKE_HANDLER),
            "bucket": function.environment.get(ENV_BUCKET),
            "prefix": function.environment.get(ENV_PREFIX),
            "role": function.role_arn,
            "subnet_ids": list(function.subnet_ids),
            "security_group_ids": list(function.security_group_ids),
            "layers": list(function.layers),
            "file_systems": [{"arn": system.arn, "mount_path": system.mount_path} for system in function.file_systems],
            "drift": list(self.drift),
            "like": function.twin_of,
            "like_drift": list(self.twin_drift) if function.twin_of and self.twin_drift_error is None else None,
            "like_error": self.twin_drift_error,
        }
