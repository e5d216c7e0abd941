"""What exists in AWS, as deploy reads it: the role, the bucket, the function, and a twin's function and layers.

This is the only module of ``lambdash.deploy`` that reads AWS, always through
``lambdash.aws.deploy.DeployClient``, and it only reads. What it reads becomes
plain frozen data (``RoleState``, ``BucketState``, ``FunctionState``), which the
planner compares with the settings without any call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lambdash.deploy.settings import DeploySettings, FileSystem, FunctionReference
from lambdash.deploy.tags import TWIN_OF_TAG_KEY, is_managed
from lambdash.errors import LambdashError
from lambdash_handler.contract.session import SESSION_ROLE_NAME

if TYPE_CHECKING:
    from lambdash.aws.deploy import CallerIdentity, DeployClient

# The names in the zip at a URL (``lambdash.deploy.layers.zip_listing``, or a fake in tests).
Listing = Callable[[str], list[str]]


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
        return is_managed(self.tags)


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
        return is_managed(self.tags)


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
        return is_managed(self.tags)

    @property
    def twin_of(self) -> str | None:
        """The ARN of the function this one is a twin of, when it is a twin."""
        return self.tags.get(TWIN_OF_TAG_KEY)


@dataclass(frozen=True)
class ObservedState:
    """Everything the planner read; None where the resource does not exist (or is not wanted)."""

    role: RoleState | None
    bucket: BucketState | None
    function: FunctionState | None
    # The account's session role (read when deploy sets up sessions).
    session_role: RoleState | None = None


@dataclass(frozen=True)
class LayerListing:
    """The names in one layer's zip, or why they could not be read."""

    arn: str
    names: tuple[str, ...] = ()
    unreadable: str | None = None


# -- who deploys, and where ------------------------------------------------------------------------------------------

def observe_identity(client: DeployClient) -> CallerIdentity:
    """The deploying identity: its account names the default bucket, its partition every ARN."""
    return client.caller_identity()


def observe_vpcs(client: DeployClient, settings: DeploySettings) -> set[str]:
    """The VPCs of the settings' subnets and security groups (an unknown one is an error); none outside a VPC."""
    if not settings.subnet_ids:
        return set()
    vpcs = set(client.check_subnets(list(settings.subnet_ids)))
    return vpcs | set(client.check_security_groups(list(settings.security_group_ids)))


# -- the role, the bucket and the function ---------------------------------------------------------------------------

def observe(client: DeployClient, settings: DeploySettings, *, bucket: str | None = None) -> ObservedState:
    """Read the role, the bucket (``bucket``, else the settings') and the function. Only reads."""
    bucket = bucket or settings.bucket
    return ObservedState(
        role=observe_role(client, settings.role_name),
        bucket=observe_bucket(client, bucket) if bucket else None,
        function=observe_function(client, settings.name),
        session_role=observe_role(client, SESSION_ROLE_NAME) if settings.sessions else None,
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


def observe_bucket_users(client: DeployClient, bucket: str, *, besides: str) -> tuple[str, ...]:
    """The other functions that spill to ``bucket`` (their LAMBDASH_BUCKET names it)."""
    return tuple(user for user in client.functions_using_bucket(bucket) if user != besides)


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
        environment=dict(environment.get("Variables") or {}),
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


# -- a twin's original, and its layers -------------------------------------------------------------------------------

def observe_original(client: DeployClient, function: FunctionReference | str) -> FunctionState:
    """A twin's original (by reference, or by the ARN its twin's tag holds): GetFunctionConfiguration."""
    text = function.text if isinstance(function, FunctionReference) else function
    return function_state(client.get_function_configuration(text), {})


def observe_function_code(client: DeployClient, function: str) -> tuple[Mapping[str, Any], str]:
    """A twin's original as GetFunction gives it: its configuration, and the short-lived URL of its code package."""
    answer = client.get_function_code(function)
    return answer["Configuration"], str((answer.get("Code") or {}).get("Location") or "")


def observe_layer(client: DeployClient, layer: str, listing: Listing) -> LayerListing:
    """What one layer version's zip holds; a layer that cannot be read says why (it is a note, not a failure)."""
    try:
        location = client.get_layer_version(layer).get("Content", {}).get("Location", "")
        names = listing(location)
    except LambdashError as problem:
        return LayerListing(layer, unreadable=problem.message)
    return LayerListing(layer, names=tuple(names))
