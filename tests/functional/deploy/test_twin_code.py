"""deploy --like FUNCTION --with-code: the function's code beside lambdash's handler in its twin, against moto.

moto answers GetFunction of a function made from S3 with a Location on AWS's own
host, where AWS gives a presigned URL of the code. So this module runs a moto server
of its own, in this process, whose Location is a presigned URL of the code's object
on that same server (nothing here reaches beyond loopback).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from lambdash.cli import main
from lambdash.deploy.function_code import FunctionCode, join_code
from lambdash.deploy.package import build_zip, code_sha256
from lambdash.terminal import Terminal
from tests.helpers import TEST_CREDENTIALS

ACCOUNT = "123456789012"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def moto_with_code() -> Iterator[str]:
    """A moto server on loopback whose GetFunction gives a downloadable Location of a function's code, as AWS does."""
    from moto.awslambda.models import LambdaFunction
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        presigner = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        answer_of_moto = LambdaFunction.get_code

        def get_code(function: Any) -> dict[str, Any]:
            answer: dict[str, Any] = answer_of_moto(function)
            if "S3Bucket" in function.code:
                answer["Code"]["Location"] = presigner.generate_presigned_url(
                    "get_object", Params={"Bucket": function.code["S3Bucket"], "Key": function.code["S3Key"]},
                    ExpiresIn=600)
            return answer

        patch.setattr(LambdaFunction, "get_code", get_code)
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture
def run(moto_with_code: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)

    def run_lambdash(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.BytesIO(), io.BytesIO()
        status = main(["--endpoint-url", moto_with_code, *argv], Terminal(stdin=io.BytesIO(), stdout=stdout,
                                                                          stderr=stderr))
        return status, stdout.getvalue().decode(), stderr.getvalue().decode()

    return run_lambdash


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
    run: Run, moto_with_code: str
) -> None:
    name, data = make_function(moto_with_code, {"app.py": "def handler(event, context):\n    return 42\n",
                                                "lib/helpers.py": "X = 1\n"})
    twin = f"lambdash-like-{name}"
    status, out, err = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert status == 0, err
    assert f"  code         {name}'s code (sha256 {code_sha256(data)[:12]}...) beside lambdash's handler: the " \
           "REPL's :py imports it; its handler is app.handler" in out.splitlines()
    assert f"  permission   lambda:GetFunction on arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name} (its code)" \
        in out.splitlines()
    lam = client("lambda", moto_with_code)
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
    client("s3", moto_with_code).put_object(Bucket=name, Key="code.zip", Body=newer)
    lam.update_function_code(FunctionName=name, S3Bucket=name, S3Key="code.zip")
    status, out, _ = run("status", "--like", name)
    assert f"  - code sha256 {code_sha256(data)[:12]}... -> {code_sha256(newer)[:12]}...: the twin has the code it " \
           "was made with" in out.splitlines()
    assert run("deploy", "--like", name, "--with-code", "--no-bucket")[0] == 0
    assert lam.list_tags(Resource=config["FunctionArn"])["Tags"]["lambdash:like-code"] == code_sha256(newer)
    assert run("destroy", "--like", name, "--yes")[0] == 0


def test_with_code_refuses_code_that_clashes_with_lambdashs_handler(run: Run, moto_with_code: str) -> None:
    name, _ = make_function(moto_with_code, {"app.py": "", "lambdash_handler/__init__.py": ""})
    status, _, err = run("deploy", "--like", name, "--with-code", "--no-bucket")
    assert status == 255
    assert err.splitlines()[-1] == (f"lambdash: error: the code of {name} has a lambdash_handler/ of its own, which "
                                    "is lambdash's handler's name in the zip; --with-code cannot put both in the twin")
    with pytest.raises(client("lambda", moto_with_code).exceptions.ResourceNotFoundException):
        client("lambda", moto_with_code).get_function(FunctionName=f"lambdash-like-{name}")


def test_with_code_refuses_a_container_image(run: Run, moto_with_code: str) -> None:
    name = f"image-{uuid.uuid4().hex[:8]}"
    role = client("iam", moto_with_code).create_role(RoleName=f"{name}-role",
                                                      AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client("lambda", moto_with_code).create_function(
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
