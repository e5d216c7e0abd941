"""A first deploy on a real account, as AWS's contracts make it: each case one of the things that once broke it.

Opt-in: ``scripts/test --run-aws``. It uses the caller's own credentials and makes,
and removes even on failure: functions, roles and buckets of its own names, two
IAM roles for a least-privilege deployer and user, and a customer KMS key (which
AWS deletes 7 days after the test schedules it; it is billed for those days).

- presigned URLs of a bucket made seconds before, in eu-west-1 (and in a region
  opened after March 2019, when ``LAMBDASH_TEST_NEW_REGION`` names one the account
  has enabled, e.g. ap-east-1), and of a bucket in another region than the function;
- a deployer allowed exactly the README's table, and one without lambda:ListTags;
  a user allowed only lambda:InvokeFunction;
- a spill stopped at the deadline leaves no multipart upload behind;
- a twin with ``--with-env`` of a function with a customer KMS key, its role brand new;
- a stream of more than 200 MB ends with its result;
- a buffered command longer than a NAT gateway's 350 s idle timeout;
- the exec wrapper's path (/opt/python) and each invocation's own trace id.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CALLERS_ENVIRON, ROOT, run_lambdash, wait_until
from tests.helpers.iam import deployer_actions, function_rows

pytestmark = pytest.mark.aws

EU = "eu-west-1"
US = "us-east-1"


def lambdash(*args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    """The installed lambdash with the caller's environment (or ``env``)."""
    return run_lambdash(*args, stdin=stdin, timeout=timeout, base_env=dict(env or CALLERS_ENVIRON))


