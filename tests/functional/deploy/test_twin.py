"""deploy --like (a twin), its drift in status, and destroy, against a moto server on loopback.

The layers are published from the S3 of ``moto_like_aws`` (see this folder's
conftest), so their Location is a presigned URL, as on AWS. Everything else is moto
as it is. Failures and what moto does not keep (FileSystemConfigs) go through
botocore's Stubber.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdash.aws.deploy import DeployClient
from lambdash.config import Target
from lambdash.deploy.deployer import prepare_twin
from lambdash.deploy.executor import function_spec
from lambdash.deploy.package import build_zip
from lambdash.deploy.settings import DeployOptions, FunctionReference
from lambdash.deploy.twin import TwinOptions
from lambdash.errors import ConfigError, TransportError
from tests.helpers import Run

ACCOUNT = "123456789012"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
EFS = "arn:aws:iam::aws:policy/AmazonElasticFileSystemClientReadWriteAccess"
SECRET = "s3cr3t-Value-9f1c"
API_URL = "https://orders.example.invalid/api"

def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"# a file of the layer\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class Original:
    """The user's own function, which twins are made like."""

    name: str
    arn: str
    role_arn: str
    extension_layer: str
    python_layer: str
    subnet: str
    group: str
    kms_key: str
    bucket: str

    @property
    def twin(self) -> str:
        return f"lambdash-like-{self.name}"


@pytest.fixture
def original(moto_like_aws: str) -> Original:
    """A Node.js function with two layers, in a VPC, with an environment encrypted with its own KMS key."""
    url = moto_like_aws
    suffix = uuid.uuid4().hex[:10]
    s3, lam = client("s3", url), client("lambda", url)
    layers_bucket = f"layers-{suffix}"
    s3.create_bucket(Bucket=layers_bucket)
    published = []
    for layer, entries in ((f"ext-{suffix}", ("extensions/", "extensions/x")),
                           (f"py-{suffix}", ("python/", "python/boto3/__init__.py", "python/boto3/session.py"))):
        s3.put_object(Bucket=layers_bucket, Key=f"{layer}.zip", Body=zipped(*entries))
        published.append(lam.publish_layer_version(
            LayerName=layer, Content={"S3Bucket": layers_bucket, "S3Key": f"{layer}.zip"},
            CompatibleRuntimes=["nodejs20.x"])["LayerVersionArn"])
    ec2 = client("ec2", url)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName=f"orders-{suffix}", Description="orders")["GroupId"]
    kms_key = client("kms", url).create_key(Description="orders")["KeyMetadata"]["Arn"]
    role_arn = client("iam", url).create_role(
        RoleName=f"orders-role-{suffix}", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}),
    )["Role"]["Arn"]
    name = f"orders-{suffix}"
    created = lam.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role=role_arn, Handler="index.handler",
        Code={"ZipFile": zipped("index.js")}, Layers=published, Architectures=["x86_64"],
        MemorySize=2048, Timeout=45, EphemeralStorage={"Size": 1024},
        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group], "Ipv6AllowedForDualStack": True},
        Environment={"Variables": {"API_URL": API_URL, "DB_PASSWORD": SECRET,
                                   "AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-handler"}},
        KMSKeyArn=kms_key,
    )
    return Original(name=name, arn=created["FunctionArn"], role_arn=role_arn, extension_layer=published[0],
                    python_layer=published[1], subnet=subnet, group=group, kms_key=kms_key,
                    bucket=f"spills-{suffix}")


def action_lines(stdout: str) -> list[list[str]]:
    """The plan's resource lines as [kind, name, action] (above the rows of what the twin takes)."""
    plan = stdout.split("\nlike ", 1)[0]
    # The account's session role is made by whichever test deploys first on the shared moto server.
    return [line.split()[:3] for line in plan.splitlines() if line.startswith("  ")
            and not line.startswith("  sessions ")]


def twin_rows(stdout: str) -> list[str]:
    """The rows under the plan that say what the twin takes from its function."""
    lines = stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("like "))
    return [line for line in lines[start + 1:] if line.startswith("  ")]


