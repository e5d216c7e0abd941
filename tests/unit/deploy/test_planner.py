"""The planner: what a deploy or destroy creates, updates or leaves alone, and why, and status's drift. No AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lambdash.deploy.observed import BucketAccess, BucketState, ObservedState
from lambdash.deploy.plan import Action, Operation, ResourceKind, Step
from lambdash.deploy.planner import bucket_of, plan_deploy, plan_destroy, recorded_settings
from lambdash.errors import ConfigError
from tests.unit.deploy.examples import BASIC, SHA, VPC, as_deployed, change_of, present, settings

# -- planning a deploy -----------------------------------------------------------------------------------------------

def test_a_first_deploy_creates_bucket_role_and_function_in_that_order() -> None:
    plan = plan_deploy(settings(), ObservedState(role=None, bucket=None, function=None), SHA)
    assert [(change.resource.kind, change.action) for change in plan.changes] == [
        (ResourceKind.BUCKET, Action.CREATE), (ResourceKind.SESSIONS, Action.CREATE),
        (ResourceKind.ROLE, Action.CREATE), (ResourceKind.FUNCTION, Action.CREATE),
    ]
    assert all(change.reason.startswith("does not exist") for change in plan.changes)
    assert change_of(plan, ResourceKind.SESSIONS).steps == (
        Step(Operation.CREATE_ROLE), Step(Operation.PUT_ROLE_POLICY, "lambdash-session-send"))
    assert change_of(plan, ResourceKind.BUCKET).steps == (
        Step(Operation.CREATE_BUCKET), Step(Operation.PUT_BUCKET_TAGS), Step(Operation.PUT_PUBLIC_ACCESS_BLOCK),
        Step(Operation.PUT_BUCKET_ENCRYPTION), Step(Operation.PUT_BUCKET_LIFECYCLE),
    )
    assert change_of(plan, ResourceKind.ROLE).steps == (
        Step(Operation.CREATE_ROLE), Step(Operation.ATTACH_ROLE_POLICY, BASIC),
        Step(Operation.PUT_ROLE_POLICY, "lambdash-sessions"), Step(Operation.PUT_ROLE_POLICY, "lambdash-spill"),
    )
    assert change_of(plan, ResourceKind.FUNCTION).steps == (Step(Operation.CREATE_FUNCTION),)
    assert plan.changed


def test_without_a_bucket_there_is_no_bucket_and_no_spill_policy() -> None:
    plan = plan_deploy(settings(bucket=None), ObservedState(role=None, bucket=None, function=None), SHA)
    assert [change.resource.kind for change in plan.changes] == [
        ResourceKind.SESSIONS, ResourceKind.ROLE, ResourceKind.FUNCTION]
    assert change_of(plan, ResourceKind.ROLE).steps == (
        Step(Operation.CREATE_ROLE), Step(Operation.ATTACH_ROLE_POLICY, BASIC),
        Step(Operation.PUT_ROLE_POLICY, "lambdash-sessions"))


def test_a_deploy_of_what_exists_changes_nothing_and_says_so() -> None:
    wanted = settings()
    plan = plan_deploy(wanted, as_deployed(wanted), SHA)
    assert [change.action for change in plan.changes] == [Action.NO_CHANGE] * 4
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
        "environment EXTRA=1 -> AWS_LAMBDA_EXEC_WRAPPER=/var/task/lambdash_handler/exec-wrapper "
        "LAMBDASH_BUCKET=lambdash-123456789012-eu-west-1 LAMBDASH_PREFIX=lambdash "
        "LAMBDASH_SESSION_ROLE=arn:aws:iam::123456789012:role/lambdash-session"
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
        Step(Operation.PUT_ROLE_POLICY, "lambdash-spill"), Step(Operation.PUT_ROLE_POLICY, "lambdash-sessions"),
    )
    assert "AdministratorAccess is attached but not wanted" in change.details


def test_a_policy_returned_in_another_but_equal_form_is_no_change() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    spill_policy = present(wanted.spill_policy)
    statement = dict(spill_policy["Statement"][0], Action=list(reversed(spill_policy["Statement"][0]["Action"])))
    trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}}
    observed = replace(observed, role=replace(present(observed.role), trust_policy=trust,
                                              inline_policies={"lambdash-spill": {**spill_policy, "Statement": [
                                                  statement, spill_policy["Statement"][1]]},
                                                               "lambdash-sessions": wanted.sessions_policy}))
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
        Step(Operation.DETACH_ROLE_POLICY, BASIC), Step(Operation.DELETE_ROLE_POLICY, "lambdash-sessions"),
        Step(Operation.DELETE_ROLE_POLICY, "lambdash-spill"), Step(Operation.DELETE_ROLE))
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


