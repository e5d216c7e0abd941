"""Reject what AWS would reject, with one line that says why, before any call is made.

``validate_options`` checks the command line's settings against Lambda's, IAM's and
S3's rules; ``check_one_vpc`` checks what EC2 said of the subnets and security groups.
"""

from __future__ import annotations

import re
from collections.abc import Set

from lambdash.deploy.settings import ARCHITECTURES, MAX_NAME_LENGTH, SUPPORTED_RUNTIMES, DeployOptions, role_name_for
from lambdash.errors import ConfigError
from lambdash.lambda_defaults import EPHEMERAL_STORAGE_RANGE_MB, MEMORY_RANGE_MB, TIMEOUT_RANGE_SECONDS

# Lambda's limits.

_NAME = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}$")
_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")


def validate_options(options: DeployOptions) -> None:
    """Each setting of ``options`` is one AWS accepts; the first that is not is a ConfigError."""
    if not _NAME.match(options.name):
        raise ConfigError(f"invalid --name {options.name!r}: use 1 to 50 letters, digits, '-' or '_' "
                          f"(the role is named {role_name_for('NAME')})")
    if options.runtime not in SUPPORTED_RUNTIMES:
        raise ConfigError(f"unsupported runtime {options.runtime!r}: lambdash runs on {', '.join(SUPPORTED_RUNTIMES)}")
    if options.architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {options.architecture!r}: choose {' or '.join(ARCHITECTURES)}")
    _check_range("--memory", options.memory_mb, MEMORY_RANGE_MB, "MB")
    _check_range("--timeout", options.timeout_seconds, TIMEOUT_RANGE_SECONDS, "seconds")
    _check_range("--ephemeral-storage", options.ephemeral_storage_mb, EPHEMERAL_STORAGE_RANGE_MB, "MB")
    if options.use_bucket and options.bucket is not None and not _BUCKET.match(options.bucket):
        raise ConfigError(f"invalid bucket name {options.bucket!r}: use 3 to 63 lowercase letters, digits, "
                          "'.' or '-', starting and ending with a letter or digit")
    if not _PREFIX.match(options.prefix):
        raise ConfigError(f"invalid prefix {options.prefix!r}")
    _check_network(options)


def validate_name(name: str) -> None:
    """The name of a function status or destroy looks at is one deploy could have made."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid --name {name!r}: use 1 to 50 letters, digits, '-' or '_'")


def check_one_vpc(vpcs: Set[str]) -> None:
    """The subnets and security groups are in one VPC (``vpcs``: theirs, as EC2 reports them)."""
    if len(vpcs) > 1:
        raise ConfigError(f"the subnets and security groups are in different VPCs ({', '.join(sorted(vpcs))})")


def _check_range(option: str, value: int, bounds: tuple[int, int], unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{option} must be from {low} to {high} {unit}, not {value}")


def _check_network(options: DeployOptions) -> None:
    for subnet in options.subnet_ids:
        if not _SUBNET.match(subnet):
            raise ConfigError(f"invalid subnet id {subnet!r} (expected subnet-0123abcd...)")
    for group in options.security_group_ids:
        if not _SECURITY_GROUP.match(group):
            raise ConfigError(f"invalid security group id {group!r} (expected sg-0123abcd...)")
    if bool(options.subnet_ids) != bool(options.security_group_ids):
        raise ConfigError("a function in a VPC needs both --subnet and --security-group")
