"""deploy, status and destroy against the moto server on loopback; failures through botocore's Stubber.

Each test deploys a function of its own name and, except where the default name
is the point, a bucket of its own, since the moto server is shared by the session.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdash.aws.deploy import DeployClient
from lambdash.cli import main
from lambdash.config import Target
from lambdash.deploy.deployer import prepare_deploy
from lambdash.deploy.executor import apply_plan
from lambdash.deploy.observed import ObservedState
from lambdash.deploy.package import build_zip, handler_source
from lambdash.deploy.planner import plan_deploy
from lambdash.deploy.settings import DeployOptions, resolve_settings
from lambdash.errors import ConfigError, TransportError
from lambdash.local.function import FunctionConfig
from lambdash.local.server import LocalLambda
from lambdash.terminal import Terminal
from tests.helpers import Run, unpack_as_lambda_does

ACCOUNT = "123456789012"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"



@pytest.fixture
def run(aws_env: dict[str, str], moto_url: str) -> Run:
    """``lambdash ARGS`` in process against moto; returns (status, stdout, stderr)."""

    def run_lambdash(*argv: str, stdin: bytes = b"", tty: bool = False) -> tuple[int, str, str]:
        stdout, stderr = io.BytesIO(), io.BytesIO()
        terminal = Terminal(stdin=io.BytesIO(stdin), stdout=stdout, stderr=stderr, stdin_isatty=tty)
        status = main(["--endpoint-url", moto_url, *argv], terminal)
        return status, stdout.getvalue().decode(), stderr.getvalue().decode()

    return run_lambdash


@pytest.fixture
def names() -> tuple[str, str]:
    """A function name and a bucket name no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return f"shell-{suffix}", f"spills-{suffix}"


def client(service: str, moto_url: str) -> Any:
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1")


def action_lines(stdout: str) -> list[list[str]]:
    """The plan's lines as [kind, name, action], but the account's session role's.

    The moto server is the whole session's, and the session role is the account's: the
    first test to deploy makes it (``test_deploy_sets_up_sessions`` checks it).
    """
    return [line.split()[:3] for line in stdout.splitlines() if line.startswith("  ")
            and not line.startswith("  sessions ")]


