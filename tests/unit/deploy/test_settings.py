"""The settings deploy derives from its options, and the functions the command line names. No AWS."""

from __future__ import annotations

import hashlib

import pytest

from lambdash.deploy.settings import (
    MAX_NAME_LENGTH,
    FunctionReference,
    default_bucket_name,
    default_twin_name,
    role_name_for,
)
from tests.unit.deploy.examples import ACCOUNT, ARN, BASIC, VPC, make_twin, original, settings


def test_managed_policies_are_basic_logging_plus_vpc_access_only_in_a_vpc() -> None:
    assert settings().managed_policy_arns == (BASIC,)
    assert settings(subnet_ids=("subnet-0123abcd",), security_group_ids=("sg-0123abcd",)).managed_policy_arns == (
        BASIC, VPC)


def test_the_environment_names_the_bucket_the_exec_wrapper_and_the_session_role() -> None:
    wrapper = {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper"}
    session = {"LAMBDASH_SESSION_ROLE": "arn:aws:iam::123456789012:role/lambdash-session"}
    assert settings(bucket="spills").environment == {
        **wrapper, "LAMBDASH_BUCKET": "spills", "LAMBDASH_PREFIX": "lambdash", **session}
    assert settings(bucket=None).environment == {**wrapper, **session}
    assert settings(bucket=None, stream=False).environment == session
    # A twin run with its function's own role (--with-role) gets no sessions set up: that role is never changed.
    assert settings(bucket=None, stream=False,
                    execution_role_arn="arn:aws:iam::123456789012:role/orders").environment == {}


def test_the_default_bucket_is_per_account_and_region() -> None:
    assert default_bucket_name("123456789012", "eu-west-1") == "lambdash-123456789012-eu-west-1"


@pytest.mark.parametrize(("text", "twin"), [
    ("orders", "lambdash-like-orders"),
    ("orders:prod", "lambdash-like-orders-prod"),
    ("orders:$LATEST", "lambdash-like-orders"),
    (ARN, "lambdash-like-orders"),
    (f"{ACCOUNT}:function:orders:7", "lambdash-like-orders-7"),
])
def test_the_twin_is_named_after_its_function(text: str, twin: str) -> None:
    reference = FunctionReference.parse(text)
    assert reference is not None
    assert default_twin_name(reference) == twin


def test_a_long_twin_name_is_shortened_with_a_hash_and_fits_the_role_name() -> None:
    first = "x" * 40 + "-first"
    second = "x" * 40 + "-second"
    names = [default_twin_name(FunctionReference(text=name, name=name)) for name in (first, second)]
    assert names[0] != names[1]
    for name, base in zip(names, (first, second), strict=True):
        assert len(name) == MAX_NAME_LENGTH
        assert name.endswith("-" + hashlib.sha256(base.encode()).hexdigest()[:6])
        assert len(role_name_for(name)) <= 64


def test_function_references_and_what_they_match() -> None:
    assert FunctionReference.parse("not a name") is None
    assert FunctionReference.parse("arn:aws:s3:::bucket") is None
    reference = FunctionReference.parse(ARN)
    assert reference is not None
    assert (reference.name, reference.qualifier, reference.region, reference.account) == (
        "orders", None, "eu-west-1", ACCOUNT)
    by_name = FunctionReference.parse("orders")
    assert by_name is not None
    assert by_name.matches(ARN)
    assert not by_name.matches(f"{ARN}:prod")
    assert not by_name.matches(ARN.replace("orders", "billing"))
    assert reference.matches(ARN)
    assert not reference.matches(ARN.replace("eu-west-1", "us-east-1"))


def test_the_json_of_a_twin_names_its_function_as_like() -> None:
    document = make_twin(original()).public_dict()
    assert document["like"] == ARN
    assert document["like_record"].startswith("runtime=nodejs20.x arch=x86_64 memory=2048 timeout=45 tmp=1024 ")
    assert "twin_of" not in document
    assert "original_record" not in document
