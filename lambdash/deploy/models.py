"""What deploy wants, what it found, and what it will change: plain frozen data.

``DeploySettings`` is the desired state; its properties derive every document
lambdash puts in AWS (trust policy, spill policy, lifecycle rule, environment),
so the planner, the executor, ``status`` and the CloudFormation template can
never disagree about them. ``RoleState``, ``BucketState`` and ``FunctionState``
are what the planner observed. A ``Plan`` is a tuple of ``PlannedChange``; it
can be printed and tested without AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from handler.constants import DEFAULT_PREFIX, ENV_BUCKET, ENV_EXEC_WRAPPER, ENV_PREFIX, EXEC_WRAPPER_NAME
from lambdash.lambda_defaults import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_FUNCTION_NAME,
    DEFAULT_MEMORY_MB,
    DEFAULT_RUNTIME,
    DEFAULT_TIMEOUT_SECONDS,
)

# Everything lambdash creates carries this tag; destroy removes nothing without it.
MANAGED_TAG_KEY = "lambdash"
MANAGED_TAG_VALUE = "managed"
# The function also records the settings it was deployed with, so `status` can report drift.
SETTINGS_TAG_KEY = "lambdash:settings"
# A twin (`deploy --like FUNCTION`) also carries FUNCTION's ARN, FUNCTION's settings when the twin was
# made (for status's drift from FUNCTION), and digests of what it copied (for drift of its own). Three
# tags, because a Lambda tag value holds at most 256 characters.
LIKE_TAG_KEY = "lambdash:like"
LIKE_RECORD_TAG_KEY = "lambdash:like-record"
TWIN_TAG_KEY = "lambdash:twin"

# Where Lambda unpacks the zip: the exec wrapper that starts the streaming runtime loop is here.
DEPLOYED_EXEC_WRAPPER = f"/var/task/handler/{EXEC_WRAPPER_NAME}"
# The role is lambdash-NAME-role, and IAM allows role names of at most 64 characters.
MAX_NAME_LENGTH = 50
# A twin is named after the function it is like, unless --name says otherwise.
TWIN_NAME_PREFIX = "lambdash-like-"
# Runtimes the handler supports (it needs Python 3.11 or later).
SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("arm64", "x86_64")
MEMORY_RANGE_MB = (128, 10240)
TIMEOUT_RANGE_SECONDS = (1, 900)
EPHEMERAL_STORAGE_RANGE_MB = (512, 10240)

BASIC_EXECUTION_POLICY = "service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
# A twin of a function with EFS file systems mounts them, as that function does.
EFS_CLIENT_POLICY = "AmazonElasticFileSystemClientReadWriteAccess"
SPILL_POLICY_NAME = "lambdash-spill"
LIFECYCLE_RULE_ID = "lambdash-expire-spills"
SPILL_ACTIONS = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")
FUNCTION_DESCRIPTION = "lambdash: a shell inside AWS Lambda (managed by `lambdash deploy`)"


class Action(StrEnum):
    """What a plan does to one resource."""

    CREATE = "create"
    UPDATE = "update"
    NO_CHANGE = "no-change"
    DELETE = "delete"
    KEEP = "keep"


class ResourceKind(StrEnum):
    BUCKET = "bucket"
    ROLE = "role"
    FUNCTION = "function"


@dataclass(frozen=True)
class DeployOptions:
    """What the command line asked for, before the account and region are known."""

    name: str = DEFAULT_FUNCTION_NAME
    runtime: str = DEFAULT_RUNTIME
    architecture: str = DEFAULT_ARCHITECTURE
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    # None means the default name, lambdash-<account>-<region>; ignored without use_bucket.
    bucket: str | None = None
    use_bucket: bool = True
    prefix: str = DEFAULT_PREFIX
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # Start the handler through its exec wrapper, whose runtime loop streams output.
    stream: bool = True


@dataclass(frozen=True)
class FileSystem:
    """An EFS access point and where the function mounts it (one of Lambda's FileSystemConfigs)."""

    arn: str
    mount_path: str


def lambdash_owns(variable: str) -> bool:
    """Whether lambdash sets this environment variable itself (a twin never copies it from its function)."""
    return variable.startswith("LAMBDASH_") or variable == ENV_EXEC_WRAPPER


@dataclass(frozen=True)
class DeploySettings:
    """Everything deploy will make true, resolved for one account and region.

    The fields after ``stream`` are a twin's (``deploy --like``): what it copies from
    the function it is like. A plain lambdash function has none of them.
    """

    name: str
    region: str
    account: str
    partition: str = "aws"
    runtime: str = DEFAULT_RUNTIME
    architecture: str = DEFAULT_ARCHITECTURE
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    stream: bool = True
    layers: tuple[str, ...] = ()
    ipv6_dual_stack: bool = False
    file_systems: tuple[FileSystem, ...] = ()
    # The variables copied from the function a twin is like (--with-env): never printed.
    copied_environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    environment_copied: bool = False
    kms_key_arn: str | None = None
    # The role of the function a twin is like (--with-role), instead of lambdash's own.
    execution_role_arn: str | None = None
    # The ARN of the function this one is a twin of, and that function's settings when the twin was made.
    like: str | None = None
    like_record: str = ""

    @property
    def role_name(self) -> str:
        return role_name_for(self.name)

    @property
    def own_role(self) -> bool:
        """Whether the function runs with lambdash's own role, which deploy makes and owns."""
        return self.execution_role_arn is None

    @property
    def role_arn(self) -> str:
        if self.execution_role_arn is not None:
            return self.execution_role_arn
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}"

    @property
    def managed_policy_arns(self) -> tuple[str, ...]:
        """AWS managed policies the role gets: logging, ENI management inside a VPC, EFS with file systems."""
        names = [BASIC_EXECUTION_POLICY] + ([VPC_ACCESS_POLICY] if self.subnet_ids else [])
        names += [EFS_CLIENT_POLICY] if self.file_systems else []
        return tuple(f"arn:{self.partition}:iam::aws:policy/{name}" for name in names)

    @property
    def trust_policy(self) -> dict[str, Any]:
        return trust_policy()

    @property
    def spill_policy(self) -> dict[str, Any] | None:
        """The role's only inline policy: objects under the prefix of the spill bucket, nothing else."""
        if self.bucket is None:
            return None
        return spill_policy(f"arn:{self.partition}:s3:::{self.bucket}/{self.prefix}/*")

    @property
    def lifecycle_rule(self) -> dict[str, Any]:
        return lifecycle_rule(self.prefix)

    @property
    def environment(self) -> dict[str, str]:
        """The function's environment: where to spill (with a bucket), and the exec wrapper (when streaming).

        A twin made with --with-env has its function's variables too; lambdash's own win.
        """
        environment = {name: value for name, value in self.copied_environment if not lambdash_owns(name)}
        if self.stream:
            environment[ENV_EXEC_WRAPPER] = DEPLOYED_EXEC_WRAPPER
        if self.bucket is not None:
            environment.update({ENV_BUCKET: self.bucket, ENV_PREFIX: self.prefix})
        return environment

    @property
    def function_tags(self) -> dict[str, str]:
        tags = {MANAGED_TAG_KEY: MANAGED_TAG_VALUE, SETTINGS_TAG_KEY: self.record()}
        if self.like is not None:
            tags.update({LIKE_TAG_KEY: self.like, LIKE_RECORD_TAG_KEY: self.like_record,
                         TWIN_TAG_KEY: self.twin_record()})
        return tags

    def twin_record(self) -> str:
        """What a twin copied, as digests (the values may not fit in a tag, and env values are secrets)."""
        return " ".join([
            f"layers={digest(self.layers)}",
            f"ipv6={'on' if self.ipv6_dual_stack else 'off'}",
            f"fs={file_systems_digest(self.file_systems)}",
            f"env={digest(name for name, _ in self.copied_environment) if self.environment_copied else '-'}",
            f"kms={digest([self.kms_key_arn]) if self.kms_key_arn else '-'}",
            f"role={'own' if self.execution_role_arn is None else digest([self.execution_role_arn])}",
        ])

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON values, with the names of copied variables but never their values."""
        document = asdict(self)
        del document["copied_environment"]
        document.update(
            subnet_ids=list(self.subnet_ids), security_group_ids=list(self.security_group_ids),
            layers=list(self.layers), copied_environment_names=[name for name, _ in self.copied_environment],
            file_systems=[{"arn": system.arn, "mount_path": system.mount_path} for system in self.file_systems],
        )
        return document

    def record(self) -> str:
        """The settings as one tag value (spaces, no commas: Lambda tag values forbid them)."""
        return " ".join([
            f"runtime={self.runtime}",
            f"arch={self.architecture}",
            f"memory={self.memory_mb}",
            f"timeout={self.timeout_seconds}",
            f"tmp={self.ephemeral_storage_mb}",
            f"bucket={self.bucket or '-'}",
            f"prefix={self.prefix}",
            f"vpc={vpc_digest(self.subnet_ids, self.security_group_ids)}",
            f"stream={'on' if self.stream else 'off'}",
        ])

    def from_record(self, record: str) -> DeploySettings:
        """These settings with the recorded ones applied (the VPC ids stay: only their digest is recorded)."""
        fields = dict(item.partition("=")[::2] for item in record.split())
        try:
            return replace(
                self,
                runtime=fields.get("runtime", self.runtime),
                architecture=fields.get("arch", self.architecture),
                memory_mb=int(fields.get("memory", self.memory_mb)),
                timeout_seconds=int(fields.get("timeout", self.timeout_seconds)),
                ephemeral_storage_mb=int(fields.get("tmp", self.ephemeral_storage_mb)),
                bucket=None if fields.get("bucket") == "-" else fields.get("bucket", self.bucket),
                prefix=fields.get("prefix", self.prefix),
                # Deploys from before streaming recorded no stream field, and set up no wrapper.
                stream=fields.get("stream", "off") == "on",
            )
        except ValueError:
            return self


def role_name_for(function_name: str) -> str:
    return f"lambdash-{function_name}-role"


_FUNCTION_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$")
_FUNCTION_ARN = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):)?(?P<account>\d{12}):function:(?P<rest>.+)$"
)


@dataclass(frozen=True)
class FunctionReference:
    """A function as the command line names it: ``NAME[:QUALIFIER]``, ``ACCOUNT:function:NAME`` or its ARN."""

    text: str
    name: str
    qualifier: str | None = None
    region: str | None = None
    account: str | None = None

    @classmethod
    def parse(cls, text: str) -> FunctionReference | None:
        """The reference, or None when ``text`` names no function."""
        arn = _FUNCTION_ARN.match(text)
        named = _FUNCTION_NAME.match(arn.group("rest") if arn else text)
        if named is None:
            return None
        return cls(text=text, name=named.group("name"), qualifier=named.group("qualifier"),
                   region=arn.group("region") if arn else None, account=arn.group("account") if arn else None)

    def matches(self, arn: str) -> bool:
        """Whether a function ARN (as a twin's tag holds it) is this function."""
        other = FunctionReference.parse(arn)
        if other is None or (other.name, other.qualifier) != (self.name, self.qualifier):
            return False
        return all(mine is None or mine == theirs for mine, theirs in
                   ((self.region, other.region), (self.account, other.account)))

    @property
    def label(self) -> str:
        """How the twin's plan and status name the function: ``NAME`` or ``NAME:QUALIFIER``."""
        return f"{self.name}:{self.qualifier}" if self.qualifier else self.name


def default_twin_name(function: FunctionReference) -> str:
    """``lambdash-like-FUNCTION``, shortened with a hash of the function's name when it would be too long."""
    base = function.name
    if function.qualifier and function.qualifier != "$LATEST":
        base += f"-{function.qualifier}"
    name = TWIN_NAME_PREFIX + base
    if len(name) <= MAX_NAME_LENGTH:
        return name
    suffix = hashlib.sha256(base.encode()).hexdigest()[:6]
    return name[:MAX_NAME_LENGTH - len(suffix) - 1].rstrip("-_") + "-" + suffix


def redeploy_command(twin: str, like: str) -> str:
    """The command that brings the twin ``twin`` of the function ``like`` (its ARN) back in line with it."""
    reference = FunctionReference.parse(like)
    if reference is None:
        return f"lambdash deploy --like {like} --name {twin}"
    command = f"lambdash deploy --like {reference.label}"
    return command if default_twin_name(reference) == twin else f"{command} --name {twin}"


def digest(parts: Iterable[str | None]) -> str:
    """A short fingerprint of a list of values (a tag holds at most 256 characters; order counts)."""
    return hashlib.sha256("\n".join(part or "" for part in parts).encode()).hexdigest()[:12]


def file_systems_digest(systems: Iterable[FileSystem]) -> str:
    return digest(f"{system.arn}={system.mount_path}" for system in systems)


def record_fields(record: str) -> dict[str, str]:
    """``key=value`` pairs of a record tag."""
    return dict(item.partition("=")[::2] for item in record.split())


def vpc_digest(subnet_ids: tuple[str, ...], security_group_ids: tuple[str, ...]) -> str:
    """A short fingerprint of the VPC settings (the ids themselves may not fit in a tag)."""
    if not subnet_ids and not security_group_ids:
        return "-"
    text = ",".join(sorted(subnet_ids)) + "/" + ",".join(sorted(security_group_ids))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trust_policy() -> dict[str, Any]:
    """Only Lambda may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    }


def spill_policy(resource: Any) -> dict[str, Any]:
    """Put, get and delete objects under one prefix; ``resource`` may be a CloudFormation expression."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SpillObjects",
            "Effect": "Allow",
            "Action": list(SPILL_ACTIONS),
            "Resource": resource,
        }],
    }