def modified_handler(tmp_path: Path) -> Path:
    copy = tmp_path / "handler"
    shutil.copytree(handler_source(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    with (copy / "app.py").open("a") as app:
        app.write("\n# a change to the handler\n")
    return copy


def test_deploy_sets_up_sessions(run: Run, names: tuple[str, str], moto_url: str) -> None:
    """The function role runs its session queues; the account's session role may only send to them."""
    name, bucket = names
    status, out, err = run("deploy", "--name", name, "--bucket", bucket)
    assert status == 0, err
    (sessions,) = [line.split()[:3] for line in out.splitlines() if line.startswith("  sessions ")]
    assert sessions[:2] == ["sessions", "lambdash-session"]
    iam = client("iam", moto_url)
    role = iam.get_role(RoleName="lambdash-session")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/lambdash-*-role"}}}]
    assert role["Tags"] == [{"Key": "lambdash", "Value": "managed"}]
    assert iam.list_role_policies(RoleName="lambdash-session")["PolicyNames"] == ["lambdash-session-send"]
    send = iam.get_role_policy(RoleName="lambdash-session", PolicyName="lambdash-session-send")["PolicyDocument"]
    assert send["Statement"] == [{"Sid": "SendToSessionQueues", "Effect": "Allow", "Action": "sqs:SendMessage",
                                  "Resource": f"arn:aws:sqs:*:{ACCOUNT}:lambdash-session-*"}]
    granted = iam.get_role_policy(RoleName=f"lambdash-{name}-role", PolicyName="lambdash-sessions")["PolicyDocument"]
    assert [statement["Sid"] for statement in granted["Statement"]] == [
        "SessionQueues", "ListSessionQueues", "HandOutSendOnlyCredentials"]
    # Destroying a function leaves the account's session role to the others.
    status, out, _ = run("destroy", "--name", name, "--yes")
    assert status == 0
    assert iam.get_role(RoleName="lambdash-session")["Role"]["RoleName"] == "lambdash-session"
    # Status of a function deployed before sessions existed shows what deploy would add.
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    iam.delete_role_policy(RoleName=f"lambdash-{name}-role", PolicyName="lambdash-sessions")
    status, out, _ = run("status", "--name", name)
    assert f"  - role lambdash-{name}-role: inline policy lambdash-sessions is missing" in out.splitlines()
    assert "sessions      role lambdash-session (send-only credentials, one queue per session)" in out.splitlines()
    assert run("destroy", "--name", name, "--yes")[0] == 0


def test_deploy_creates_every_resource_with_exact_settings(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    status, out, err = run("deploy", "--name", name, "--bucket", bucket)
    assert status == 0, err
    assert action_lines(out) == [["bucket", bucket, "create"], ["role", f"lambdash-{name}-role", "create"],
                                 ["function", name, "create"]]
    run_line = f"deployed: run commands with `lambdash -f {name} --region us-east-1 --endpoint-url {moto_url} COMMAND`"
    assert run_line in out

    iam, s3, lam = client("iam", moto_url), client("s3", moto_url), client("lambda", moto_url)
    role = iam.get_role(RoleName=f"lambdash-{name}-role")["Role"]
    assert role["AssumeRolePolicyDocument"] == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    assert role["Tags"] == [{"Key": "lambdash", "Value": "managed"}]
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [BASIC]
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["lambdash-sessions", "lambdash-spill"]
    spill = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="lambdash-spill")["PolicyDocument"]
    assert spill["Statement"] == [
        {"Sid": "SpillObjects", "Effect": "Allow",
         "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{bucket}/lambdash/*"},
        {"Sid": "SpillBucketRegion", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": f"arn:aws:s3:::{bucket}"},
    ]

    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert encryption[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["ID"], rule["Status"], rule["Filter"], rule["Expiration"]) == (
        "lambdash-expire-spills", "Enabled", {"Prefix": "lambdash/"}, {"Days": 1})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "lambdash", "Value": "managed"}]

    found = lam.get_function(FunctionName=name)
    config = found["Configuration"]
    assert (config["Runtime"], config["Architectures"], config["MemorySize"], config["Timeout"],
            config["EphemeralStorage"], config["Handler"], config["Role"]) == (
        "python3.13", ["arm64"], 1024, 300, {"Size": 512}, "lambdash_handler.app.handle", role["Arn"])
    assert config["Environment"]["Variables"] == {
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper",
        "LAMBDASH_BUCKET": bucket, "LAMBDASH_PREFIX": "lambdash",
        "LAMBDASH_SESSION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"}
    assert config["CodeSha256"] == build_zip().sha256
    assert found["Tags"]["lambdash"] == "managed"
    assert found["Tags"]["lambdash:settings"] == (
        f"runtime=python3.13 arch=arm64 memory=1024 timeout=300 tmp=512 bucket={bucket} prefix=lambdash vpc=- "
        "stream=on")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name)


