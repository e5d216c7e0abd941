"""A whole life of a function, with every AWS call held to the permissions lambdash documents and grants.

deploy, a second deploy, status, a twin (deploy --like, status, destroy), commands
on the deployed code with big output, big stdin and files both ways, the handler's
own S3 calls (a spill, an aborted spill, a region lookup, presigned URLs and their
use), and destroy: against the moto server, with the recorder of every botocore
call (``aws_calls``). The deployer's calls are held to the README's rows for what it
was doing, a user's to a user's row, and the handler's to the role's row for the
deployed bucket and prefix, which must be the policy deploy put on the role.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from lambdash.cli import main
from lambdash.deploy.package import build_zip
from lambdash.local.function import FunctionConfig
from lambdash.local.server import LocalLambda
from lambdash.terminal import Terminal
from lambdash_handler.app import respond
from lambdash_handler.output_shaping import bucket_region, regional_s3_client
from tests.helpers import AwsCallRecorder, FakeContext, Run, unpack_as_lambda_does
from tests.helpers.iam import DEPLOYER, FUNCTION, INVOKER, Grants, documented, operations, role_grants, violations

DEPLOY = ("deploy (role)", "deploy (bucket)", "deploy (function)")
DEPLOY_LIKE = (*DEPLOY, "deploy `--like FUNCTION`")



def run_in(endpoint_url: str) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.BytesIO(), io.BytesIO()
        status = main(["--endpoint-url", endpoint_url, *argv],
                      Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr, stdin_isatty=True))
        return status, stdout.getvalue().decode(), stderr.getvalue().decode()

    return run


def learning_the_region(fail_part: int | None = None) -> Callable[[str, float], Any]:
    """The handler's own S3 client and region lookup, asked of moto (the default asks nothing of a local endpoint).

    With ``fail_part``, S3 is out of reach for that part of a multipart upload, so the spill is aborted.
    """

    def factory(bucket: str, timeout: float) -> Any:
        region = bucket_region(regional_s3_client(None, bucket, timeout, addressing_style="path"), bucket)
        client = regional_s3_client(region, bucket, timeout, addressing_style="path")
        if fail_part is not None:
            def unreachable(request: Any, **_: Any) -> None:
                if f"partNumber={fail_part}&" in request.url + "&":
                    raise botocore.exceptions.EndpointConnectionError(endpoint_url=request.url)

            client.meta.events.register("before-send.s3.UploadPart", unreachable)
        return client

    return factory


def handlers_own_calls(bucket: str, tmp_path: Path) -> None:
    """The handler in process, as the deployed function runs it: every kind of S3 call it makes."""
    environ = {**os.environ, "LAMBDASH_BUCKET": bucket, "LAMBDASH_PREFIX": "lambdash"}
    spilled = respond({"v": 1, "command": "head -c 20000000 /dev/urandom"}, FakeContext(),
                      s3_factory=learning_the_region(), environ=environ)["stdout"]["s3"]
    # The client's side: the presigned URLs, used as the client uses them.
    body = urllib.request.urlopen(spilled["get_url"], timeout=60).read()
    assert hashlib.sha256(body).hexdigest() == spilled["sha256"]
    urllib.request.urlopen(urllib.request.Request(spilled["delete_url"], method="DELETE"), timeout=60).close()

    cut = respond({"v": 1, "command": "head -c 20000000 /dev/urandom"}, FakeContext(),
                  s3_factory=learning_the_region(fail_part=2), environ=environ)["stdout"]
    assert "the spill to s3://" in cut["cut_reason"]

    upload = respond({"v": 1, "op": "presign_upload"}, FakeContext(), s3_factory=learning_the_region(),
                     environ=environ)["upload"]
    stdin = os.urandom(1_000_000)
    urllib.request.urlopen(urllib.request.Request(upload["put_url"], data=stdin, method="PUT",
                                                  headers=upload["headers"]), timeout=60).close()
    counted = respond({"v": 1, "command": "wc -c", "stdin_key": upload["key"],
                       "stdin_sha256": hashlib.sha256(stdin).hexdigest()}, FakeContext(),
                      s3_factory=learning_the_region(), environ=environ)
    assert counted["exit_status"] == 0, counted
    assert respond({"v": 1, "op": "inventory"}, FakeContext(), environ=environ)["ok"] is True


def test_every_call_of_a_functions_life_is_allowed_by_what_lambdash_documents_and_grants(
    aws_calls: AwsCallRecorder, aws_env: dict[str, str], moto_url: str, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    name, bucket = f"shell-{suffix}", f"spills-{suffix}"
    run = run_in(moto_url)
    with aws_calls.doing(*DEPLOY):
        assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
        assert run("deploy", "--name", name, "--bucket", bucket)[0] == 0
    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1")
    deployed_policy = iam.get_role_policy(RoleName=f"lambdash-{name}-role", PolicyName="lambdash-spill")
    deployed_sessions = iam.get_role_policy(RoleName=f"lambdash-{name}-role", PolicyName="lambdash-sessions")
    with aws_calls.doing("status"):
        assert run("status", "--name", name)[0] == 0

    with aws_calls.doing(*DEPLOY_LIKE):
        status, _, err = run("deploy", "--like", name, "--bucket", bucket)
        assert status == 0, err
    with aws_calls.doing("status", "status of a twin"):
        assert run("status", "--like", name)[0] == 0
    with aws_calls.doing("destroy"):
        assert run("destroy", "--like", name, "--yes")[0] == 0

    lam = boto3.client("lambda", endpoint_url=moto_url, region_name="us-east-1")
    environment = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    task_root = tmp_path / "task"
    task_root.mkdir()
    unpack_as_lambda_does(build_zip().zip_bytes, task_root)
    big = tmp_path / "big"
    big.write_bytes(os.urandom(5_000_000))
    with LocalLambda(FunctionConfig(name=name, task_root=task_root, environment=environment, timeout=60)) as local:
        local.keep_credentials()
        user = run_in(local.endpoint_url)
        for streaming in ([], ["--no-stream"]):
            status, out, err = user("-f", name, *streaming, "head -c 7000000 /dev/urandom | wc -c")
            assert (status, out.strip()) == (0, "7000000"), err
            status, out, err = user("-f", name, *streaming, "head -c 7000000 /dev/urandom | base64 -w0")
            assert (status, len(out)) == (0, 9333336), err
        assert user("-f", name, "put", str(big), f"/tmp/big-{suffix}")[0] == 0
        assert user("-f", name, "get", f"/tmp/big-{suffix}", str(tmp_path / "back"))[0] == 0
        assert (tmp_path / "back").read_bytes() == big.read_bytes()

    handlers_own_calls(bucket, tmp_path)

    with aws_calls.doing("destroy"):
        assert run("destroy", "--name", name, "--yes")[0] == 0

    # The check is not vacuous: each side made the calls that matter.
    assert {"iam:CreateRole", "iam:PutRolePolicy", "s3:CreateBucket", "s3:HeadBucket", "lambda:CreateFunction",
            "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:DeleteFunction",
            "s3:DeleteBucket"} <= set(operations(aws_calls.of(DEPLOYER)))
    assert set(operations(aws_calls.of(INVOKER))) == {"lambda:Invoke", "lambda:InvokeWithResponseStream"}
    assert {"s3:GetBucketLocation", "s3:CreateMultipartUpload", "s3:UploadPart", "s3:CompleteMultipartUpload",
            "s3:AbortMultipartUpload", "s3:PutObject", "s3:GetObject", "s3:HeadObject", "s3:DeleteObject",
            "sts:GetCallerIdentity"} <= set(operations(aws_calls.of(FUNCTION)))
    assert [call for call in aws_calls.of(FUNCTION) if call.presigned]

    # The role's row of the README is the policy deploy put on the role, and it allows all the handler did.
    readme_role = role_grants(documented().readme, bucket, "lambdash")
    spill_part = Grants(frozenset(grant for grant in readme_role.allowed if grant[0].startswith("s3:")))
    assert spill_part == Grants.of_policy(deployed_policy["PolicyDocument"])
    # The rest of the row is the sessions policy deploy writes beside it, action for action.
    sessions = deployed_sessions["PolicyDocument"]
    assert {action for action, _ in readme_role.allowed if not action.startswith("s3:")} == \
        {action for action, _ in Grants.of_policy(sessions).allowed}
    assert violations(aws_calls.calls, documented(), role=lambda call: readme_role) == []
