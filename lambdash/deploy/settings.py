"""What deploy is asked for and what it will make true: the options, the settings, and function references.

``DeployOptions`` is what the command line asked for; ``resolve_settings`` turns it
into ``DeploySettings`` for one account and region. The settings' properties derive
the role, its policies and documents (from ``documents``) and the function's
environment, so the planner, the executor, ``status`` and the CloudFormation
template can never disagree about them. ``FunctionReference`` is a function as the
command line names it (``--like FUNCTION``), and names the twin made of it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lambdash.deploy.documents import (
    BASIC_EXECUTION_POLICY,
    EFS_CLIENT_POLICY,
    SESSION_SEND_POLICY_NAME,
    SESSIONS_POLICY_NAME,
    SPILL_POLICY_NAME,
    VPC_ACCESS_POLICY,
    lifecycle_rule,
    session_send_policy,
    session_trust_policy,
    sessions_policy,
    spill_policy,
    trust_policy,
)
from lambdash.lambda_defaults import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_FUNCTION_NAME,
    DEFAULT_MEMORY_MB,
    DEFAULT_RUNTIME,
    DEFAULT_TIMEOUT_SECONDS,
)
from lambdash_handler.contract import (
    DEFAULT_PREFIX,
    ENV_BUCKET,
    ENV_EXEC_WRAPPER,
    ENV_LIKE_HANDLER,
    ENV_PREFIX,
    EXEC_WRAPPER_NAME,
    PACKAGE_NAME,
)
from lambdash_handler.contract.session import ENV_SESSION_ROLE, QUEUE_PREFIX, SESSION_ROLE_NAME

if TYPE_CHECKING:
    from lambdash.aws.deploy import CallerIdentity

# Where Lambda unpacks the zip: the exec wrapper that starts the streaming runtime loop is here.
DEPLOYED_EXEC_WRAPPER = f"/var/task/{PACKAGE_NAME}/{EXEC_WRAPPER_NAME}"
# The role is lambdash-NAME-role, and IAM allows role names of at most 64 characters.
MAX_NAME_LENGTH = 50
# A twin is named after its original, unless --name says otherwise.
TWIN_NAME_PREFIX = "lambdash-like-"
# Runtimes the handler supports (it needs Python 3.11 or later).
SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("arm64", "x86_64")
FUNCTION_DESCRIPTION = "lambdash: a shell inside AWS Lambda (managed by `lambdash deploy`)"


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
    its original, the function it was made from. A plain lambdash function has none of them.
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
    # The variables copied from a twin's original (--with-env): never printed.
    copied_environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    environment_copied: bool = False
    kms_key_arn: str | None = None
    # The role of a twin's original (--with-role), instead of lambdash's own.
    execution_role_arn: str | None = None
    # The ARN of the function this one is a twin of (its original), and the original's settings when the twin
    # was made.
    twin_of: str | None = None
    original_record: str = ""
    # A twin with its original's code (--with-code): that code's CodeSha256, and the original's Handler setting.
    code_of: str | None = None
    code_handler: str | None = None

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
        """The role's only inline policy: objects under the prefix of the spill bucket, and the bucket's region."""
        if self.bucket is None:
            return None
        bucket = f"arn:{self.partition}:s3:::{self.bucket}"
        return spill_policy(f"{bucket}/{self.prefix}/*", bucket)

    @property
    def session_role_arn(self) -> str:
        """The role the function assumes to hand a session's client send-only credentials (one per account)."""
        return f"arn:{self.partition}:iam::{self.account}:role/{SESSION_ROLE_NAME}"

    @property
    def sessions(self) -> bool:
        """Whether deploy sets up sessions: with lambdash's own role (a borrowed one is never changed)."""
        return self.own_role

    @property
    def sessions_policy(self) -> dict[str, Any]:
        queues = f"arn:{self.partition}:sqs:{self.region}:{self.account}"
        return sessions_policy(f"{queues}:{QUEUE_PREFIX}*", f"{queues}:*", self.session_role_arn)

    @property
    def session_trust_policy(self) -> dict[str, Any]:
        return session_trust_policy(f"arn:{self.partition}:iam::{self.account}:root",
                                    f"arn:{self.partition}:iam::{self.account}:role/lambdash-*-role")

    @property
    def session_send_policy(self) -> dict[str, Any]:
        # Every region's session queues: the role is the account's, shared by its lambdash functions everywhere.
        return session_send_policy(f"arn:{self.partition}:sqs:*:{self.account}:{QUEUE_PREFIX}*")

    def role_trust_policy(self, role: str) -> dict[str, Any]:
        """The trust policy of one of deploy's roles: the function's, or the session role."""
        return self.session_trust_policy if role == SESSION_ROLE_NAME else self.trust_policy

    def inline_policies(self, role: str) -> dict[str, dict[str, Any]]:
        """The inline policies one of deploy's roles has, exactly, by name."""
        if role == SESSION_ROLE_NAME:
            return {SESSION_SEND_POLICY_NAME: self.session_send_policy}
        policies = {SESSIONS_POLICY_NAME: self.sessions_policy} if self.sessions else {}
        if self.spill_policy is not None:
            policies[SPILL_POLICY_NAME] = self.spill_policy
        return policies

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
        if self.sessions:
            environment[ENV_SESSION_ROLE] = self.session_role_arn
        if self.code_handler:
            environment[ENV_LIKE_HANDLER] = self.code_handler
        return environment

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON values, with the names of copied variables but never their values.

        A twin's fields keep the names of ``--like``, which scripts read: ``like`` and ``like_record``.
        """
        document = asdict(self)
        del document["copied_environment"]
        document["like"] = document.pop("twin_of")
        document["like_record"] = document.pop("original_record")
        document.update(
            subnet_ids=list(self.subnet_ids), security_group_ids=list(self.security_group_ids),
            layers=list(self.layers), copied_environment_names=[name for name, _ in self.copied_environment],
            file_systems=[{"arn": system.arn, "mount_path": system.mount_path} for system in self.file_systems],
        )
        return document


def role_name_for(function_name: str) -> str:
    return f"lambdash-{function_name}-role"


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
        # $LATEST is the function itself, unqualified (and a tag records it so).
        if other is None or (other.name, other.qualifier or "$LATEST") != (self.name, self.qualifier or "$LATEST"):
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
