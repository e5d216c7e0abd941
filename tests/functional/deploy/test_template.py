"""``lambdash template``: a CloudFormation template that passes cfn-lint and makes what deploy makes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdash.cli import main
from lambdash.deploy.package import build_zip
from lambdash.deploy.settings import DeploySettings
from lambdash.deploy.template import to_yaml
from lambdash.terminal import Terminal

VPC_OPTIONS = ["--subnet", "subnet-0123abcd", "--subnet", "subnet-4567abcd", "--security-group", "sg-0123abcd"]

# The session role as the template names it (one per account).
SESSION_ROLE = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/lambdash-session"}

def template(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(["template", *argv], Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr))
    return status, stdout.getvalue().decode(), stderr.getvalue().decode()


def as_json(*argv: str) -> dict[str, Any]:
    status, out, err = template("--format", "json", *argv)
    assert status == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


@pytest.mark.parametrize("argv", [[], ["--no-bucket"], ["--bucket", "my-spills", *VPC_OPTIONS],
                                  ["--name", "box", "--arch", "x86_64", "--memory", "2048", "--timeout", "60",
                                   "--ephemeral-storage", "4096", "--runtime", "python3.12"]])
@pytest.mark.parametrize("output", ["yaml", "json"])
def test_the_template_passes_cfn_lint(argv: list[str], output: str) -> None:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    status, out, err = template("--format", output, *argv)
    assert status == 0, err
    matches = lint(out, ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))
    assert [str(match) for match in matches] == []


@pytest.mark.parametrize("argv", [[], ["--no-bucket"], VPC_OPTIONS])
def test_yaml_and_json_say_the_same(argv: list[str]) -> None:
    import yaml
    status, out, _ = template(*argv)
    assert status == 0
    assert yaml.safe_load(out) == as_json(*argv)


def test_the_resources_are_deploys() -> None:
    document = as_json()
    settings = DeploySettings(name="lambdash", region="r", account="a", bucket="b")
    resources = document["Resources"]
    assert sorted(resources) == ["Function", "FunctionRole", "SessionRole", "SpillBucket"]

    bucket = resources["SpillBucket"]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": "lambdash-${AWS::AccountId}-${AWS::Region}"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert bucket["BucketEncryption"] == {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert bucket["LifecycleConfiguration"]["Rules"] == [{
        "Id": "lambdash-expire-spills", "Status": "Enabled", "Prefix": "lambdash/", "ExpirationInDays": 1,
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]
    assert bucket["Tags"] == [{"Key": "lambdash", "Value": "managed"}]

    role = resources["FunctionRole"]["Properties"]
    assert role["RoleName"] == {"Fn::Sub": "lambdash-${FunctionName}-role"}
    assert role["AssumeRolePolicyDocument"] == settings.trust_policy
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]
    policy, sessions = role["Policies"]
    assert sessions["PolicyName"] == "lambdash-sessions"
    assert [statement["Resource"] for statement in sessions["PolicyDocument"]["Statement"]] == [
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:lambdash-session-*"},
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"}, SESSION_ROLE]
    assert policy["PolicyName"] == "lambdash-spill"
    assert policy["PolicyDocument"]["Statement"] == [{
        "Sid": "SpillObjects", "Effect": "Allow",
        "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SpillBucket}/lambdash/*"},
    }, {
        "Sid": "SpillBucketRegion", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
        "Resource": {"Fn::GetAtt": ["SpillBucket", "Arn"]},
    }]

    function = resources["Function"]["Properties"]
    assert {key: function[key] for key in ("Runtime", "Handler", "Architectures", "MemorySize", "Timeout",
                                           "EphemeralStorage")} == {
        "Runtime": "python3.13", "Handler": "lambdash_handler.app.handle", "Architectures": ["arm64"],
        "MemorySize": 1024, "Timeout": 300, "EphemeralStorage": {"Size": 512}}
    assert function["Environment"] == {"Variables": {
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper",
        "LAMBDASH_BUCKET": {"Ref": "SpillBucket"}, "LAMBDASH_PREFIX": "lambdash",
        "LAMBDASH_SESSION_ROLE": SESSION_ROLE}}
    session_role = resources["SessionRole"]
    assert session_role["Condition"] == "MakeSessionRole"
    assert document["Conditions"] == {"MakeSessionRole": {"Fn::Equals": [{"Ref": "CreateSessionRole"}, "true"]}}
    assert session_role["Properties"]["RoleName"] == "lambdash-session"
    (send,) = session_role["Properties"]["Policies"]
    assert send["PolicyDocument"]["Statement"] == [{
        "Sid": "SendToSessionQueues", "Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:lambdash-session-*"}}]
    assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert function["Tags"][0] == {"Key": "lambdash", "Value": "managed"}
    assert "FunctionUrlConfig" not in json.dumps(document)
    assert "AWS::Lambda::Permission" not in json.dumps(document)


def test_without_a_bucket_there_is_no_bucket_policy_or_spill_environment() -> None:
    document = as_json("--no-bucket")
    assert sorted(document["Resources"]) == ["Function", "FunctionRole", "SessionRole"]
    assert [policy["PolicyName"] for policy in document["Resources"]["FunctionRole"]["Properties"]["Policies"]] == [
        "lambdash-sessions"]
    session = {"LAMBDASH_SESSION_ROLE": SESSION_ROLE}
    assert document["Resources"]["Function"]["Properties"]["Environment"] == {
        "Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper", **session}}
    assert as_json("--no-bucket", "--no-stream")["Resources"]["Function"]["Properties"]["Environment"] == {
        "Variables": session}


def test_a_vpc_adds_its_config_and_the_vpc_access_policy() -> None:
    document = as_json(*VPC_OPTIONS)
    function = document["Resources"]["Function"]["Properties"]
    assert function["VpcConfig"] == {"SubnetIds": ["subnet-0123abcd", "subnet-4567abcd"],
                                     "SecurityGroupIds": ["sg-0123abcd"]}
    assert document["Resources"]["FunctionRole"]["Properties"]["ManagedPolicyArns"][1] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}


def test_write_zip_writes_the_deploy_artifact_and_the_key_names_its_hash(tmp_path: Path) -> None:
    artifact = tmp_path / "handler.zip"
    status, out, err = template("--format", "json", "--write-zip", str(artifact), "--code-bucket", "artifacts")
    assert status == 0
    code = build_zip()
    assert artifact.read_bytes() == code.zip_bytes
    key = f"lambdash-code/handler-{code.sha256_hex[:16]}.zip"
    parameters = json.loads(out)["Parameters"]
    assert (parameters["CodeBucket"]["Default"], parameters["CodeKey"]["Default"]) == ("artifacts", key)
    assert err == (f"lambdash: wrote {artifact} ({code.size} bytes, CodeSha256 {code.sha256}); "
                   f"upload it to s3://artifacts/{key}\n")


def test_code_key_can_be_given() -> None:
    assert as_json("--code-key", "builds/7.zip")["Parameters"]["CodeKey"]["Default"] == "builds/7.zip"


def test_bad_settings_are_refused_as_deploy_refuses_them() -> None:
    status, out, err = template("--runtime", "python2.7")
    assert (status, out) == (255, "")
    assert err.startswith("lambdash: error: unsupported runtime 'python2.7'")


# -- the YAML emitter ------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(["2010-09-09", "true", "No", "null", "~", "1e3", "0x10", "a: b", "- x", "#c", "Fn::Sub",
                     "arn:aws:s3:::b/*", "", " lead", "trail ", "x\ny", "'q'", '"d"', "@at", "*star", "&amp"]),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    st.none(),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


@given(trees)
def test_the_yaml_emitter_round_trips(tree: Any) -> None:
    import yaml
    assert yaml.safe_load(to_yaml(tree)) == tree