def configuration(url: str, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = client("lambda", url).get_function_configuration(FunctionName=name)
    answer.pop("ResponseMetadata")
    return answer


def test_deploy_like_makes_a_twin_with_the_same_settings(run: Run, original: Original, moto_like_aws: str) -> None:
    status, out, err = run("deploy", "--like", original.name, "--bucket", original.bucket)
    assert status == 0, err
    twin, role = original.twin, f"lambdash-{original.twin}-role"
    assert action_lines(out) == [["bucket", original.bucket, "create"], ["role", role, "create"],
                                 ["function", twin, "create"]]
    assert f"like {original.name} ({original.arn}):" in out.splitlines()
    assert twin_rows(out) == [
        f"  runtime      python3.13: {original.name} runs nodejs20.x, and both run on Amazon Linux 2023",
        f"  limits       x86_64, memory 2048 MB, timeout 45 s, /tmp 1024 MB: as {original.name}",
        f"  layer        {original.extension_layer}",
        f"  warning      layer {original.extension_layer.split(':', 6)[6]} brings an extension (/opt/extensions/x): "
        "it starts in the twin's sandboxes too, and may need the function's environment (--with-env)",
        f"  layer        {original.python_layer}",
        f"  warning      layer {original.python_layer.split(':', 6)[6]} brings boto3 (/opt/python/boto3), which "
        "shadows the runtime's own: lambdash's handler imports this one",
        f"  vpc          subnets {original.subnet}; security groups {original.group}; IPv6 dual stack on; "
        "the role gets AWSLambdaVPCAccessExecutionRole",
        f"  code         lambdash's handler only: --with-code copies {original.name}'s code in too, for :py",
        f"  environment  not copied: {original.name} has 3 variables (API_URL, AWS_LAMBDA_EXEC_WRAPPER, "
        "DB_PASSWORD); --with-env copies them",
        f"  role         lambdash's own {role}, least privilege (--with-role runs the twin with the role of "
        f"{original.name})",
        f"  permission   lambda:GetFunctionConfiguration on {original.arn}",
        "  permission   lambda:GetLayerVersion on its layers",
    ]
    assert out.splitlines()[-1] == (f"deployed: run commands with `lambdash -f {twin} --region us-east-1 "
                                    f"--endpoint-url {moto_like_aws} COMMAND`")
    # moto cannot run the twin (no Docker): the check of its route to S3 is a warning, and the deploy succeeds.
    warnings = [line for line in err.splitlines() if line.startswith("lambdash: warning: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith("lambdash: warning: could not check the twin's route to S3: ")

    config = configuration(moto_like_aws, twin)
    assert (config["Runtime"], config["Architectures"], config["MemorySize"], config["Timeout"],
            config["EphemeralStorage"], config["Handler"]) == (
        "python3.13", ["x86_64"], 2048, 45, {"Size": 1024}, "lambdash_handler.app.handle")
    assert [layer["Arn"] for layer in config["Layers"]] == [original.extension_layer, original.python_layer]
    assert (config["VpcConfig"]["SubnetIds"], config["VpcConfig"]["SecurityGroupIds"],
            config["VpcConfig"]["Ipv6AllowedForDualStack"]) == ([original.subnet], [original.group], True)
    assert config["Environment"]["Variables"] == {
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper",
        "LAMBDASH_BUCKET": original.bucket, "LAMBDASH_PREFIX": "lambdash",
        "LAMBDASH_SESSION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"}
    assert not config.get("KMSKeyArn")
    assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{role}"
    attached = client("iam", moto_like_aws).list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert sorted(policy["PolicyArn"] for policy in attached) == [BASIC, VPC]
    tags = client("lambda", moto_like_aws).list_tags(Resource=config["FunctionArn"])["Tags"]
    assert tags["lambdash"] == "managed"
    assert tags["lambdash:like"] == original.arn
    assert all(len(value) <= 256 for value in tags.values())


def test_with_env_copies_the_environment_and_its_key_and_never_prints_a_value(
    run: Run, original: Original, moto_like_aws: str
) -> None:
    twin = f"env-{original.name}"
    status, out, err = run("deploy", "--like", original.name, "--name", twin, "--bucket", original.bucket,
                           "--with-env")
    assert status == 0, err
    assert [row for row in twin_rows(out) if row.split()[0] in ("environment", "KMS")] == [
        f"  environment  copied from {original.name} (values not shown): API_URL, DB_PASSWORD",
        f"  environment  AWS_LAMBDA_EXEC_WRAPPER of {original.name} left out: lambdash sets its own, which starts "
        "its streaming runtime loop",
        f"  KMS key      {original.kms_key}: kept, as {original.name} encrypts its environment with it",
    ]
    assert f"  permission   kms:CreateGrant and kms:Encrypt on {original.kms_key}" in out.splitlines()
    config = configuration(moto_like_aws, twin)
    assert config["Environment"]["Variables"] == {
        "API_URL": API_URL, "DB_PASSWORD": SECRET,
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper",
        "LAMBDASH_BUCKET": original.bucket, "LAMBDASH_PREFIX": "lambdash",
        "LAMBDASH_SESSION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"}
    assert config["KMSKeyArn"] == original.kms_key
    # Nothing shows a value: not the plan, its JSON, the progress, status, or status --json.
    outputs = [out, err, *run("deploy", "--like", original.name, "--name", twin, "--bucket", original.bucket,
                              "--with-env", "--dry-run", "--json")[1:],
               *run("status", "--name", twin)[1:], *run("status", "--name", twin, "--json")[1:]]
    for output in outputs:
        assert SECRET not in output
        assert API_URL not in output
        assert "/opt/otel-handler" not in output


def test_a_second_run_changes_nothing_and_says_so(run: Run, original: Original, moto_like_aws: str) -> None:
    assert run("deploy", "--like", original.name, "--bucket", original.bucket)[0] == 0
    before = configuration(moto_like_aws, original.twin)["LastModified"]
    status, out, _ = run("deploy", "--like", original.name, "--bucket", original.bucket)
    assert status == 0
    assert [line[2] for line in action_lines(out)] == ["no-change"] * 3
    assert out.splitlines()[-1] == "no change: everything is up to date"
    assert configuration(moto_like_aws, original.twin)["LastModified"] == before
    status, out, _ = run("deploy", "--like", original.name, "--bucket", original.bucket, "--dry-run", "--json")
    assert status == 0
    assert json.loads(out)["changed"] is False


def test_a_change_in_the_function_shows_as_drift_until_deploy_like_follows_it(
    run: Run, original: Original, moto_like_aws: str
) -> None:
    assert run("deploy", "--like", original.name, "--bucket", original.bucket)[0] == 0
    status, out, _ = run("status", "--like", original.name)
    assert status == 0
    assert out.splitlines()[-2:] == ["drift         none",
                                     "like drift    none: the twin still matches the function it is like"]
    assert f"twin of       {original.arn}" in out.splitlines()

    client("lambda", moto_like_aws).update_function_configuration(FunctionName=original.name, MemorySize=3008)
    status, out, _ = run("status", "--like", original.name)
    assert status == 0
    assert out.splitlines()[-3:] == [
        "drift         none",
        "like drift    what changed in the function since the twin was made "
        f"(`lambdash deploy --like {original.name}` follows it):",
        "  - memory 2048 MB -> 3008 MB",
    ]
    document = json.loads(run("status", "--like", original.name, "--json")[1])
    assert (document["like"], document["like_drift"], document["drift"]) == (
        original.arn, ["memory 2048 MB -> 3008 MB"], [])

    status, out, err = run("deploy", "--like", original.name, "--bucket", original.bucket)
    assert status == 0, err
    assert action_lines(out)[2] == ["function", original.twin, "update"]
    assert "memory 2048 MB -> 3008 MB" in out
    assert configuration(moto_like_aws, original.twin)["MemorySize"] == 3008
    status, out, _ = run("status", "--like", original.name)
    assert out.splitlines()[-1] == "like drift    none: the twin still matches the function it is like"

    # The function gone, the twin's status still shows, and says what it cannot know.
    client("lambda", moto_like_aws).delete_function(FunctionName=original.name)
    status, out, _ = run("status", "--like", original.name)
    assert status == 0
    unreadable = (f"function {original.arn} not found in us-east-1: cannot read its configuration "
                  "(lambda:GetFunctionConfiguration); check the name and --region")
    assert out.splitlines()[-1] == f"like drift    unknown: cannot read the function it is like: {unreadable}"
    document = json.loads(run("status", "--like", original.name, "--json")[1])
    assert (document["like_drift"], document["like_error"]) == (None, unreadable)


def test_skip_layer_leaves_a_layer_out(run: Run, original: Original, moto_like_aws: str) -> None:
    extension_layer_arn = original.extension_layer.rpartition(":")[0]
    status, out, err = run("deploy", "--like", original.name, "--bucket", original.bucket,
                           "--skip-layer", extension_layer_arn)
    assert status == 0, err
    assert f"  layer        {original.extension_layer}: left out (--skip-layer)" in out.splitlines()
    assert "/opt/extensions/x" not in out
    config = configuration(moto_like_aws, original.twin)
    assert [layer["Arn"] for layer in config["Layers"]] == [original.python_layer]
    status, _, err = run("deploy", "--like", original.name, "--skip-layer", "arn:aws:lambda:us-east-1:1:layer:no:1")
    assert status == 255
    assert err == (f"lambdash: error: --skip-layer arn:aws:lambda:us-east-1:1:layer:no:1: {original.name} has no "
                   f"such layer (its layers: {original.extension_layer}, {original.python_layer})\n")


def test_with_role_runs_the_twin_with_the_functions_role_and_makes_none(
    run: Run, original: Original, moto_like_aws: str
) -> None:
    twin = f"role-{original.name}"
    status, out, err = run("deploy", "--like", original.name, "--name", twin, "--bucket", original.bucket,
                           "--with-role")
    assert status == 0, err
    role_name = original.role_arn.rsplit("/", 1)[1]
    assert action_lines(out)[1] == ["role", role_name, "no-change"]
    rows = twin_rows(out)
    assert f"  role         {original.role_arn}, the role of {original.name} (--with-role): used as it is, " \
           "never changed" in rows
    assert f"  spills       need that role to allow s3:PutObject, s3:GetObject and s3:DeleteObject on " \
           f"{original.bucket}/lambdash/*; output too big to return inline is cut when it cannot" in rows
    assert f"  permission   iam:PassRole on {original.role_arn}" in rows
    assert configuration(moto_like_aws, twin)["Role"] == original.role_arn
    sessions = [line for line in run("status", "--name", twin)[1].splitlines() if line.startswith("sessions ")]
    assert sessions == [f"sessions      none: the twin runs with the role of {original.name} (--with-role), which "
                        "lambdash never changes; a twin made without --with-role can open sessions"]
    iam = client("iam", moto_like_aws)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"lambdash-{twin}-role")
    assert run("deploy", "--like", original.name, "--name", twin, "--bucket", original.bucket,
               "--with-role")[1].splitlines()[-1] == "no change: everything is up to date"
    assert run("destroy", "--name", twin, "--yes")[0] == 0
    assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == original.role_arn


def test_destroy_removes_the_twin_and_leaves_the_function_untouched(
    run: Run, original: Original, moto_like_aws: str
) -> None:
    assert run("deploy", "--like", original.name, "--bucket", original.bucket, "--with-env")[0] == 0
    before = configuration(moto_like_aws, original.name)
    lam = client("lambda", moto_like_aws)
    tags_before = lam.list_tags(Resource=original.arn)["Tags"]
    status, out, err = run("destroy", "--like", original.name, "--yes")
    assert status == 0, err
    assert action_lines(out) == [["function", original.twin, "delete"],
                                 ["role", f"lambdash-{original.twin}-role", "delete"],
                                 ["bucket", original.bucket, "delete"]]
    assert f"a twin of {original.arn}, which is not touched" in out
    assert out.splitlines()[-1] == "removed"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=original.twin)
    assert configuration(moto_like_aws, original.name) == before
    assert lam.list_tags(Resource=original.arn)["Tags"] == tags_before
    assert client("iam", moto_like_aws).get_role(RoleName=original.role_arn.rsplit("/", 1)[1])
    for layer in (original.extension_layer, original.python_layer):
        name, version = layer.split(":")[6:8]
        assert lam.get_layer_version(LayerName=name, VersionNumber=int(version))["LayerVersionArn"] == layer


def test_a_missing_function_is_one_line(run: Run) -> None:
    status, out, err = run("deploy", "--like", "no-such-function")
    assert (status, out) == (255, "")
    assert err == ("lambdash: error: function no-such-function not found in us-east-1: cannot read its "
                   "configuration (lambda:GetFunctionConfiguration); check the name and --region\n")


def test_options_that_contradict_like_are_refused_before_any_call(run: Run) -> None:
    status, out, err = run("deploy", "--like", "orders", "--subnet", "subnet-0123456789abcdef0")
    assert (status, out) == (255, "")
    assert err == "lambdash: error: --subnet cannot be combined with --like: the twin has the VPC of orders\n"
    status, _, err = run("--timeout", "60", "deploy", "--like", "orders")
    assert err == "lambdash: error: --timeout cannot be combined with --like: the twin has the timeout of orders\n"
    status, _, err = run("deploy", "--with-env")
    assert (status, err) == (255, "lambdash: error: --with-env goes with --like FUNCTION\n")
    status, _, err = run("deploy", "--like", "arn:aws:lambda:eu-west-1:123456789012:function:orders",
                         "--region", "us-east-1")
    assert (status, err) == (255, "lambdash: error: --like arn:aws:lambda:eu-west-1:123456789012:function:orders "
                                  "is in eu-west-1, not us-east-1: a twin lives in its function's region\n")
    status, _, err = run("deploy", "--like", "not a function")
    assert (status, err) == (255, "lambdash: error: --like 'not a function' is not a function: give its name, "
                                  "NAME:ALIAS, or its ARN\n")


def test_a_twin_is_never_taken_over(run: Run, original: Original, moto_like_aws: str) -> None:
    assert run("deploy", "--like", original.name, "--bucket", original.bucket)[0] == 0
    # A plain deploy does not turn the twin into a plain function.
    status, _, err = run("deploy", "--name", original.twin, "--bucket", original.bucket)
    assert status == 255
    assert err == (f"lambdash: error: function {original.twin} is a twin of {original.arn} (made by `lambdash "
                   f"deploy --like`); update it with `lambdash deploy --like {original.name}`, or choose "
                   "another --name\n")
    # Nor is it made the twin of another function.
    other = f"other-{original.name}"
    client("lambda", moto_like_aws).create_function(
        FunctionName=other, Runtime="python3.12", Role=original.role_arn, Handler="app.handle",
        Code={"ZipFile": zipped("app.py")})
    status, _, err = run("deploy", "--like", other, "--name", original.twin)
    assert status == 255
    assert err == (f"lambdash: error: function {original.twin} is the twin of {original.arn}, not of "
                   f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{other}; choose another --name for this twin\n")
    status, _, err = run("status", "--like", other, "--name", original.twin)
    assert (status, err) == (255, f"lambdash: error: function {original.twin} is the twin of {original.arn}, "
                                  f"not a twin of {other}; name the twin with --name\n")


def test_a_twin_of_a_python_function_keeps_its_runtime(run: Run, original: Original, moto_like_aws: str) -> None:
    python = f"py-{original.name}"
    client("lambda", moto_like_aws).create_function(
        FunctionName=python, Runtime="python3.12", Role=original.role_arn, Handler="app.handle",
        Code={"ZipFile": zipped("app.py")}, Architectures=["arm64"])
    status, out, err = run("deploy", "--like", python, "--no-bucket", "--dry-run")
    assert status == 0, err
    assert twin_rows(out)[:2] == [f"  runtime      python3.12, as {python}",
                                  f"  limits       arm64, memory 128 MB, timeout 3 s, /tmp 512 MB: as {python}"]
    assert "  layers       none" in twin_rows(out)
    assert f"  vpc          none: {python} is not in a VPC" in twin_rows(out)
    assert f"  environment  none: {python} has no variables" in twin_rows(out)
    assert out.splitlines()[-1] == "dry run: nothing was changed"


def test_a_long_name_gives_a_shortened_twin_name(run: Run, original: Original, moto_like_aws: str) -> None:
    long = f"a-function-with-a-name-much-longer-than-most-{original.name}"
    client("lambda", moto_like_aws).create_function(
        FunctionName=long, Runtime="python3.13", Role=original.role_arn, Handler="app.handle",
        Code={"ZipFile": zipped("app.py")})
    status, out, err = run("deploy", "--like", long, "--no-bucket", "--dry-run")
    assert status == 0, err
    (function_line,) = [line for line in action_lines(out) if line[0] == "function"]
    twin = function_line[1]
    assert twin == f"lambdash-like-a-function-with-a-name-much-l-{hashlib.sha256(long.encode()).hexdigest()[:6]}"
    assert len(twin) == 50
    assert ["role", f"lambdash-{twin}-role", "create"] in action_lines(out)


# -- through the Stubber: what moto does not keep, and what it cannot refuse ------------------------------------------

def stubbed(service: str) -> tuple[Any, Stubber]:
    real = boto3.client(service, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stubber = Stubber(real)
    stubber.activate()
    return real, stubber


def test_file_systems_are_mounted_as_in_the_function_with_efs_access() -> None:
    access_point = f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:access-point/fsap-0123456789abcdef0"
    lam, lambda_stubber = stubbed("lambda")
    lambda_stubber.add_response("get_function_configuration", {
        "FunctionName": "reports", "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:reports",
        "Runtime": "java21", "Role": f"arn:aws:iam::{ACCOUNT}:role/reports", "MemorySize": 512, "Timeout": 60,
        "Architectures": ["arm64"], "EphemeralStorage": {"Size": 2048}, "PackageType": "Zip",
        "VpcConfig": {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"],
                      "VpcId": "vpc-0123456789abcdef0", "Ipv6AllowedForDualStack": False},
        "FileSystemConfigs": [{"Arn": access_point, "LocalMountPath": "/mnt/reports"}],
    }, {"FunctionName": "reports"})
    lambda_stubber.add_client_error("get_function", service_error_code="ResourceNotFoundException",
                                    http_status_code=404)
    sts, sts_stubber = stubbed("sts")
    sts_stubber.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
                                                     "UserId": "AIDA"})
    ec2, ec2_stubber = stubbed("ec2")
    for _ in range(2):
        ec2_stubber.add_response("describe_subnets", {"Subnets": [{"SubnetId": "subnet-0123456789abcdef0",
                                                                   "VpcId": "vpc-0123456789abcdef0"}]})
    for _ in range(2):
        ec2_stubber.add_response("describe_security_groups", {"SecurityGroups": [{
            "GroupId": "sg-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0"}]})
    iam, iam_stubber = stubbed("iam")
    for _ in ("the function's role", "the session role"):
        iam_stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)
    deploy_client = DeployClient(Target(function="reports-twin", region="us-east-1"),
                                 clients={"lambda": lam, "sts": sts, "ec2": ec2, "iam": iam})
    code = build_zip()
    twin = prepare_twin(deploy_client, DeployOptions(name="reports-twin", use_bucket=False),
                        TwinOptions(original=FunctionReference(text="reports", name="reports")), code.sha256)
    for stubber in (lambda_stubber, sts_stubber, ec2_stubber, iam_stubber):
        stubber.assert_no_pending_responses()

    role = next(change for change in twin.plan.changes if change.resource.kind == "role")
    assert [str(step) for step in role.steps] == [
        "create_role", f"attach_role_policy({BASIC})", f"attach_role_policy({VPC})", f"attach_role_policy({EFS})",
        "put_role_policy(lambdash-sessions)"]
    lines = twin.lines()
    assert f"  file system  {access_point} at /mnt/reports" in lines
    assert "  file system  the role gets AmazonElasticFileSystemClientReadWriteAccess to mount them" in lines
    assert "  runtime      python3.13: reports runs java21, and both run on Amazon Linux 2023" in lines
    spec = function_spec(twin.plan.settings, code)
    assert spec["FileSystemConfigs"] == [{"Arn": access_point, "LocalMountPath": "/mnt/reports"}]
    assert spec["VpcConfig"] == {"SubnetIds": ["subnet-0123456789abcdef0"],
                                 "SecurityGroupIds": ["sg-0123456789abcdef0"], "Ipv6AllowedForDualStack": False}
    assert (spec["Runtime"], spec["Architectures"], spec["MemorySize"], spec["Timeout"], spec["EphemeralStorage"]) \
        == ("python3.13", ["arm64"], 512, 60, {"Size": 2048})
    assert twin.to_dict()["function"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:reports"


def test_a_function_whose_configuration_may_not_be_read_names_the_permission() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_client_error(
        "get_function_configuration", service_error_code="AccessDeniedException", http_status_code=403,
        service_message="User: arn:aws:iam::1:user/dev is not authorized to perform: lambda:GetFunctionConfiguration")
    deploy_client = DeployClient(Target(function="twin", region="us-east-1"), clients={"lambda": lam})
    with pytest.raises(TransportError) as caught:
        prepare_twin(deploy_client, DeployOptions(name="twin"),
                     TwinOptions(original=FunctionReference(text="orders", name="orders")), "sha")
    assert caught.value.message == (
        "access denied: these credentials may not call lambda:GetFunctionConfiguration (on function orders); "
        "grant lambda:GetFunctionConfiguration to the identity that deploys")


def test_an_unreadable_environment_is_said_and_not_copied() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_response("get_function_configuration", {
        "FunctionName": "orders", "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders",
        "Runtime": "python3.11", "Role": f"arn:aws:iam::{ACCOUNT}:role/orders", "MemorySize": 256, "Timeout": 10,
        "Environment": {"Error": {"ErrorCode": "AccessDeniedException",
                                  "Message": "Lambda was unable to decrypt the environment variables"}},
        "KMSKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    })
    stubber.add_client_error("get_function", service_error_code="ResourceNotFoundException", http_status_code=404)
    sts, sts_stubber = stubbed("sts")
    sts_stubber.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev",
                                                     "UserId": "AIDA"})
    iam, iam_stubber = stubbed("iam")
    for _ in ("the function's role", "the session role"):
        iam_stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)
    deploy_client = DeployClient(Target(function="twin", region="us-east-1"),
                                 clients={"lambda": lam, "sts": sts, "iam": iam})
    twin = prepare_twin(deploy_client, DeployOptions(name="twin", use_bucket=False),
                        TwinOptions(original=FunctionReference(text="orders", name="orders"), with_env=True), "sha")
    assert ("  environment  not copied: Lambda cannot show the values of orders (AccessDeniedException: Lambda was "
            "unable to decrypt the environment variables)") in twin.lines()
    assert twin.plan.settings.kms_key_arn is None
    assert twin.plan.settings.copied_environment == ()
    assert "  runtime      python3.11, as orders" in twin.lines()
    assert not any(line.startswith("  KMS key") for line in twin.lines())


def test_an_unknown_layer_is_one_line() -> None:
    lam, stubber = stubbed("lambda")
    stubber.add_client_error("get_layer_version", service_error_code="ResourceNotFoundException",
                             http_status_code=404)
    deploy_client = DeployClient(Target(function="twin", region="us-east-1"), clients={"lambda": lam})
    with pytest.raises(ConfigError) as caught:
        deploy_client.get_layer_version("arn:aws:lambda:us-east-1:123456789012:layer:gone:3")
    assert caught.value.message == "layer arn:aws:lambda:us-east-1:123456789012:layer:gone:3 not found " \
                                   "(lambda:GetLayerVersion)"
