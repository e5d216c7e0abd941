"""Apply a Plan: each Step becomes one DeployClient call, in the plan's order.

The executor decides nothing. Every value it sends comes from the plan's
settings (the documents are derived in ``settings`` and ``documents``) or the code artifact, so a
printed plan is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambdash.deploy.documents import PUBLIC_ACCESS_BLOCK, SSE_ALGORITHM
from lambdash.deploy.package import CodeArtifact
from lambdash.deploy.plan import Operation, Plan, PlannedChange, Step
from lambdash.deploy.settings import FUNCTION_DESCRIPTION, DeploySettings
from lambdash.deploy.tags import MANAGED_TAG_KEY, MANAGED_TAG_VALUE, function_tags
from lambdash_handler.contract import HANDLER
from lambdash_handler.contract.session import SESSION_ROLE_NAME

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient

# Told one line per step, before the step is made.
StepReporter = Callable[[str], None]

ROLE_DESCRIPTION = "Execution role of a lambdash function (managed by `lambdash deploy`)"
SESSION_ROLE_DESCRIPTION = ("Assumed by lambdash functions to hand a session's client credentials that may only send "
                            "to that session's queue (managed by `lambdash deploy`)")


def function_spec(settings: DeploySettings, code: CodeArtifact) -> dict[str, Any]:
    """CreateFunction's parameters."""
    spec = {
        **configuration_spec(settings),
        "Code": {"ZipFile": code.zip_bytes},
        "PackageType": "Zip",
        "Architectures": [settings.architecture],
        "Tags": function_tags(settings),
    }
    # What a new function does not have needs no saying (Lambda takes an empty KMS key only in an update).
    for key in ("VpcConfig", "Layers", "FileSystemConfigs", "KMSKeyArn"):
        if key in spec and not (settings.subnet_ids if key == "VpcConfig" else spec[key]):
            del spec[key]
    return spec


def configuration_spec(settings: DeploySettings) -> dict[str, Any]:
    """UpdateFunctionConfiguration's parameters: everything deploy owns except code and architecture.

    Deploy owns the layers, file systems and KMS key too: a plain lambdash function
    has none (the AWS managed key), a twin those of its original.
    """
    vpc: dict[str, Any] = {"SubnetIds": list(settings.subnet_ids),
                           "SecurityGroupIds": list(settings.security_group_ids)}
    if settings.subnet_ids:
        vpc["Ipv6AllowedForDualStack"] = settings.ipv6_dual_stack
    return {
        "FunctionName": settings.name,
        "Runtime": settings.runtime,
        "Role": settings.role_arn,
        "Handler": HANDLER,
        "Description": FUNCTION_DESCRIPTION,
        "Timeout": settings.timeout_seconds,
        "MemorySize": settings.memory_mb,
        "EphemeralStorage": {"Size": settings.ephemeral_storage_mb},
        "Environment": {"Variables": settings.environment},
        # Empty lists take a function out of its VPC.
        "VpcConfig": vpc,
        "Layers": list(settings.layers),
        "FileSystemConfigs": [{"Arn": system.arn, "LocalMountPath": system.mount_path}
                              for system in settings.file_systems],
        # An empty key means the AWS managed one.
        "KMSKeyArn": settings.kms_key_arn or "",
    }


# Each change with the steps of it made so far, in order: apply_plan adds to it as it goes.
CompletedSteps = list[tuple[PlannedChange, tuple[Step, ...]]]


def apply_plan(plan: Plan, client: DeployClient, code: CodeArtifact | None, report: StepReporter,
               completed: CompletedSteps | None = None) -> None:
    """Make every step of the plan, in order, reporting each one before it is made.

    Each step made is added to ``completed``, so a caller whose plan fails midway
    knows what was made before the failure (it stays made).
    """
    executor = PlanExecutor(client, plan.settings, code)
    completed = [] if completed is None else completed
    for change in plan.changes:
        made: tuple[Step, ...] = ()
        for step in change.steps:
            report(describe_step(change, step))
            executor.run(change.resource.name, step)
            made = (*made, step)
            if len(made) == 1:
                completed.append((change, made))
            else:
                completed[-1] = (change, made)


def describe_step(change: PlannedChange, step: Step) -> str:
    words = step.operation.value.replace("_", " ")
    return f"{change.resource.kind} {change.resource.name}: {words}" + (f" {step.argument}" if step.argument else "")


