"""Example settings of a lambdash function and of a twin, and what AWS reports once they are deployed.

The deploy unit tests import them (``tests.unit.deploy.examples``); nothing here calls AWS.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from lambdash.deploy.documents import PUBLIC_ACCESS_BLOCK
from lambdash.deploy.observed import BucketAccess, BucketState, FunctionState, ObservedState, RoleState
from lambdash.deploy.plan import Plan, ResourceKind
from lambdash.deploy.settings import (
    FUNCTION_DESCRIPTION,
    DeploySettings,
    FileSystem,
    FunctionReference,
    default_bucket_name,
)
from lambdash.deploy.tags import function_tags
from lambdash.deploy.twin import LayerCheck, TwinOptions, choose_runtime, twin_settings
from lambdash_handler.contract import HANDLER

Present = TypeVar("Present")

# -- a lambdash function ---------------------------------------------------------------------------------------------

SHA = "c2hhLW9mLXRoZS16aXA="
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def settings(**changes: Any) -> DeploySettings:
    """The settings of a lambdash function ``shell``, with ``changes``."""
    base = DeploySettings(name="shell", region="eu-west-1", account="123456789012",
                          bucket=default_bucket_name("123456789012", "eu-west-1"))
    return replace(base, **changes)


def present(value: Present | None) -> Present:
    """The value a test knows to be there."""
    assert value is not None
    return value


def as_deployed(wanted: DeploySettings, code_sha256: str = SHA) -> ObservedState:
    """What AWS reports right after a deploy of these settings."""
    role = RoleState(
        name=wanted.role_name, arn=wanted.role_arn, tags={"lambdash": "managed"},
        trust_policy=wanted.trust_policy, attached_policy_arns=wanted.managed_policy_arns,
        inline_policies=wanted.inline_policies(wanted.role_name),
    )
    session_role = RoleState(
        name="lambdash-session", arn=wanted.session_role_arn, tags={"lambdash": "managed"},
        trust_policy=wanted.session_trust_policy, attached_policy_arns=(),
        inline_policies=wanted.inline_policies("lambdash-session"),
    ) if wanted.sessions else None
    bucket = None if wanted.bucket is None else BucketState(
        name=wanted.bucket, access=BucketAccess.OWNED, tags={"lambdash": "managed"},
        public_access_block=dict(PUBLIC_ACCESS_BLOCK), sse_algorithm="AES256",
        lifecycle_rules=({**wanted.lifecycle_rule, "Filter": {"Prefix": "lambdash/"}},),
    )
    function = FunctionState(
        name=wanted.name, arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{wanted.name}",
        tags=function_tags(wanted), runtime=wanted.runtime, handler=HANDLER, architecture=wanted.architecture,
        memory_mb=wanted.memory_mb, timeout_seconds=wanted.timeout_seconds,
        ephemeral_storage_mb=wanted.ephemeral_storage_mb, environment=wanted.environment, role_arn=wanted.role_arn,
        code_sha256=code_sha256, code_size=1000, subnet_ids=wanted.subnet_ids,
        security_group_ids=wanted.security_group_ids, description=FUNCTION_DESCRIPTION, state="Active",
        last_update_status="Successful", last_modified="2025-01-01T00:00:00.000+0000",
    )
    return ObservedState(role=role, bucket=bucket, function=function, session_role=session_role)


def change_of(plan: Plan, kind: ResourceKind) -> Any:
    """The plan's one change of this kind of resource."""
    (found,) = [change for change in plan.changes if change.resource.kind is kind]
    return found


# -- a twin ----------------------------------------------------------------------------------------------------------

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders"
LAYER = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:tools:4"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ACCESS_POINT = f"arn:aws:elasticfilesystem:eu-west-1:{ACCOUNT}:access-point/fsap-0123456789abcdef0"


def original(**changes: Any) -> FunctionState:
    """The twins' original in these tests: a Node.js function in a VPC, with a layer, EFS and a KMS key."""
    base = FunctionState(
        name="orders", arn=ARN, tags={}, runtime="nodejs20.x", handler="index.handler", architecture="x86_64",
        memory_mb=2048, timeout_seconds=45, ephemeral_storage_mb=1024,
        environment={"API_URL": "https://x.invalid", "DB_PASSWORD": "secret", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/w",
                     "LAMBDASH_BUCKET": "theirs"},
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/orders", code_sha256="", code_size=0,
        subnet_ids=("subnet-0123456789abcdef0",), security_group_ids=("sg-0123456789abcdef0",), description="",
        state="Active", last_update_status="Successful", last_modified=None, layers=(LAYER,), ipv6_dual_stack=True,
        file_systems=(FileSystem(ACCESS_POINT, "/mnt/data"),), kms_key_arn=KEY,
    )
    return replace(base, **changes)


def base_settings(name: str = "lambdash-like-orders") -> DeploySettings:
    """Deploy's defaults for the twin, before it copies anything."""
    return DeploySettings(name=name, region="eu-west-1", account=ACCOUNT, bucket=f"lambdash-{ACCOUNT}-eu-west-1")


def make_twin(function: FunctionState, **options: Any) -> DeploySettings:
    """The settings of a twin of ``function``, with ``options`` of ``TwinOptions``."""
    twin_options = TwinOptions(original=FunctionReference(text="orders", name="orders"), **options)
    layers = [LayerCheck(layer) for layer in function.layers]
    return twin_settings(base_settings(), function, twin_options,
                         choose_runtime(function.runtime, function.package_type, function.name), layers)


def deployed(settings: DeploySettings) -> FunctionState:
    """The twin as Lambda shows it once deploy made it."""
    return FunctionState(
        name=settings.name, arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{settings.name}",
        tags=function_tags(settings), runtime=settings.runtime, handler=HANDLER, architecture=settings.architecture,
        memory_mb=settings.memory_mb, timeout_seconds=settings.timeout_seconds,
        ephemeral_storage_mb=settings.ephemeral_storage_mb, environment=settings.environment,
        role_arn=settings.role_arn, code_sha256="sha", code_size=1, subnet_ids=settings.subnet_ids,
        security_group_ids=settings.security_group_ids,
        description="lambdash: a shell inside AWS Lambda (managed by `lambdash deploy`)", state="Active",
        last_update_status="Successful", last_modified=None, layers=settings.layers,
        ipv6_dual_stack=settings.ipv6_dual_stack, file_systems=settings.file_systems,
        kms_key_arn=settings.kms_key_arn,
    )