def test_a_second_deploy_changes_nothing_and_says_so(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    before = client("lambda", moto_url).get_function_configuration(FunctionName=name)["LastModified"]
    status, out, err = run("deploy", "--name", name, "--bucket", bucket)
    assert status == 0
    assert [line[2] for line in action_lines(out)] == ["no-change"] * 3
    assert out.splitlines()[-1] == "no change: everything is up to date"
    assert err == ""
    assert client("lambda", moto_url).get_function_configuration(FunctionName=name)["LastModified"] == before


def test_changed_code_updates_the_code_only(run: Run, names: tuple[str, str], moto_url: str, tmp_path: Path) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    changed = modified_handler(tmp_path)
    status, out, err = run("deploy", "--name", name, "--bucket", bucket, "--handler-dir", str(changed))
    assert status == 0, err
    assert action_lines(out)[2] == ["function", name, "update"]
    assert "code sha256 " in out
    assert "update function code" in err
    assert "configuration" not in err
    config = client("lambda", moto_url).get_function_configuration(FunctionName=name)
    assert config["CodeSha256"] == build_zip(changed).sha256 != build_zip().sha256


def test_changed_settings_update_the_configuration(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    status, out, err = run("deploy", "--name", name, "--bucket", bucket, "--timeout", "60", "--memory", "2048")
    assert status == 0, err
    assert f"function {name}" in out
    assert "memory 1024 MB -> 2048 MB; timeout 300 s -> 60 s" in out
    config = client("lambda", moto_url).get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Timeout"]) == (2048, 60)
    # The timeout given before the subcommand is the function's too.
    status, out, err = run("--timeout", "45", "deploy", "--name", name, "--bucket", bucket, "--memory", "2048")
    assert status == 0, err
    assert client("lambda", moto_url).get_function_configuration(FunctionName=name)["Timeout"] == 45


def test_dry_run_prints_the_plan_and_creates_nothing(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    status, out, err = run("deploy", "--name", name, "--bucket", bucket, "--dry-run")
    assert status == 0, err
    role = f"lambdash-{name}-role"
    width = len(role)
    # The account's session role may be there already (made by another test), or not.
    shown = [line for line in out.splitlines() if not line.startswith("  sessions ")]
    assert shown == [
        f"function {name} in us-east-1 (account {ACCOUNT}):",
        f"  bucket   {bucket:<{width}}  create     does not exist",
        f"  role     {role:<{width}}  create     does not exist",
        f"  function {name:<{width}}  create     does not exist",
        "dry run: nothing was changed",
    ]
    with pytest.raises(client("lambda", moto_url).exceptions.ResourceNotFoundException):
        client("lambda", moto_url).get_function(FunctionName=name)
    with pytest.raises(client("iam", moto_url).exceptions.NoSuchEntityException):
        client("iam", moto_url).get_role(RoleName=f"lambdash-{name}-role")
    assert bucket not in [item["Name"] for item in client("s3", moto_url).list_buckets()["Buckets"]]


def test_dry_run_as_json(run: Run, names: tuple[str, str]) -> None:
    name, bucket = names
    status, out, _ = run("deploy", "--name", name, "--bucket", bucket, "--dry-run", "--json")
    assert status == 0
    document = json.loads(out)
    assert document["dry_run"] is True
    assert document["changed"] is True
    assert [change["action"] for change in document["changes"] if change["kind"] != "sessions"] == ["create"] * 3
    assert document["settings"]["bucket"] == bucket


def test_the_default_bucket_is_named_for_account_and_region(run: Run, moto_url: str) -> None:
    name = f"shell-{uuid.uuid4().hex[:10]}"
    status, out, _ = run("deploy", "--name", name, "--dry-run")
    assert status == 0
    assert action_lines(out)[0] == ["bucket", f"lambdash-{ACCOUNT}-us-east-1", "create"]


def test_no_bucket_means_no_bucket_no_spill_policy_no_spill_environment(
    run: Run, names: tuple[str, str], moto_url: str
) -> None:
    name, _ = names
    status, out, err = run("deploy", "--name", name, "--no-bucket", "--no-stream")
    assert status == 0, err
    assert [line[0] for line in action_lines(out)] == ["role", "function"]
    assert client("iam", moto_url).list_role_policies(RoleName=f"lambdash-{name}-role")["PolicyNames"] == [
        "lambdash-sessions"]
    # Without a bucket and without streaming, the function's environment names only its session role.
    assert client("lambda", moto_url).get_function_configuration(FunctionName=name)["Environment"] == {
        "Variables": {"LAMBDASH_SESSION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"}}
    assert run("destroy", "--name", name, "--yes")[0] == 0


def test_a_vpc_deploy_checks_the_subnet_and_attaches_vpc_access(
    run: Run, names: tuple[str, str], moto_url: str
) -> None:
    name, bucket = names
    ec2 = client("ec2", moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName=name, Description="lambdash test")["GroupId"]
    status, _, err = run("deploy", "--name", name, "--bucket", bucket, "--subnet", subnet, "--security-group", group)
    assert status == 0, err
    attached = client("iam", moto_url).list_attached_role_policies(RoleName=f"lambdash-{name}-role")
    assert sorted(policy["PolicyArn"] for policy in attached["AttachedPolicies"]) == [BASIC, VPC]
    config = client("lambda", moto_url).get_function_configuration(FunctionName=name)
    assert (config["VpcConfig"]["SubnetIds"], config["VpcConfig"]["SecurityGroupIds"]) == ([subnet], [group])


def test_an_unknown_subnet_is_one_line_and_creates_nothing(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    status, out, err = run("deploy", "--name", name, "--bucket", bucket,
                           "--subnet", "subnet-0123456789abcdef0", "--security-group", "sg-0123456789abcdef0")
    assert status == 255
    assert err == ("lambdash: error: subnet subnet-0123456789abcdef0 not found in us-east-1; check --subnet\n")
    assert out == ""
    with pytest.raises(client("iam", moto_url).exceptions.NoSuchEntityException):
        client("iam", moto_url).get_role(RoleName=f"lambdash-{name}-role")


def test_an_invalid_runtime_is_refused_before_any_call() -> None:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    # Nothing listens on port 9: any call would fail with a different message.
    status = main(["deploy", "--runtime", "python3.8", "--endpoint-url", "http://127.0.0.1:9"],
                  Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr))
    assert status == 255
    assert stderr.getvalue() == (
        b"lambdash: error: unsupported runtime 'python3.8': lambdash runs on python3.11, python3.12, "
        b"python3.13, python3.14\n")


def test_status_shows_the_function_and_drift(run: Run, names: tuple[str, str], moto_url: str, tmp_path: Path) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket, "--memory", "2048")[0] == 0
    status, out, err = run("status", "--name", name)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["function", name, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"]
    assert "state         Active (last update: Successful)" in lines
    assert "memory        2048 MB" in lines
    assert "timeout       300 s" in lines
    assert f"bucket        {bucket} (prefix lambdash/)" in lines
    assert f"role          arn:aws:iam::{ACCOUNT}:role/lambdash-{name}-role" in lines
    assert "streaming     on (AWS_LAMBDA_EXEC_WRAPPER starts the handler's streaming runtime loop)" in lines
    assert lines[-1] == "drift         none"

    # Changed outside lambdash: memory in the console, a policy on the role, and this checkout's code.
    client("lambda", moto_url).update_function_configuration(FunctionName=name, MemorySize=512)
    client("iam", moto_url).attach_role_policy(RoleName=f"lambdash-{name}-role",
                                               PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    changed = modified_handler(tmp_path)
    status, out, _ = run("status", "--name", name, "--handler-dir", str(changed))
    assert status == 0
    drift = out.split("drift         what `lambdash deploy` would change:\n")[1].splitlines()
    deployed_sha, local_sha = build_zip().sha256, build_zip(changed).sha256
    assert drift == [
        f"  - role lambdash-{name}-role: AdministratorAccess is attached but not wanted",
        f"  - function {name}: code sha256 {deployed_sha[:12]}... -> {local_sha[:12]}...",
        f"  - function {name}: memory 512 MB -> 2048 MB",
    ]
    document = json.loads(run("status", "--name", name, "--handler-dir", str(changed), "--json")[1])
    assert document["code_current"] is False
    assert document["local_code_sha256"] == local_sha
    assert document["memory_mb"] == 512
    assert document["streaming"] is True
    assert len(document["drift"]) == 3


def test_status_shows_streaming_switched_off_outside_lambdash_as_drift(run: Run, names: tuple[str, str],
                                                                       moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    lam = client("lambda", moto_url)
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    del variables["AWS_LAMBDA_EXEC_WRAPPER"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    status, out, _ = run("status", "--name", name)
    assert status == 0
    assert "streaming     off (buffered answers only); deployed on: drift" in out.splitlines()
    session = f"LAMBDASH_SESSION_ROLE=arn:aws:iam::{ACCOUNT}:role/lambdash-session"
    assert f"  - function {name}: environment LAMBDASH_BUCKET={bucket} LAMBDASH_PREFIX=lambdash {session} -> " \
           f"AWS_LAMBDA_EXEC_WRAPPER=/var/task/lambdash_handler/exec-wrapper LAMBDASH_BUCKET={bucket} " \
           f"LAMBDASH_PREFIX=lambdash {session}" in out.splitlines()
    # Deployed with --no-stream, no wrapper is wanted: status says off, and no drift.
    assert run("deploy", "--name", name, "--bucket", bucket, "--no-stream")[0] == 0
    status, out, _ = run("status", "--name", name)
    assert "streaming     off (buffered answers only)" in out.splitlines()
    assert out.splitlines()[-1] == "drift         none"


def test_status_of_a_missing_function(run: Run) -> None:
    status, out, err = run("status", "--name", "never-deployed")
    assert (status, out) == (255, "")
    assert err == ("lambdash: error: function 'never-deployed' not found in us-east-1; "
                   "create it with `lambdash deploy`\n")


def test_destroy_removes_everything_and_is_safe_twice(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    s3 = client("s3", moto_url)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="lambdash/one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="lambdash/one", Body=b"2")
    s3.delete_object(Bucket=bucket, Key="lambdash/one")

    status, out, err = run("destroy", "--name", name, "--yes")
    assert status == 0, err
    assert action_lines(out) == [["function", name, "delete"], ["role", f"lambdash-{name}-role", "delete"],
                                 ["bucket", bucket, "delete"]]
    assert out.splitlines()[-1] == "removed"
    with pytest.raises(client("lambda", moto_url).exceptions.ResourceNotFoundException):
        client("lambda", moto_url).get_function(FunctionName=name)
    with pytest.raises(client("iam", moto_url).exceptions.NoSuchEntityException):
        client("iam", moto_url).get_role(RoleName=f"lambdash-{name}-role")
    assert bucket not in [item["Name"] for item in s3.list_buckets()["Buckets"]]

    status, out, err = run("destroy", "--name", name, "--yes")
    assert status == 0, err
    # The account's default bucket may be listed too: kept, whatever it holds.
    assert {line[2] for line in action_lines(out)} == {"keep"}
    assert out.splitlines()[-1] == "nothing to remove"


def test_destroy_without_a_terminal_or_yes_refuses(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    status, _, err = run("destroy", "--name", name)
    assert status == 255
    assert err == "lambdash: error: destroy needs confirmation: pass --yes (stdin is not a terminal to ask on)\n"
    assert client("lambda", moto_url).get_function(FunctionName=name)


def test_destroy_asks_on_a_terminal(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    status, _, err = run("destroy", "--name", name, stdin=b"n\n", tty=True)
    assert status == 1
    assert err == "remove the resources marked delete above? [y/N] nothing removed\n"
    assert client("lambda", moto_url).get_function(FunctionName=name)
    status, out, _ = run("destroy", "--name", name, stdin=b"y\n", tty=True)
    assert status == 0
    assert out.endswith("removed\n")


def test_destroy_leaves_what_lambdash_did_not_make(run: Run, names: tuple[str, str], moto_url: str) -> None:
    name, bucket = names
    iam = client("iam", moto_url)
    iam.create_role(RoleName=f"lambdash-{name}-role", AssumeRolePolicyDocument="{}")
    client("s3", moto_url).create_bucket(Bucket=bucket)
    status, out, _ = run("destroy", "--name", name, "--yes")
    assert status == 0
    assert action_lines(out)[1] == ["role", f"lambdash-{name}-role", "keep"]
    assert out.splitlines()[-1] == "nothing to remove"
    assert iam.get_role(RoleName=f"lambdash-{name}-role")
    # Nor does deploy take such a role over.
    status, _, err = run("deploy", "--name", name, "--bucket", bucket)
    assert status == 255
    assert err == (f"lambdash: error: role lambdash-{name}-role exists but was not created by lambdash "
                   "(no lambdash=managed tag); remove it or choose another --name\n")


def test_destroy_keeps_a_bucket_another_function_spills_to(run: Run, moto_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    first, second, bucket = f"one-{suffix}", f"two-{suffix}", f"shared-{suffix}"
    assert run("deploy", "--name", first, "--bucket", bucket)[0] == 0
    assert run("deploy", "--name", second, "--bucket", bucket)[0] == 0
    status, out, _ = run("destroy", "--name", first, "--yes")
    assert status == 0
    assert f"still the spill bucket of {second}" in out
    assert run("destroy", "--name", second, "--yes")[0] == 0
    assert bucket not in [item["Name"] for item in client("s3", moto_url).list_buckets()["Buckets"]]


def test_the_deployed_zip_runs_in_the_local_lambda(tmp_path: Path) -> None:
    """The artifact needs nothing but the standard library and boto3: unpack it and invoke it."""
    task_root = tmp_path / "task"
    unpack_as_lambda_does(build_zip().zip_bytes, task_root)
    with LocalLambda(FunctionConfig(task_root=task_root, timeout=30)) as local:
        lam = boto3.client("lambda", endpoint_url=local.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=local.credentials.access_key_id,
                           aws_secret_access_key=local.credentials.secret_access_key)
        raw = lam.invoke(FunctionName="lambdash",
                         Payload=json.dumps({"v": 1, "command": 'echo ok; echo "$LAMBDA_TASK_ROOT"'}).encode())
        response = json.loads(raw["Payload"].read())
    assert response["ok"] is True
    assert response["exit_status"] == 0
    assert base64.b64decode(response["stdout"]["data"]) == b"ok\n/var/task\n"  # where Lambda puts it


def test_after_a_deploy_the_client_needs_no_bucket(
    run: Run, names: tuple[str, str], moto_url: str, tmp_path: Path
) -> None:
    """The deployed zip with the deployed environment spills big output to the deployed bucket by itself."""
    name, bucket = names
    assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    environment = client("lambda", moto_url).get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    task_root = tmp_path / "task"
    unpack_as_lambda_does(build_zip().zip_bytes, task_root)
    with LocalLambda(FunctionConfig(name=name, task_root=task_root, environment=environment, timeout=60)) as local:
        local.keep_credentials()
        stdout, stderr = io.BytesIO(), io.BytesIO()
        status = main(["--endpoint-url", local.endpoint_url, "-f", name,
                       "cd /tmp; head -c 7000000 /dev/urandom > big; sha256sum < big >&2; cat big"],
                      Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr, stdin_isatty=True))
    assert status == 0, stderr.getvalue()
    assert len(stdout.getvalue()) == 7_000_000
    assert stderr.getvalue().decode().split()[0] == hashlib.sha256(stdout.getvalue()).hexdigest()
    assert client("s3", moto_url).list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


# -- failures through the Stubber: the one line each gives -----------------------------------------------------------

def stubbed(service: str, region: str = "us-east-1") -> tuple[Any, Stubber]:
    real = boto3.client(service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b")
    stubber = Stubber(real)
    stubber.activate()
    return real, stubber


def test_access_denied_on_iam_names_the_missing_permission() -> None:
    iam, stubber = stubbed("iam")
    stubber.add_client_error("create_role", service_error_code="AccessDenied", http_status_code=403,
                             service_message="User: arn:aws:iam::1:user/dev is not authorized to perform: ...")
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"iam": iam})
    settings = resolve_settings(DeployOptions(name="shell", use_bucket=False),
                                _identity(), "us-east-1")
    plan = plan_deploy(settings, ObservedState(role=None, bucket=None, function=None), "sha")
    with pytest.raises(TransportError) as caught:
        apply_plan(plan, deploy_client, build_zip(), lambda message: None)
    assert caught.value.message == (
        "access denied: these credentials may not call iam:CreateRole (on role lambdash-session); "
        "grant iam:CreateRole to the identity that deploys")


def test_access_denied_on_s3_names_the_permission_not_the_api() -> None:
    s3, stubber = stubbed("s3")
    stubber.add_client_error("put_bucket_encryption", service_error_code="AccessDenied", http_status_code=403)
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"s3": s3})
    with pytest.raises(TransportError, match=r"may not call s3:PutEncryptionConfiguration \(on bucket spills\)"):
        deploy_client.put_bucket_sse("spills", "AES256")


def test_a_bucket_name_taken_by_another_account() -> None:
    s3, stubber = stubbed("s3", "eu-west-1")
    stubber.add_client_error("create_bucket", service_error_code="BucketAlreadyExists", http_status_code=409)
    deploy_client = DeployClient(Target(function="shell", region="eu-west-1"), clients={"s3": s3})
    with pytest.raises(ConfigError) as caught:
        deploy_client.create_bucket("popular-name")
    assert caught.value.message == (
        "bucket popular-name already exists and belongs to another AWS account (bucket names are global); "
        "choose another with --bucket NAME, or --no-bucket")


def test_a_bucket_someone_else_holds_is_refused_while_planning() -> None:
    sts, sts_stubber = stubbed("sts")
    sts_stubber.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
                                                     "UserId": "AIDA"})
    iam, iam_stubber = stubbed("iam")
    for _ in ("the function's role", "the session role"):
        iam_stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)
    s3, s3_stubber = stubbed("s3")
    s3_stubber.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
    lam, lambda_stubber = stubbed("lambda")
    lambda_stubber.add_client_error("get_function", service_error_code="ResourceNotFoundException",
                                    http_status_code=404)
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"),
                                 clients={"sts": sts, "iam": iam, "s3": s3, "lambda": lam})
    with pytest.raises(ConfigError, match="bucket popular-name exists but this account cannot use it"):
        prepare_deploy(deploy_client, DeployOptions(name="shell", bucket="popular-name"), "sha")


class FakeClock:
    """A clock that moves only when slept on: deploy's waits, without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
# What Lambda answers, with --with-env and a customer key, while KMS does not yet know the new role.
KMS_NOT_READY = ("Lambda was unable to configure access to your environment variables because the KMS key is invalid "
                 "for CreateGrant. Please check your KMS key settings. KMS Exception: InvalidArnException KMS Message: "
                 "ARN does not refer to a valid principal: arn:aws:iam::123456789012:role/lambdash-shell-role")


@pytest.mark.parametrize("message", [NOT_ASSUMABLE, KMS_NOT_READY])
def test_lambda_not_yet_seeing_a_new_role_is_retried_with_a_message(message: str) -> None:
    lam, stubber = stubbed("lambda")
    for _ in range(2):
        stubber.add_client_error("create_function", service_error_code="InvalidParameterValueException",
                                 service_message=message, http_status_code=400)
    stubber.add_response("create_function", {"FunctionName": "shell"})
    stubber.add_response("get_function", {"Configuration": {"FunctionName": "shell", "State": "Active"}})
    clock = FakeClock()
    messages: list[str] = []
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"lambda": lam},
                                 sleep=clock.sleep, clock=clock, on_progress=messages.append)
    deploy_client.create_function({"FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Code": {}})
    stubber.assert_no_pending_responses()
    assert clock.sleeps == [1.0, 2.0]
    assert messages == ["waiting for IAM to make the new role usable by Lambda (0 s so far)",
                        "waiting for IAM to make the new role usable by Lambda (1 s so far)"]


def test_a_role_lambda_never_sees_is_waited_for_two_minutes_backing_off() -> None:
    lam, stubber = stubbed("lambda")
    for _ in range(16):
        stubber.add_client_error("create_function", service_error_code="InvalidParameterValueException",
                                 service_message=KMS_NOT_READY, http_status_code=400)
    clock = FakeClock()
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"lambda": lam},
                                 sleep=clock.sleep, clock=clock)
    with pytest.raises(TransportError) as caught:
        deploy_client.create_function({"FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Code": {}})
    assert caught.value.message == f"Lambda still cannot use role arn:aws:iam::1:role/r after 120 s: {KMS_NOT_READY}"
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, *[10.0] * 10, 5.0]
    stubber.assert_no_pending_responses()


def test_a_kms_key_that_is_itself_invalid_is_not_waited_for() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_client_error("create_function", service_error_code="InvalidParameterValueException",
                             service_message="Lambda was unable to configure access to your environment variables "
                                             "because the KMS key is invalid for CreateGrant. KMS Exception: "
                                             "KMSInvalidStateException", http_status_code=400)
    clock = FakeClock()
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"lambda": lam},
                                 sleep=clock.sleep, clock=clock)
    with pytest.raises(TransportError, match=r"^lambda:CreateFunction on function shell failed: "):
        deploy_client.create_function({"FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Code": {}})
    assert clock.sleeps == []


def _identity() -> Any:
    from lambdash.aws.deploy import CallerIdentity

    return CallerIdentity(account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/dev")


def test_access_denied_names_the_permission_aws_checked() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_client_error(
        "create_function", service_error_code="AccessDeniedException", http_status_code=403,
        service_message="User: arn:aws:iam::1:user/dev is not authorized to perform: iam:PassRole on resource: "
                        "arn:aws:iam::1:role/lambdash-shell-role")
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"lambda": lam})
    with pytest.raises(TransportError) as caught:
        deploy_client.create_function({"FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Code": {}})
    assert caught.value.message == ("access denied: these credentials may not call iam:PassRole (on function shell); "
                                    "grant iam:PassRole to the identity that deploys")


def test_a_function_that_fails_to_start_is_one_line() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_response("create_function", {"FunctionName": "shell"})
    stubber.add_response("get_function", {"Configuration": {
        "FunctionName": "shell", "State": "Failed", "StateReason": "The subnet ran out of IP addresses"}})
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"), clients={"lambda": lam})
    with pytest.raises(TransportError) as caught:
        deploy_client.create_function({"FunctionName": "shell", "Role": "arn:aws:iam::1:role/r", "Code": {}})
    assert caught.value.message == "function shell did not become ready: The subnet ran out of IP addresses"


def test_tags_withheld_for_want_of_list_tags_are_an_error_naming_that_permission() -> None:
    """GetFunction answers TagsError, not Tags, to a caller without lambda:ListTags: never read as "not lambdash's"."""
    sts, sts_stubber = stubbed("sts")
    sts_stubber.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
                                                     "UserId": "AIDA"})
    iam, iam_stubber = stubbed("iam")
    iam_stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)
    lam, lambda_stubber = stubbed("lambda")
    lambda_stubber.add_response("get_function", {
        "Configuration": {"FunctionName": "shell", "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:shell"},
        "TagsError": {"ErrorCode": "AccessDeniedException", "Message": (
            f"User: arn:aws:iam::{ACCOUNT}:user/dev is not authorized to perform: lambda:ListTags")},
    })
    deploy_client = DeployClient(Target(function="shell", region="us-east-1"),
                                 clients={"sts": sts, "iam": iam, "lambda": lam})
    with pytest.raises(TransportError) as caught:
        prepare_deploy(deploy_client, DeployOptions(name="shell", use_bucket=False), "sha")
    assert caught.value.message == (
        "access denied: these credentials may not call lambda:ListTags (on function shell), so lambdash cannot tell "
        "whether it made the function; grant lambda:ListTags to the identity that deploys")