class PlanExecutor:
    """One method per Step operation; each makes exactly the calls its name says."""

    def __init__(self, client: DeployClient, settings: DeploySettings, code: CodeArtifact | None) -> None:
        self.client = client
        self.settings = settings
        self.code = code
        self.methods: dict[Operation, Callable[[str, str], None]] = {
            Operation.CREATE_BUCKET: self.do_create_bucket,
            Operation.PUT_BUCKET_TAGS: self.do_put_bucket_tags,
            Operation.PUT_PUBLIC_ACCESS_BLOCK: self.do_put_public_access_block,
            Operation.PUT_BUCKET_ENCRYPTION: self.do_put_bucket_encryption,
            Operation.PUT_BUCKET_LIFECYCLE: self.do_put_bucket_lifecycle,
            Operation.EMPTY_BUCKET: self.do_empty_bucket,
            Operation.DELETE_BUCKET: self.do_delete_bucket,
            Operation.CREATE_ROLE: self.do_create_role,
            Operation.UPDATE_TRUST_POLICY: self.do_update_trust_policy,
            Operation.ATTACH_ROLE_POLICY: self.do_attach_role_policy,
            Operation.DETACH_ROLE_POLICY: self.do_detach_role_policy,
            Operation.PUT_ROLE_POLICY: self.do_put_role_policy,
            Operation.DELETE_ROLE_POLICY: self.do_delete_role_policy,
            Operation.DELETE_ROLE: self.do_delete_role,
            Operation.CREATE_FUNCTION: self.do_create_function,
            Operation.UPDATE_FUNCTION_CODE: self.do_update_function_code,
            Operation.UPDATE_FUNCTION_CONFIGURATION: self.do_update_function_configuration,
            Operation.TAG_FUNCTION: self.do_tag_function,
            Operation.DELETE_FUNCTION_URL: self.do_delete_function_url,
            Operation.REMOVE_PERMISSION: self.do_remove_permission,
            Operation.DELETE_FUNCTION: self.do_delete_function,
        }

    def run(self, name: str, step: Step) -> None:
        self.methods[step.operation](name, step.argument)

    def _code(self) -> CodeArtifact:
        if self.code is None:
            raise ValueError("this step needs the code artifact")
        return self.code

    # bucket
    def do_create_bucket(self, name: str, argument: str) -> None:
        self.client.create_bucket(name)

    def do_put_bucket_tags(self, name: str, argument: str) -> None:
        self.client.put_bucket_tags(name, {MANAGED_TAG_KEY: MANAGED_TAG_VALUE})

    def do_put_public_access_block(self, name: str, argument: str) -> None:
        self.client.put_public_access_block(name, dict(PUBLIC_ACCESS_BLOCK))

    def do_put_bucket_encryption(self, name: str, argument: str) -> None:
        self.client.put_bucket_sse(name, SSE_ALGORITHM)

    def do_put_bucket_lifecycle(self, name: str, argument: str) -> None:
        # The bucket is lambdash's own (tagged), so its lifecycle is exactly lambdash's rule.
        self.client.put_lifecycle_rules(name, [self.settings.lifecycle_rule])

    def do_empty_bucket(self, name: str, argument: str) -> None:
        self.client.empty_bucket(name)

    def do_delete_bucket(self, name: str, argument: str) -> None:
        self.client.delete_bucket(name)

    # role
    def do_create_role(self, name: str, argument: str) -> None:
        self.client.create_role(name, self.settings.role_trust_policy(name), {MANAGED_TAG_KEY: MANAGED_TAG_VALUE},
                                SESSION_ROLE_DESCRIPTION if name == SESSION_ROLE_NAME else ROLE_DESCRIPTION)

    def do_update_trust_policy(self, name: str, argument: str) -> None:
        self.client.update_trust_policy(name, self.settings.role_trust_policy(name))

    def do_attach_role_policy(self, name: str, argument: str) -> None:
        self.client.attach_role_policy(name, argument)

    def do_detach_role_policy(self, name: str, argument: str) -> None:
        self.client.detach_role_policy(name, argument)

    def do_put_role_policy(self, name: str, argument: str) -> None:
        policies = self.settings.inline_policies(name)
        if argument not in policies:
            raise ValueError(f"role {name} has no inline policy {argument} to put")
        self.client.put_role_policy(name, argument, policies[argument])

    def do_delete_role_policy(self, name: str, argument: str) -> None:
        self.client.delete_role_policy(name, argument)

    def do_delete_role(self, name: str, argument: str) -> None:
        self.client.delete_role(name)

    # function
    def do_create_function(self, name: str, argument: str) -> None:
        self.client.create_function(function_spec(self.settings, self._code()))

    def do_update_function_code(self, name: str, argument: str) -> None:
        self.client.update_function_code(name, self._code().zip_bytes, self.settings.architecture)

    def do_update_function_configuration(self, name: str, argument: str) -> None:
        self.client.update_function_configuration(configuration_spec(self.settings))

    def do_tag_function(self, name: str, argument: str) -> None:
        self.client.tag_function(function_arn(self.settings), function_tags(self.settings))

    def do_delete_function_url(self, name: str, argument: str) -> None:
        self.client.delete_function_url(name)

    def do_remove_permission(self, name: str, argument: str) -> None:
        self.client.remove_permission(name, argument)

    def do_delete_function(self, name: str, argument: str) -> None:
        self.client.delete_function(name)


def function_arn(settings: DeploySettings) -> str:
    return f"arn:{settings.partition}:lambda:{settings.region}:{settings.account}:function:{settings.name}"
