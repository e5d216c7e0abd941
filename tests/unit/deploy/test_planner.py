"""The deploy plan as plain data: what is created, updated or left alone, and why. No AWS."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from lambdash.cli import parse_arguments
from lambdash.commands.deployment_options import deploy_options
from lambdash.deploy.documents import LIFECYCLE_RULE_ID, PUBLIC_ACCESS_BLOCK
from lambdash.deploy.observed import BucketAccess, BucketState, FunctionState, ObservedState, RoleState
from lambdash.deploy.plan import Action, Operation, Plan, ResourceKind, Step
from lambdash.deploy.planner import bucket_of, plan_deploy, plan_destroy, recorded_settings
from lambdash.deploy.settings import FUNCTION_DESCRIPTION, DeployOptions, DeploySettings, default_bucket_name
from lambdash.deploy.tags import function_tags, settings_from_record, settings_record
from lambdash.deploy.validate import validate_options
from lambdash.errors import ConfigError, UsageError
from lambdash.lambda_defaults import HANDLER
from lambdash.terminal import Terminal

Present = TypeVar("Present")

SHA = "c2hhLW9mLXRoZS16aXA="
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def settings(**changes: Any) -> DeploySettings:
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
        inline_policies={"lambdash-spill": wanted.spill_policy} if wanted.spill_policy else {},
    )
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
    return ObservedState(role=role, bucket=bucket, function=function)


def change_of(plan: Plan, kind: ResourceKind) -> Any:
    (found,) = [change for change in plan.changes if change.resource.kind is kind]
    return found


# -- options --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    (DeployOptions(runtime="python3.9"), "unsupported runtime 'python3.9': lambdash runs on python3.11"),
    (DeployOptions(runtime="nodejs20.x"), "unsupported runtime"),
    (DeployOptions(memory_mb=64), "--memory must be from 128 to 10240 MB, not 64"),
    (DeployOptions(timeout_seconds=901), "--timeout must be from 1 to 900 seconds, not 901"),
    (DeployOptions(ephemeral_storage_mb=100), "--ephemeral-storage must be from 512 to 10240 MB"),
    (DeployOptions(name="has space"), "invalid --name 'has space'"),
    (DeployOptions(name="x" * 51), "invalid --name"),
    (DeployOptions(bucket="Upper_Case"), "invalid bucket name 'Upper_Case'"),
    (DeployOptions(subnet_ids=("subnet-0123abcd",)), "needs both --subnet and --security-group"),
    (DeployOptions(subnet_ids=("net-1",), security_group_ids=("sg-0123abcd",)), "invalid subnet id 'net-1'"),
    (DeployOptions(subnet_ids=("subnet-0123abcd",), security_group_ids=("group",)), "invalid security group id"),
])
def test_bad_options_are_refused_before_any_call(options: DeployOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_options(options)


def test_the_defaults_are_valid() -> None:
    validate_options(DeployOptions())
    assert DeployOptions() == DeployOptions(name="lambdash", runtime="python3.13", architecture="arm64",
                                            memory_mb=1024, timeout_seconds=300, ephemeral_storage_mb=512)


def parse(argv: list[str]) -> Any:
    terminal = Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    args, _ = parse_arguments(argv, terminal)
    return args


@pytest.mark.parametrize(("argv", "timeout"), [
    (["deploy"], 300),
    (["deploy", "--timeout", "60"], 60),
    (["--timeout", "45", "deploy"], 45),
    (["-t", "30", "deploy", "--memory", "512"], 30),
])
def test_deploy_timeout_is_the_function_timeout_wherever_it_is_given(argv: list[str], timeout: int) -> None:
    assert deploy_options(parse(argv)).timeout_seconds == timeout


def test_a_fractional_function_timeout_is_refused() -> None:
    with pytest.raises(UsageError, match="whole number of seconds"):
        deploy_options(parse(["--timeout", "1.5", "deploy"]))
    with pytest.raises(UsageError, match="whole number of seconds"):
        parse(["deploy", "--timeout", "1.5"])


def test_deploy_options_from_the_command_line() -> None:
    options = deploy_options(parse([
        "deploy", "--name", "box", "--runtime", "python3.12", "--arch", "x86_64", "--memory", "2048",
        "--ephemeral-storage", "1024", "--bucket", "my-spills", "--subnet", "subnet-0123abcd",
        "--subnet", "subnet-4567abcd", "--security-group", "sg-0123abcd",
    ]))
    assert options == DeployOptions(
        name="box", runtime="python3.12", architecture="x86_64", memory_mb=2048, ephemeral_storage_mb=1024,
        bucket="my-spills", subnet_ids=("subnet-0123abcd", "subnet-4567abcd"), security_group_ids=("sg-0123abcd",),
    )
    assert deploy_options(parse(["-f", "box", "deploy"])).name == "box"
    assert deploy_options(parse(["deploy", "--no-bucket"])).use_bucket is False


def test_contradictory_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="disagree"):
        deploy_options(parse(["-f", "one", "deploy", "--name", "two"]))
    with pytest.raises(UsageError, match="contradict"):
        deploy_options(parse(["--bucket", "b-1", "deploy", "--no-bucket"]))
    with pytest.raises(UsageError):
        parse(["deploy", "--bucket", "b-1", "--no-bucket"])


# -- the desired documents -------------------------------------------------------------------------------------------

def test_the_role_can_be_assumed_by_lambda_only() -> None:
    assert settings().trust_policy == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }


def test_the_spill_policy_covers_the_prefix_of_the_bucket_only() -> None:
    policy = settings(bucket="spills", prefix="lambdash").spill_policy
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Sid": "SpillObjects", "Effect": "Allow",
        "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::spills/lambdash/*",
    }]}
    assert settings(bucket=None).spill_policy is None
    assert present(settings(partition="aws-cn").spill_policy)["Statement"][0]["Resource"].startswith("arn:aws-cn:s3:::")


def test_managed_policies_are_basic_logging_plus_vpc_access_only_in_a_vpc() -> None:
    assert settings().managed_policy_arns == (BASIC,)
    assert settings(subnet_ids=("subnet-0123abcd",), security_group_ids=("sg-0123abcd",)).managed_policy_arns == (
        BASIC, VPC)


def test_the_environment_names_the_bucket_and_the_exec_wrapper() -> None:
    wrapper = {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/handler/exec-wrapper"}
    assert settings(bucket="spills").environment == {
        **wrapper, "LAMBDASH_BUCKET": "spills", "LAMBDASH_PREFIX": "lambdash"}
    assert settings(bucket=None).environment == wrapper
    assert settings(bucket=None, stream=False).environment == {}


def test_a_deploy_from_before_streaming_is_recorded_without_it() -> None:
    """Its settings tag has no stream field, and no wrapper was set up: status sees streaming off."""
    old_record = settings_record(settings()).replace(" stream=on", "")
    assert settings_from_record(settings(), old_record).stream is False
    assert settings_from_record(settings(stream=False), settings_record(settings(stream=False))).stream is False
    assert settings_from_record(settings(), settings_record(settings())).stream is True


def test_the_default_bucket_is_per_account_and_region() -> None:
    assert default_bucket_name("123456789012", "eu-west-1") == "lambdash-123456789012-eu-west-1"


def test_the_recorded_settings_read_back_as_they_were() -> None:
    wanted = settings(memory_mb=2048, timeout_seconds=60, runtime="python3.12", architecture="x86_64",
                      ephemeral_storage_mb=2048, bucket="spills", prefix="shells/x")
    assert len(settings_record(wanted)) <= 256
    assert "," not in settings_record(wanted)
    assert settings_from_record(settings(), settings_record(wanted)) == wanted
    assert settings_from_record(settings(), settings_record(settings(bucket=None))).bucket is None


# -- planning a deploy -----------------------------------------------------------------------------------------------

def test_a_first_deploy_creates_bucket_role_and_function_in_that_order() -> None:
    plan = plan_deploy(settings(), ObservedState(role=None, bucket=None, function=None), SHA)
    assert [(change.resource.kind, change.action) for change in plan.changes] == [
        (ResourceKind.BUCKET, Action.CREATE), (ResourceKind.ROLE, Action.CREATE),
        (ResourceKind.FUNCTION, Action.CREATE),
    ]
    assert all(change.reason == "does not exist" for change in plan.changes)
    assert change_of(plan, ResourceKind.BUCKET).steps == (
        Step(Operation.CREATE_BUCKET), Step(Operation.PUT_BUCKET_TAGS), Step(Operation.PUT_PUBLIC_ACCESS_BLOCK),
        Step(Operation.PUT_BUCKET_ENCRYPTION), Step(Operation.PUT_BUCKET_LIFECYCLE),
    )
    assert change_of(plan, ResourceKind.ROLE).steps == (
        Step(Operation.CREATE_ROLE), Step(Operation.ATTACH_ROLE_POLICY, BASIC),
        Step(Operation.PUT_ROLE_POLICY, "lambdash-spill"),
    )
    assert change_of(plan, ResourceKind.FUNCTION).steps == (Step(Operation.CREATE_FUNCTION),)
    assert plan.changed


def test_without_a_bucket_there_is_no_bucket_and_no_inline_policy() -> None:
    plan = plan_deploy(settings(bucket=None), ObservedState(role=None, bucket=None, function=None), SHA)
    assert [change.resource.kind for change in plan.changes] == [ResourceKind.ROLE, ResourceKind.FUNCTION]
    assert change_of(plan, ResourceKind.ROLE).steps == (
        Step(Operation.CREATE_ROLE), Step(Operation.ATTACH_ROLE_POLICY, BASIC))


def test_a_deploy_of_what_exists_changes_nothing_and_says_so() -> None:
    wanted = settings()
    plan = plan_deploy(wanted, as_deployed(wanted), SHA)
    assert [change.action for change in plan.changes] == [Action.NO_CHANGE] * 3
    assert all(change.reason == "up to date" and not change.steps for change in plan.changes)
    assert not plan.changed


def test_memory_changed_outside_updates_the_configuration_only() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, function=replace(present(observed.function), memory_mb=2048))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.FUNCTION)
    assert change.action is Action.UPDATE
    assert change.reason == "memory 2048 MB -> 1024 MB"
    # The recorded settings did not change, so the tags stay as they are.
    assert change.steps == (Step(Operation.UPDATE_FUNCTION_CONFIGURATION),)


def test_new_settings_update_the_configuration_and_the_recorded_settings() -> None:
    deployed = settings()
    wanted = settings(timeout_seconds=60, ephemeral_storage_mb=1024, runtime="python3.12")
    change = change_of(plan_deploy(wanted, as_deployed(deployed), SHA), ResourceKind.FUNCTION)
    assert change.details == ("runtime python3.13 -> python3.12", "timeout 300 s -> 60 s",
                              "ephemeral storage 512 MB -> 1024 MB")
    assert change.steps == (Step(Operation.UPDATE_FUNCTION_CONFIGURATION), Step(Operation.TAG_FUNCTION))


def test_new_code_updates_the_code_only() -> None:
    wanted = settings()
    change = change_of(plan_deploy(wanted, as_deployed(wanted, "b2xkLWNvZGU="), SHA), ResourceKind.FUNCTION)
    assert change.action is Action.UPDATE
    assert change.reason == "code sha256 b2xkLWNvZGU=... -> c2hhLW9mLXRo..."
    assert change.steps == (Step(Operation.UPDATE_FUNCTION_CODE),)


def test_a_new_architecture_goes_with_the_code() -> None:
    change = change_of(plan_deploy(settings(architecture="x86_64"), as_deployed(settings()), SHA),
                       ResourceKind.FUNCTION)
    assert change.details[0] == "architecture arm64 -> x86_64"
    assert change.steps == (Step(Operation.UPDATE_FUNCTION_CODE), Step(Operation.TAG_FUNCTION))


def test_an_environment_changed_outside_is_set_back() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, function=replace(present(observed.function), environment={"EXTRA": "1"}))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.FUNCTION)
    assert change.reason == (
        "environment EXTRA=1 -> AWS_LAMBDA_EXEC_WRAPPER=/var/task/handler/exec-wrapper "
        "LAMBDASH_BUCKET=lambdash-123456789012-eu-west-1 LAMBDASH_PREFIX=lambdash"
    )


def test_a_function_url_and_a_resource_policy_are_removed_first() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, function=replace(present(observed.function), has_url=True,
                                                  policy_statement_ids=("FunctionURLAllowPublicAccess",)))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.FUNCTION)
    assert change.steps == (
        Step(Operation.DELETE_FUNCTION_URL), Step(Operation.REMOVE_PERMISSION, "FunctionURLAllowPublicAccess"))
    assert "function URL" in change.reason


def test_the_role_gets_back_to_least_privilege() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    loose_trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    observed = replace(observed, role=replace(
        present(observed.role), trust_policy=loose_trust, attached_policy_arns=(BASIC, admin),
        inline_policies={"lambdash-spill": present(settings(bucket="elsewhere").spill_policy),
                         "extra": {"Statement": []}},
    ))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.ROLE)
    assert change.steps == (
        Step(Operation.UPDATE_TRUST_POLICY), Step(Operation.DETACH_ROLE_POLICY, admin),
        Step(Operation.DELETE_ROLE_POLICY, "extra"),
        Step(Operation.PUT_ROLE_POLICY, "lambdash-spill"),
    )
    assert "AdministratorAccess is attached but not wanted" in change.details


def test_a_policy_returned_in_another_but_equal_form_is_no_change() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    spill_policy = present(wanted.spill_policy)
    statement = dict(spill_policy["Statement"][0], Action=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"])
    trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}}
    observed = replace(observed, role=replace(present(observed.role), trust_policy=trust,
                                              inline_policies={"lambdash-spill": {**spill_policy,
                                                                                  "Statement": [statement]}}))
    assert change_of(plan_deploy(wanted, observed, SHA), ResourceKind.ROLE).action is Action.NO_CHANGE


def test_joining_a_vpc_attaches_the_vpc_policy_and_updates_the_configuration() -> None:
    wanted = settings(subnet_ids=("subnet-0123abcd",), security_group_ids=("sg-0123abcd",))
    plan = plan_deploy(wanted, as_deployed(settings()), SHA)
    assert change_of(plan, ResourceKind.ROLE).steps == (Step(Operation.ATTACH_ROLE_POLICY, VPC),)
    assert change_of(plan, ResourceKind.FUNCTION).details == (
        "VPC (none) -> subnets subnet-0123abcd groups sg-0123abcd",)


def test_a_bucket_that_drifted_is_set_back() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, bucket=replace(present(observed.bucket), public_access_block=None,
                                                sse_algorithm="aws:kms", lifecycle_rules=()))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.BUCKET)
    assert change.steps == (Step(Operation.PUT_PUBLIC_ACCESS_BLOCK), Step(Operation.PUT_BUCKET_ENCRYPTION),
                            Step(Operation.PUT_BUCKET_LIFECYCLE))
    assert change.details == ("public access block is not fully on",
                              "default encryption is aws:kms, not SSE-S3 (AES256)",
                              "lifecycle is not exactly: expire lambdash/ after 1 day")


def test_an_existing_bucket_of_ours_without_the_tag_is_used_but_never_changed() -> None:
    wanted = settings(bucket="my-own")
    observed = replace(as_deployed(wanted), bucket=BucketState(name="my-own", access=BucketAccess.OWNED))
    change = change_of(plan_deploy(wanted, observed, SHA), ResourceKind.BUCKET)
    assert change.action is Action.NO_CHANGE
    assert not change.steps
    assert "without the lambdash tag" in change.reason


def test_a_bucket_name_someone_else_holds_is_refused() -> None:
    observed = ObservedState(role=None, bucket=BucketState("taken", BucketAccess.FORBIDDEN), function=None)
    with pytest.raises(ConfigError, match="bucket taken exists but this account cannot use it"):
        plan_deploy(settings(bucket="taken"), observed, SHA)


def test_a_role_or_function_not_made_by_lambdash_is_never_taken_over() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    with pytest.raises(ConfigError, match="role lambdash-shell-role exists but was not created by lambdash"):
        plan_deploy(wanted, replace(observed, role=replace(present(observed.role), tags={})), SHA)
    with pytest.raises(ConfigError, match="function shell exists but was not created by lambdash"):
        plan_deploy(wanted, replace(observed, function=replace(present(observed.function), tags={"team": "x"})), SHA)


def test_the_plan_prints_one_aligned_line_per_resource_and_is_json() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, function=replace(present(observed.function), memory_mb=2048))
    plan = plan_deploy(wanted, observed, SHA)
    assert plan.lines() == [
        "bucket   lambdash-123456789012-eu-west-1  no-change  up to date",
        "role     lambdash-shell-role              no-change  up to date",
        "function shell                            update     memory 2048 MB -> 1024 MB",
    ]
    document = json.loads(json.dumps(plan.to_dict()))
    assert document["changed"] is True
    assert document["changes"][2]["steps"] == ["update_function_configuration"]


# -- status and destroy ----------------------------------------------------------------------------------------------

def test_status_compares_with_the_recorded_settings_not_the_defaults() -> None:
    deployed = settings(memory_mb=2048, bucket="spills")
    observed = as_deployed(deployed)
    recorded, notes = recorded_settings(settings(), present(observed.function))
    assert recorded == deployed
    assert notes == []
    untagged = replace(present(observed.function), tags={"lambdash": "managed"})
    recorded, notes = recorded_settings(settings(), untagged)
    assert recorded.memory_mb == 1024
    assert recorded.bucket == "spills"
    assert notes == ["no lambdash:settings tag: compared with deploy's defaults"]


def test_status_notices_a_vpc_changed_outside() -> None:
    function = replace(present(as_deployed(settings()).function), subnet_ids=("subnet-0123abcd",),
                       security_group_ids=("sg-0123abcd",))
    _, notes = recorded_settings(settings(), function)
    assert notes == ["VPC subnets or security groups changed outside lambdash"]


def test_destroy_removes_function_then_role_then_bucket() -> None:
    wanted = settings()
    plan = plan_destroy(wanted, as_deployed(wanted))
    assert [(change.resource.kind, change.action) for change in plan.changes] == [
        (ResourceKind.FUNCTION, Action.DELETE), (ResourceKind.ROLE, Action.DELETE),
        (ResourceKind.BUCKET, Action.DELETE),
    ]
    assert change_of(plan, ResourceKind.ROLE).steps == (
        Step(Operation.DETACH_ROLE_POLICY, BASIC), Step(Operation.DELETE_ROLE_POLICY, "lambdash-spill"),
        Step(Operation.DELETE_ROLE))
    assert change_of(plan, ResourceKind.BUCKET).steps == (Step(Operation.EMPTY_BUCKET), Step(Operation.DELETE_BUCKET))


def test_destroy_keeps_what_lambdash_did_not_make_and_a_bucket_in_use() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, role=replace(present(observed.role), tags={}),
                       function=replace(present(observed.function), tags={}))
    plan = plan_destroy(wanted, observed, bucket_users=("other-shell",))
    assert [change.action for change in plan.changes] == [Action.KEEP] * 3
    assert change_of(plan, ResourceKind.BUCKET).reason == "still the spill bucket of other-shell"
    assert not plan.changed


def test_destroy_of_nothing_has_nothing_to_do() -> None:
    plan = plan_destroy(settings(), ObservedState(role=None, bucket=None, function=None))
    assert not plan.changed
    assert [change.reason for change in plan.changes] == ["does not exist", "does not exist"]


def test_the_bucket_is_found_from_the_function_or_else_the_role() -> None:
    observed = as_deployed(settings(bucket="spills"))
    assert bucket_of(observed) == "spills"
    assert bucket_of(replace(observed, function=None)) == "spills"
    assert bucket_of(ObservedState(role=None, bucket=None, function=None)) is None


def test_lifecycle_rule_expires_the_prefix_after_a_day() -> None:
    assert settings(prefix="lambdash").lifecycle_rule == {
        "ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": "lambdash/"},
        "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def test_the_executor_has_a_method_for_every_operation_a_plan_can_hold() -> None:
    from lambdash.deploy.executor import PlanExecutor

    executor = PlanExecutor(client=None, settings=None, code=None)  # type: ignore[arg-type]
    assert set(executor.methods) == set(Operation)
