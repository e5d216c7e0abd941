"""deploy, status and destroy as a newcomer runs them: the installed command against a moto server on loopback.

``stock_moto_url`` is moto as ``moto_server`` starts by default, without AWS's managed
IAM policies, which is where a first deploy to an emulator usually fails.
"""

from __future__ import annotations

import shlex
import uuid
from typing import Any

import boto3
import pytest

from tests.helpers import TEST_CREDENTIALS, run_lambdash


def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"shell-{suffix}", f"spills-{suffix}"


def aws(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_a_deploy_that_stops_midway_names_the_fix_and_what_it_left(stock_moto_url: str) -> None:
    name, bucket = names()
    done = run_lambdash("deploy", "-f", name, "--bucket", bucket, "--endpoint-url", stock_moto_url,
                        env=TEST_CREDENTIALS)
    assert done.returncode == 255
    errors = [line for line in done.stderr.decode().splitlines()
              if not line.startswith(("lambdash: role ", "lambdash: bucket ", "lambdash: sessions "))]
    options = f"-f {name} --region us-east-1 --endpoint-url {stock_moto_url}"
    assert errors == [
        f"lambdash: error: iam:AttachRolePolicy on role lambdash-{name}-role failed: Policy "
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole does not exist or is not attachable; "
        f"{stock_moto_url} has no AWS managed policies: for moto, start it with MOTO_IAM_LOAD_MANAGED_POLICIES=true",
        f"  | deploy stopped midway and left behind what it created: bucket {bucket}, sessions lambdash-session, "
        f"role lambdash-{name}-role; "
        f"`lambdash destroy {options} --bucket {bucket}` removes it",
        f"  | once the cause is fixed, `lambdash deploy {options}` finishes the job",
    ]
    assert aws("iam", stock_moto_url).get_role(RoleName=f"lambdash-{name}-role")
    # The command it names removes what was left.
    removed = run_lambdash("destroy", *shlex.split(options), "--bucket", bucket, "--yes", env=TEST_CREDENTIALS)
    assert removed.returncode == 0, removed.stderr
    roles = [role["RoleName"] for role in aws("iam", stock_moto_url).list_roles()["Roles"]]
    assert f"lambdash-{name}-role" not in roles
    buckets = [entry["Name"] for entry in aws("s3", stock_moto_url).list_buckets()["Buckets"]]
    assert bucket not in buckets


def test_after_a_deploy_to_an_endpoint_the_run_line_carries_it(moto_url: str) -> None:
    name, bucket = names()
    done = run_lambdash("deploy", "-f", name, "--bucket", bucket, "--endpoint-url", moto_url, env=TEST_CREDENTIALS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == (
        f"deployed: run commands with `lambdash -f {name} --region us-east-1 --endpoint-url {moto_url} COMMAND`")


@pytest.mark.parametrize("subcommand", ["status", "destroy", "deploy"])
def test_f_names_the_function_after_every_deployment_subcommand(moto_url: str, subcommand: str) -> None:
    name, _ = names()
    extra = ["--dry-run"] if subcommand == "deploy" else ["--yes"] if subcommand == "destroy" else []
    done = run_lambdash(subcommand, "-f", name, "--endpoint-url", moto_url, *extra, env=TEST_CREDENTIALS)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert "unrecognized arguments" not in stderr
    if subcommand == "status":
        assert (done.returncode, stderr) == (
            255, f"lambdash: error: function {name!r} not found in us-east-1; create it with `lambdash deploy`\n")
    else:
        assert done.returncode == 0, stderr
        assert f"function {name} in us-east-1" in stdout
    # --name is the same option, and the two spellings must agree.
    assert run_lambdash(subcommand, "--name", name, "--endpoint-url", moto_url, *extra,
                        env=TEST_CREDENTIALS).returncode == done.returncode
    clash = run_lambdash("-f", "one", subcommand, "--name", "two", "--endpoint-url", moto_url, env=TEST_CREDENTIALS)
    assert (clash.returncode, clash.stderr.decode()) == (
        255, f"lambdash: error: `lambdash {subcommand}` works on one function, not one, two: give one "
             "-f/--function (or --name)\n")