def succeeded(done: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 session with the caller's own credentials and configuration, for this test."""
    import boto3

    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in CALLERS_ENVIRON.items():
        if name.startswith("AWS_") or name == "HOME":
            monkeypatch.setenv(name, value)
    return boto3.session.Session(region_name=US)


def destroy(name: str, region: str, env: Mapping[str, str] | None = None) -> None:
    lambdash("destroy", "--name", name, "--region", region, "--yes", env=env)


def names(kind: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"lambdash-{kind}-{suffix}", f"lambdash-test-{kind}-{suffix}"


def spills_and_transfers(function: str, region: str, tmp_path: Path, env: Mapping[str, str] | None = None) -> None:
    """Big output (streamed and buffered), a big file put and got back: all through presigned URLs."""
    for streaming in ([], ["--no-stream"]):
        done = succeeded(lambdash("-f", function, "--region", region, *streaming,
                                  "head -c 8000000 /dev/urandom > /tmp/o; sha256sum /tmp/o >&2; cat /tmp/o", env=env))
        assert len(done.stdout) == 8_000_000
        assert hashlib.sha256(done.stdout).hexdigest().encode() in done.stderr
    original = tmp_path / "big"
    original.write_bytes(os.urandom(7_000_000))
    succeeded(lambdash("-f", function, "--region", region, "put", str(original), "/tmp/big", env=env))
    succeeded(lambdash("-f", function, "--region", region, "get", "/tmp/big", str(tmp_path / "back"), env=env))
    assert (tmp_path / "back").read_bytes() == original.read_bytes()


# -- presigned URLs: a new bucket, at once; a new region; a bucket in another region --------------------------------

@pytest.fixture(scope="module")
def fresh_in_eu() -> Iterator[tuple[str, str]]:
    """A function in eu-west-1 with a spill bucket made by the same deploy, seconds before it is used."""
    function, bucket = names("eu")
    succeeded(lambdash("deploy", "--name", function, "--region", EU, "--bucket", bucket))
    try:
        yield function, bucket
    finally:
        destroy(function, EU)


def test_a_bucket_made_seconds_before_takes_spills_and_files_at_once(fresh_in_eu: tuple[str, str],
                                                                      tmp_path: Path) -> None:
    """S3's global endpoint would answer 307 for a new bucket outside us-east-1: the URLs name eu-west-1."""
    function, _ = fresh_in_eu
    spills_and_transfers(function, EU, tmp_path)


@pytest.mark.skipif(not CALLERS_ENVIRON.get("LAMBDASH_TEST_NEW_REGION"),
                    reason="set LAMBDASH_TEST_NEW_REGION to a region opened after March 2019 that the account has")
def test_a_region_opened_after_2019_takes_spills(tmp_path: Path) -> None:
    region = CALLERS_ENVIRON["LAMBDASH_TEST_NEW_REGION"]
    function, bucket = names("new")
    try:
        succeeded(lambdash("deploy", "--name", function, "--region", region, "--bucket", bucket))
        spills_and_transfers(function, region, tmp_path)
    finally:
        destroy(function, region)


# -- least privilege: exactly the README's tables --------------------------------------------------------------------

def assume_role_with(aws: Any, name: str, actions: list[str], allowed: Callable[[Any], Any]) -> dict[str, str]:
    """A role of the caller's account allowed ``actions`` on everything; the environment of a session as it.

    ``allowed`` makes one call the policy allows with a session as the role: the role
    is used once that call is no longer denied (IAM takes a while to apply a new role).
    """
    import boto3
    import botocore.exceptions

    iam, sts = aws.client("iam"), aws.client("sts")
    account = sts.get_caller_identity()["Account"]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="exactly-the-readme", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}]}))

    def ready() -> dict[str, str] | None:
        try:
            credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}",
                                          RoleSessionName="lambdash-test", DurationSeconds=3600)["Credentials"]
            keys = {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                    "AWS_SESSION_TOKEN": credentials["SessionToken"]}
            allowed(boto3.session.Session(aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                                          aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                                          aws_session_token=keys["AWS_SESSION_TOKEN"], region_name=US))
        except botocore.exceptions.ClientError as problem:
            if problem.response.get("Error", {}).get("Code", "") in (
                    "AccessDenied", "AccessDeniedException", "InvalidClientTokenId"):
                return None
            raise
        return keys

    keys = wait_until(ready, timeout=180, interval=5, message=f"role {name} never became usable")
    assert keys is not None
    env = {key: value for key, value in CALLERS_ENVIRON.items() if key not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    env.update(keys, AWS_REGION=US)
    return env


def may_read_roles(session: Any) -> None:
    """A deployer's call: a role that does not exist is NoSuchEntity when allowed, AccessDenied when not yet."""
    try:
        session.client("iam").get_role(RoleName="lambdash-test-no-such-role")
    except session.client("iam").exceptions.NoSuchEntityException:
        pass


def may_invoke(function: str) -> Callable[[Any], None]:
    def invoke(session: Any) -> None:
        session.client("lambda").invoke(FunctionName=function, Payload=b'{"v": 1, "command": "true"}')

    return invoke


def delete_role(aws: Any, name: str) -> None:
    iam = aws.client("iam")
    try:
        iam.delete_role_policy(RoleName=name, PolicyName="exactly-the-readme")
        iam.delete_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        pass


def readme_deployer_actions() -> list[str]:
    rows = deployer_actions((ROOT / "README.md").read_text())
    return sorted({action for actions in rows.values() for action in actions})


def test_a_deployer_allowed_exactly_the_readmes_table_deploys_and_a_user_allowed_only_invoke_uses_it(
    aws: Any, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    deployer_role, user_role = f"lambdash-test-deployer-{suffix}", f"lambdash-test-user-{suffix}"
    function, bucket = names("least")
    try:
        deployer = assume_role_with(aws, deployer_role, readme_deployer_actions(), may_read_roles)
        succeeded(lambdash("deploy", "--name", function, "--bucket", bucket, env=deployer))
        succeeded(lambdash("deploy", "--name", function, "--bucket", bucket, env=deployer))
        status = succeeded(lambdash("status", "--name", function, env=deployer))
        assert status.stdout.splitlines()[-1] == b"drift         none"

        (user_row,) = [cell for label, cell in function_rows((ROOT / "README.md").read_text()).items()
                       if label.startswith("a user of the function")]
        user = assume_role_with(aws, user_role, [action for action in ("lambda:InvokeFunction",) if action in user_row],
                                may_invoke(function))
        spills_and_transfers(function, US, tmp_path, env=user)
        succeeded(lambdash("destroy", "--name", function, "--yes", env=deployer))
    finally:
        destroy(function, US)
        delete_role(aws, deployer_role)
        delete_role(aws, user_role)


def test_a_deployer_without_list_tags_is_told_to_grant_it(aws: Any) -> None:
    """GetFunction withholds the tags (TagsError): never a "not created by lambdash" refusal."""
    role = f"lambdash-test-notags-{uuid.uuid4().hex[:6]}"
    function, bucket = names("notags")
    try:
        succeeded(lambdash("deploy", "--name", function, "--region", US, "--bucket", bucket))
        without = assume_role_with(aws, role, [action for action in readme_deployer_actions()
                                               if action != "lambda:ListTags"], may_read_roles)
        done = lambdash("status", "--name", function, env=without)
        assert done.returncode == 255
        assert b"grant lambda:ListTags to the identity that deploys" in done.stderr
    finally:
        destroy(function, US)
        delete_role(aws, role)


# -- the deadline: a spill that cannot finish is aborted, nothing billed -------------------------------------------

def test_a_spill_stopped_at_the_deadline_leaves_no_multipart_upload(aws: Any) -> None:
    function, bucket = names("abort")
    try:
        succeeded(lambdash("deploy", "--name", function, "--region", US, "--bucket", bucket, "--timeout", "60",
                           "--ephemeral-storage", "4096"))
        done = lambdash("-f", function, "--region", US, "--no-stream",
                        "head -c 3000000000 /dev/urandom; sleep 120", timeout=300)
        assert done.returncode == 124, done.stderr.decode(errors="replace")
        assert b"could not finish before the function's deadline" in done.stderr
        uploads = aws.client("s3", region_name=US).list_multipart_uploads(Bucket=bucket, Prefix="lambdash/")
        assert uploads.get("Uploads", []) == []
    finally:
        destroy(function, US)


# -- a brand-new role with a customer KMS key --------------------------------------------------------------------------

def test_a_twin_with_env_and_a_customer_key_waits_out_iam_and_kms(aws: Any) -> None:
    original, bucket = names("kms")
    kms = aws.client("kms", region_name=US)
    key = kms.create_key(Description="lambdash test: a function's environment key")["KeyMetadata"]["Arn"]
    try:
        succeeded(lambdash("deploy", "--name", original, "--region", US, "--bucket", bucket))
        lam = aws.client("lambda", region_name=US)
        variables = lam.get_function_configuration(FunctionName=original)["Environment"]["Variables"]
        lam.update_function_configuration(FunctionName=original, KMSKeyArn=key,
                                          Environment={"Variables": {**variables, "GREETING": "hello"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=original)
        twin = succeeded(lambdash("deploy", "--like", original, "--region", US, "--bucket", bucket, "--with-env"))
        assert f"  KMS key      {key}".encode() in twin.stdout
        ran = succeeded(lambdash("-f", f"lambdash-like-{original}", "--region", US, "echo $GREETING"))
        assert ran.stdout == b"hello\n"
    finally:
        lambdash("destroy", "--like", original, "--region", US, "--yes")
        destroy(original, US)
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


# -- streams and long waits -------------------------------------------------------------------------------------------

def test_a_stream_past_200_mb_ends_with_its_result(fresh_in_eu: tuple[str, str]) -> None:
    function, _ = fresh_in_eu
    done = lambdash("-f", function, "--region", EU, "head -c 210000000 /dev/zero; echo done >&2", timeout=900)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert len(done.stdout) == 210_000_000
    assert done.stderr.endswith(b"done\n")


def test_a_buffered_command_longer_than_a_nats_idle_timeout_answers() -> None:
    function, bucket = names("long")
    try:
        succeeded(lambdash("deploy", "--name", function, "--region", US, "--bucket", bucket, "--timeout", "480"))
        done = lambdash("-f", function, "--region", US, "--no-stream", "sleep 400; echo done", timeout=600)
        assert (done.returncode, done.stdout) == (0, b"done\n"), done.stderr.decode(errors="replace")
    finally:
        destroy(function, US)


def test_the_handler_has_the_managed_runtimes_path_and_each_invocation_its_trace_id(
    fresh_in_eu: tuple[str, str],
) -> None:
    function, _ = fresh_in_eu
    path = succeeded(lambdash("-f", function, "--region", EU, 'printf %s "$PYTHONPATH"'))
    assert b":/opt/python" in path.stdout
    traces = {succeeded(lambdash("-f", function, "--region", EU, 'printf %s "${_X_AMZN_TRACE_ID-none}"')).stdout
              for _ in range(3)}
    assert len(traces) == 3


def test_a_bucket_in_another_region_than_the_function_takes_spills(fresh_in_eu: tuple[str, str],
                                                                    tmp_path: Path) -> None:
    """The function in us-east-1 spills to the eu-west-1 bucket: the handler learns its region and presigns there.

    Last in the module: destroy in us-east-1 sees no other function of its region using the bucket, and removes it.
    """
    _, bucket = fresh_in_eu
    function, _ = names("cross")
    try:
        succeeded(lambdash("deploy", "--name", function, "--region", US, "--bucket", bucket))
        spills_and_transfers(function, US, tmp_path)
    finally:
        destroy(function, US)