def lifecycle_rule(prefix: str) -> dict[str, Any]:
    """Spills are deleted by the client at once; anything left over expires after a day."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": f"{prefix}/"},
        "Expiration": {"Days": 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
SSE_ALGORITHM = "AES256"


@dataclass(frozen=True)
class RoleState:
    """The role as IAM reports it."""

    name: str
    arn: str
    tags: Mapping[str, str]
    trust_policy: Mapping[str, Any]
    attached_policy_arns: tuple[str, ...]
    inline_policies: Mapping[str, Mapping[str, Any]]

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


class BucketAccess(StrEnum):
    OWNED = "owned"
    MISSING = "missing"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class BucketState:
    """The spill bucket as S3 reports it; the settings are empty unless ``access`` is owned."""

    name: str
    access: BucketAccess
    tags: Mapping[str, str] = field(default_factory=dict)
    public_access_block: Mapping[str, bool] | None = None
    sse_algorithm: str | None = None
    lifecycle_rules: tuple[Mapping[str, Any], ...] = ()

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


@dataclass(frozen=True)
class FunctionState:
    """The function as Lambda reports it."""

    name: str
    arn: str
    tags: Mapping[str, str]
    runtime: str | None
    handler: str | None
    architecture: str
    memory_mb: int
    timeout_seconds: int
    ephemeral_storage_mb: int
    environment: Mapping[str, str]
    role_arn: str
    code_sha256: str
    code_size: int
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    description: str
    state: str | None
    last_update_status: str | None
    last_modified: str | None
    has_url: bool = False
    policy_statement_ids: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    ipv6_dual_stack: bool = False
    file_systems: tuple[FileSystem, ...] = ()
    kms_key_arn: str | None = None
    package_type: str = "Zip"
    # Why Lambda could not show the environment's values (Environment.Error), if it could not.
    environment_error: str | None = None

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE

    @property
    def like(self) -> str | None:
        """The ARN of the function this one is a twin of, when it is a twin."""
        return self.tags.get(LIKE_TAG_KEY)


@dataclass(frozen=True)
class ObservedState:
    """Everything the planner read; None where the resource does not exist (or is not wanted)."""

    role: RoleState | None
    bucket: BucketState | None
    function: FunctionState | None


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
class CodeArtifact:
    """The deployment zip and its CodeSha256 (base64 of the SHA-256 of the bytes, as Lambda reports it)."""

    zip_bytes: bytes
    sha256: str

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()

    @property
    def size(self) -> int:
        return len(self.zip_bytes)


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


def canonical(document: Any) -> str:
    """A policy document in one comparable form (AWS may return one-item lists as strings, or reorder)."""
    return json.dumps(_normalise(document), sort_keys=True)


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_normalise(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


@dataclass(frozen=True)
class StatusReport:
    """What ``lambdash status`` shows: the function as it is, and what deploy would change (drift)."""

    settings: DeploySettings
    function: FunctionState
    role: RoleState | None
    bucket: BucketState | None
    local_code_sha256: str
    drift: tuple[str, ...]
    # For a twin: what changed in the function it is like since the twin was made, or why that is unknown.
    like_drift: tuple[str, ...] = ()
    like_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        function = self.function
        return {
            "function": function.name,
            "streaming": ENV_EXEC_WRAPPER in function.environment,
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
            "bucket": function.environment.get(ENV_BUCKET),
            "prefix": function.environment.get(ENV_PREFIX),
            "role": function.role_arn,
            "subnet_ids": list(function.subnet_ids),
            "security_group_ids": list(function.security_group_ids),
            "layers": list(function.layers),
            "file_systems": [{"arn": system.arn, "mount_path": system.mount_path} for system in function.file_systems],
            "drift": list(self.drift),
            "like": function.like,
            "like_drift": list(self.like_drift) if function.like and self.like_error is None else None,
            "like_error": self.like_error,
        }
