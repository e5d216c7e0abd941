"""The IAM check itself: it reads the README's tables as a user would, and it fails when a permission is missing.

The check (``tests/helpers/iam.py``) is what holds every AWS call the suite sees to
the documented permissions; these tests make sure it cannot pass vacuously.
"""

from __future__ import annotations

import re

import pytest

from lambdash.commands.deploy import EPILOG
from tests.helpers import ROOT
from tests.helpers.iam import (
    DEPLOYER,
    FUNCTION,
    INVOKER,
    Call,
    Documented,
    Grants,
    deployer_actions,
    documented,
    needed,
    role_grants,
    violations,
)
from tests.unit.deploy.examples import settings

README = (ROOT / "README.md").read_text()
GET_FUNCTION = Call(DEPLOYER, "lambda", "GetFunction", {"FunctionName": "shell"})
ABORT = Call(FUNCTION, "s3", "AbortMultipartUpload", {"Bucket": "spills", "Key": "lambdash/out/r/stdout",
                                                       "UploadId": "u"})


def without(text: str, removed: str) -> Documented:
    assert removed in README
    return Documented(README.replace(removed, text))


def test_the_readme_as_it_is_allows_what_lambdash_calls() -> None:
    calls = [GET_FUNCTION, ABORT, Call(INVOKER, "lambda", "InvokeWithResponseStream", {"FunctionName": "shell"}),
             Call(FUNCTION, "s3", "GetBucketLocation", {"Bucket": "spills"}),
             Call(FUNCTION, "sts", "GetCallerIdentity"), Call(DEPLOYER, "sts", "GetCallerIdentity")]
    assert violations(calls, documented()) == []


def test_a_deployer_table_without_list_tags_fails_the_check() -> None:
    readme = without("", "`lambda:ListTags` (GetFunction shows the tags only with it), ")
    assert violations([GET_FUNCTION], readme) == ["deployer lambda:GetFunction needs lambda:ListTags"]


def test_a_role_without_abort_fails_the_check_and_so_does_a_key_outside_the_prefix() -> None:
    readme = without("", " `s3:AbortMultipartUpload`")
    readme = Documented(readme.readme.replace("`s3:DeleteObject`, on", "`s3:DeleteObject` on"))
    role = role_grants(readme.readme, "spills", "lambdash")
    assert violations([ABORT], readme, role=lambda call: role) == [
        "function s3:AbortMultipartUpload needs s3:AbortMultipartUpload on arn:aws:s3:::spills/lambdash/out/r/stdout"]
    outside = Call(FUNCTION, "s3", "PutObject", {"Bucket": "spills", "Key": "elsewhere/x"})
    role = role_grants(README, "spills", "lambdash")
    assert violations([outside], documented(), role=lambda call: role) == [
        "function s3:PutObject needs s3:PutObject on arn:aws:s3:::spills/elsewhere/x"]


def test_a_user_without_invoke_fails_the_check() -> None:
    readme = without("`lambda:GetFunction` on the function", "`lambda:InvokeFunction` on the function")
    assert violations([Call(INVOKER, "lambda", "Invoke", {"FunctionName": "shell"})], readme) == [
        "invoker lambda:Invoke needs lambda:InvokeFunction"]


def test_what_a_call_names_needs_rights_too() -> None:
    """Lambda checks the caller's own rights to the role, tags, VPC and key a function is created with."""
    create = Call(DEPLOYER, "lambda", "CreateFunction", {
        "FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Tags": {"lambdash": "managed"},
        "VpcConfig": {"SubnetIds": ["subnet-1"]}, "KMSKeyArn": "arn:aws:kms:eu-west-1:1:key/k"})
    assert [need.action for need in needed(create)] == [
        "lambda:CreateFunction", "iam:PassRole", "lambda:TagResource", "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets", "ec2:DescribeVpcs", "kms:CreateGrant", "kms:Encrypt"]
    assert violations([create], documented()) == []
    only_function_rows = Documented(README)
    assert only_function_rows.deployer_grants(("deploy (function)",)).allows(needed(create)[0])
    assert not only_function_rows.deployer_grants(("deploy (function)",)).allows(needed(create)[-1])


def test_an_operation_nobody_decided_on_fails_loudly() -> None:
    with pytest.raises(KeyError, match=r"s3:PutBucketPolicy is not in tests/helpers/iam\.py's ACTIONS"):
        needed(Call(DEPLOYER, "s3", "PutBucketPolicy", {"Bucket": "spills"}))


def test_status_may_do_the_get_and_list_actions_of_deploy_and_nothing_else() -> None:
    rows = deployer_actions(README)
    assert {"lambda:GetFunction", "lambda:ListTags", "s3:ListBucket", "iam:GetRolePolicy"} <= rows["status"]
    assert not {"iam:CreateRole", "lambda:CreateFunction", "s3:DeleteBucket"} & rows["status"]
    assert "lambda:DeleteFunction" in rows["destroy"]


def test_the_readmes_role_row_is_exactly_the_policies_deploy_puts() -> None:
    wanted = settings(bucket="spills", prefix="shells")
    assert wanted.spill_policy is not None
    row = role_grants(README, "spills", "shells")
    spills = Grants(frozenset(grant for grant in row.allowed if grant[0].startswith("s3:")))
    assert spills == Grants.of_policy(wanted.spill_policy)
    # The rest of the row is the sessions policy, action for action (its resources are queue and role ARNs).
    assert {action for action, _ in row.allowed if not action.startswith("s3:")} == \
        {action for action, _ in Grants.of_policy(wanted.sessions_policy).allowed}


def test_deploys_help_names_the_same_actions_as_the_readmes_deploy_rows() -> None:
    helped = set()
    for service, actions in re.findall(r"^\s*(iam|s3|lambda|ec2|kms):\s+(.+?)(?=^\s*\w+:|^With|\Z)", EPILOG,
                                       re.MULTILINE | re.DOTALL):
        # The words in parentheses say when, not what.
        helped |= {f"{service}:{action}" for action in re.sub(r"\([^)]*\)", "", actions).split()}
    rows = deployer_actions(README)
    assert helped == {action for label, actions in rows.items() if label.startswith("deploy") for action in actions}
