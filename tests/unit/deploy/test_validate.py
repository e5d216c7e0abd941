"""Options are checked against AWS's rules before any call. No AWS."""

from __future__ import annotations

import pytest

from lambdash.deploy.settings import DeployOptions
from lambdash.deploy.validate import validate_options
from lambdash.errors import ConfigError


@pytest.mark.parametrize(("options", "message"), [
    (DeployOptions(runtime="python3.9"), "unsupported runtime 'python3.9': lambdash runs on python3.11"),
    (DeployOptions(runtime="nodejs20.x"), "unsupported runtime"),
    (DeployOptions(memory_mb=64), "--memory must be from 128 to 10240 MB, not 64"),
    (DeployOptions(timeout_seconds=901), "--timeout must be from 1 to 900 seconds, not 901"),
    (DeployOptions(ephemeral_storage_mb=100), "--ephemeral-storage must be from 512 to 10240 MB"),
    (DeployOptions(name="has space"), "invalid --name 'has space'"),
    (DeployOptions(name="x" * 51), "invalid --name"),
    (DeployOptions(bucket="Upper_Case"), "invalid bucket name 'Upper_Case'"),
    (DeployOptions(subnet_ids=("subnet-0123abcd",)), "needs both --subnet and --security-group"),
    (DeployOptions(subnet_ids=("net-1",), security_group_ids=("sg-0123abcd",)), "invalid subnet id 'net-1'"),
    (DeployOptions(subnet_ids=("subnet-0123abcd",), security_group_ids=("group",)), "invalid security group id"),
])
def test_bad_options_are_refused_before_any_call(options: DeployOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_options(options)


def test_the_defaults_are_valid() -> None:
    validate_options(DeployOptions())
    assert DeployOptions() == DeployOptions(name="lambdash", runtime="python3.13", architecture="arm64",
                                            memory_mb=1024, timeout_seconds=300, ephemeral_storage_mb=512)
