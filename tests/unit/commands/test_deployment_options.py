"""The options of deploy, status and destroy, as the command line gives them: the function's settings, and --like's."""

from __future__ import annotations

import io
from typing import Any

import pytest

from lambdash.cli import parse_arguments
from lambdash.commands.deployment_options import deploy_options, deployment_target, twin_options
from lambdash.deploy.settings import DeployOptions
from lambdash.errors import UsageError
from lambdash.terminal import Terminal
from tests.unit.deploy.examples import LAYER


@pytest.mark.parametrize(("argv", "timeout"), [
    (["deploy"], 300),
    (["deploy", "--timeout", "60"], 60),
    (["--timeout", "45", "deploy"], 45),
    (["-t", "30", "deploy", "--memory", "512"], 30),
])
def test_deploy_timeout_is_the_function_timeout_wherever_it_is_given(argv: list[str], timeout: int) -> None:
    assert deploy_options(parse(*argv)).timeout_seconds == timeout


def test_a_fractional_function_timeout_is_refused() -> None:
    with pytest.raises(UsageError, match="whole number of seconds"):
        deploy_options(parse("--timeout", "1.5", "deploy"))
    with pytest.raises(UsageError, match="whole number of seconds"):
        parse("deploy", "--timeout", "1.5")


def test_deploy_options_from_the_command_line() -> None:
    options = deploy_options(parse(
        "deploy", "--name", "box", "--runtime", "python3.12", "--arch", "x86_64", "--memory", "2048",
        "--ephemeral-storage", "1024", "--bucket", "my-spills", "--subnet", "subnet-0123abcd",
        "--subnet", "subnet-4567abcd", "--security-group", "sg-0123abcd",
    ))
    assert options == DeployOptions(
        name="box", runtime="python3.12", architecture="x86_64", memory_mb=2048, ephemeral_storage_mb=1024,
        bucket="my-spills", subnet_ids=("subnet-0123abcd", "subnet-4567abcd"), security_group_ids=("sg-0123abcd",),
    )
    assert deploy_options(parse("-f", "box", "deploy")).name == "box"
    assert deploy_options(parse("deploy", "--no-bucket")).use_bucket is False


def test_contradictory_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="works on one function, not one, two"):
        deploy_options(parse("-f", "one", "deploy", "--name", "two"))
    with pytest.raises(UsageError, match="contradict"):
        deploy_options(parse("--bucket", "b-1", "deploy", "--no-bucket"))
    with pytest.raises(UsageError):
        parse("deploy", "--bucket", "b-1", "--no-bucket")


def parse(*argv: str) -> Any:
    args, _ = parse_arguments(list(argv), Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO()))
    return args


def test_like_picks_the_twin_s_name_and_its_function_s_region() -> None:
    args = parse("deploy", "--like", "arn:aws:lambda:eu-west-1:123456789012:function:orders:live", "--with-env",
                 "--skip-layer", LAYER, "--skip-layer", LAYER)
    target = deployment_target(args)
    assert (target.function, target.region) == ("lambdash-like-orders-live", "eu-west-1")
    options = twin_options(args)
    assert options is not None
    assert (options.with_env, options.with_role, options.skip_layers) == (True, False, (LAYER,))
    assert deploy_options(args).name == "lambdash-like-orders-live"
    assert deploy_options(parse("deploy", "--like", "orders", "--name", "probe")).name == "probe"
    assert twin_options(parse("deploy")) is None


@pytest.mark.parametrize(("argv", "message"), [
    (("--runtime", "python3.12"), "--runtime cannot be combined with --like: the twin has a Python runtime on the "
                                  "operating system of orders"),
    (("--arch", "arm64"), "--arch cannot be combined with --like: the twin has the architecture of orders"),
    (("--memory", "512"), "--memory cannot be combined with --like: the twin has the memory size of orders"),
    (("--ephemeral-storage", "1024"), "--ephemeral-storage cannot be combined with --like: the twin has the /tmp "
                                      "size of orders"),
    (("--security-group", "sg-0123456789abcdef0"), "--security-group cannot be combined with --like: the twin has "
                                                   "the VPC of orders"),
])
def test_options_the_twin_takes_from_its_function_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        twin_options(parse("deploy", "--like", "orders", *argv))
    assert caught.value.message == message


def test_twin_options_without_like_are_refused() -> None:
    for option in (("--with-role",), ("--skip-layer", LAYER)):
        with pytest.raises(UsageError) as caught:
            twin_options(parse("deploy", *option))
        assert caught.value.message == f"{option[0]} goes with --like FUNCTION"
