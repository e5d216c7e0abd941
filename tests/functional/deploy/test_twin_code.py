"""deploy --like FUNCTION --with-code: the function's code beside lambdash's handler in its twin, against moto.

The functions are made from the S3 of ``moto_like_aws`` (see this folder's
conftest), so GetFunction's Location is a presigned URL of the code, as on AWS.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import boto3
import pytest

from lambdash.deploy.function_code import FunctionCode, join_code
from lambdash.deploy.package import build_zip, code_sha256
from tests.helpers import Run

ACCOUNT = "123456789012"
def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", **{
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing"})


def a_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def make_function(url: str, files: dict[str, str]) -> tuple[str, bytes]:
    """A Python function ``orders-...`` made from a zip in moto's S3; its name and its zip."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    data = a_zip(files)
    s3, iam = client("s3", url), client("iam", url)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="code.zip", Body=data)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client("lambda", url).create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                          Code={"S3Bucket": name, "S3Key": "code.zip"})
    return name, data


def test_with_code_puts_the_functions_files_beside_the_handler_and_status_follows_its_code(
    run: Run, moto_like_aws: str
) -> None:
    name, data = make_function(moto_like_aws, {"app.py": "def handler(event, context):\n    return 42\n",
                                                "lib/helpers.py": "X = 1\n"})
    twin = f"lambdash-like-{name}"
    status, out, err = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert status == 0, err
    assert f"  code         {name}'s code (sha256 {code_sha256(data)[:12]}...) beside lambdash's handler: the " \
           "REPL's :py imports it; its handler is app.handler" in out.splitlines()
    assert f"  permission   lambda:GetFunction on arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name} (its code)" \
        in out.splitlines()
    lam = client("lambda", moto_like_aws)
    config = lam.get_function_configuration(FunctionName=twin)
    joined = join_code(build_zip(), FunctionCode(name, "app.handler", code_sha256(data), data))
    assert config["CodeSha256"] == joined.sha256
    with zipfile.ZipFile(io.BytesIO(joined.zip_bytes)) as archive:
        names = archive.namelist()
    assert {"app.py", "lib/helpers.py", "lambdash_handler/app.py"} <= set(names)
    assert config["Handler"] == "lambdash_handler.app.handle"
    assert config["Environment"]["Variables"]["LAMBDASH_LIKE_HANDLER"] == "app.handler"
    assert lam.list_tags(Resource=config["FunctionArn"])["Tags"]["lambdash:like-code"] == code_sha256(data)

    # A second run changes nothing; status shows the code and no drift.
    status, out, _ = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert "no change: everything is up to date" in out
    status, out, _ = run("status", "--like", name)
    assert status == 0
    code_line = next(line for line in out.splitlines() if line.startswith("code sha256"))
    assert f"(lambdash's handler with the code of its function, sha256 {code_sha256(data)}; handler app.handler)" \
        in code_line
    assert "drift         none" in out.splitlines()

    # The function's code changes: the twin's status says so, and deploy --like --with-code follows it.
    newer = a_zip({"app.py": "def handler(event, context):\n    return 43\n"})
    client("s3", moto_like_aws).put_object(Bucket=name, Key="code.zip", Body=newer)
    lam.update_function_code(FunctionName=name, S3Bucket=name, S3Key="code.zip")
    status, out, _ = run("status", "--like", name)
    assert f"  - code sha256 {code_sha256(data)[:12]}... -> {code_sha256(newer)[:12]}...: the twin has the code it " \
           "was made with" in out.splitlines()
    assert run("deploy", "--like", name, "--with-code", "--no-bucket")[0] == 0
    assert lam.list_tags(Resource=config["FunctionArn"])["Tags"]["lambdash:like-code"] == code_sha256(newer)
    assert run("destroy", "--like", name, "--yes")[0] == 0


def test_with_code_refuses_code_that_clashes_with_lambdashs_handler(run: Run, moto_like_aws: str) -> None:
    name, _ = make_function(moto_like_aws, {"app.py": "", "lambdash_handler/__init__.py": ""})
    status, _, err = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert status == 255
    assert err.splitlines()[-1] == (f"lambdash: error: the code of {name} has a lambdash_handler/ of its own, which "
                                    "is lambdash's handler's name in the zip; --with-code cannot put both in the twin")
    with pytest.raises(client("lambda", moto_like_aws).exceptions.ResourceNotFoundException):
        client("lambda", moto_like_aws).get_function(FunctionName=f"lambdash-like-{name}")


def test_with_code_refuses_a_container_image(run: Run, moto_like_aws: str) -> None:
    name = f"image-{uuid.uuid4().hex[:8]}"
    role = client("iam", moto_like_aws).create_role(RoleName=f"{name}-role",
                                                      AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client("lambda", moto_like_aws).create_function(
        FunctionName=name, Role=role, PackageType="Image",
        Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/orders:latest"})
    status, _, err = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert status == 255
    assert err.splitlines()[-1] == (f"lambdash: error: {name} is a container image: it has no code package to copy "
                                    "(--with-code copies a zip function's code; leave --with-code out for an image)")


def test_with_code_goes_with_like(run: Run) -> None:
    status, _, err = run("deploy", "--with-code")
    assert status == 255
    assert err == "lambdash: error: --with-code goes with --like FUNCTION\n"
