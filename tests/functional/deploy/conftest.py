"""Fixtures of the deploy tests that run lambdash against a moto server answering as AWS does.

moto answers GetLayerVersion with ``Content.Location: "s3://"`` and GetFunction with
a Location on AWS's own host, where AWS gives presigned URLs of the layer's and the
function's zips. ``moto_like_aws`` is a moto server of the module's own, in this
process, whose Locations are presigned URLs of those objects on the same server, so
nothing reaches beyond loopback.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from lambdash.cli import main
from lambdash.terminal import Terminal
from tests.helpers import TEST_CREDENTIALS, Run


@pytest.fixture(scope="module")
def moto_like_aws() -> Iterator[str]:
    """A moto server on a free loopback port whose layers and functions have a Location to download."""
    from moto.awslambda.models import LambdaFunction, LayerVersion
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        presigner = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing")

        def located(answer: dict[str, Any], section: str, stored: dict[str, Any]) -> dict[str, Any]:
            if "S3Bucket" in stored:
                answer[section]["Location"] = presigner.generate_presigned_url(
                    "get_object", Params={"Bucket": stored["S3Bucket"], "Key": stored["S3Key"]}, ExpiresIn=600)
            return answer

        layer_answer, code_answer = LayerVersion.get_layer_version, LambdaFunction.get_code
        patch.setattr(LayerVersion, "get_layer_version",
                      lambda layer: located(layer_answer(layer), "Content", layer.content))
        patch.setattr(LambdaFunction, "get_code",
                      lambda function: located(code_answer(function), "Code", function.code))
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture
def run(moto_like_aws: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``lambdash ARGS`` in process against the moto server; returns (status, stdout, stderr)."""
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)

    def run_lambdash(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.BytesIO(), io.BytesIO()
        terminal = Terminal(stdin=io.BytesIO(), stdout=stdout, stderr=stderr)
        status = main(["--endpoint-url", moto_like_aws, *argv], terminal)
        return status, stdout.getvalue().decode(), stderr.getvalue().decode()

    return run_lambdash
