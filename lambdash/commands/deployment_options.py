"""The options of deploy, status, destroy and template, and the deployment they pick.

``--name``, ``--region``, ``--profile`` and ``--endpoint-url`` pick the deployment,
resolved by ``lambdash.config.resolve_target`` like every other target; the function
options say what to deploy. Not a subcommand: ``lambdash.cli`` never runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from lambdash.config import Target, TargetOptions, resolve_target
from lambdash.deploy.models import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_NAME,
    DEFAULT_RUNTIME,
    DEFAULT_TIMEOUT_SECONDS,
    SUPPORTED_RUNTIMES,
    DeployOptions,
)
from lambdash.errors import UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient


def add_deployment_options(parser: argparse.ArgumentParser, *, endpoint: bool = True) -> None:
    """--name, --region, --profile, --endpoint-url; absent ones leave values given before the subcommand alone."""
    group = parser.add_argument_group("deployment")
    group.add_argument("--name", default=argparse.SUPPRESS, metavar="NAME",
                       help=f"the function's name (default: -f, LAMBDASH_FUNCTION, the config file, "
                            f"else {DEFAULT_NAME})")
    if not endpoint:
        return
    group.add_argument("--region", action="append", default=argparse.SUPPRESS, metavar="REGION",
                       help="AWS region (default: AWS_REGION, the profile's, or the config file's)")
    group.add_argument("--profile", default=argparse.SUPPRESS, metavar="NAME", help="AWS profile from ~/.aws/config")
    group.add_argument("--endpoint-url", default=argparse.SUPPRESS, metavar="URL",
                       help="send every AWS call (IAM, S3, STS, EC2, Lambda) to this endpoint, e.g. LocalStack")


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """The function's settings and the spill bucket, as deploy and template take them."""
    group = parser.add_argument_group("function")
    group.add_argument("--runtime", default=DEFAULT_RUNTIME, metavar="RUNTIME",
                       help=f"Lambda runtime, one of {', '.join(SUPPORTED_RUNTIMES)} (default: {DEFAULT_RUNTIME})")
    group.add_argument("--arch", default=DEFAULT_ARCHITECTURE, choices=ARCHITECTURES,
                       help=f"instruction set (default: {DEFAULT_ARCHITECTURE})")
    group.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                       help=f"memory size, 128 to 10240 MB (default: {DEFAULT_MEMORY_MB})")
    # Also a global option (the command timeout), so its absence must not hide a value given before `deploy`.
    group.add_argument("--timeout", type=_whole_seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                       help=f"the function's timeout, 1 to 900 s (default: {DEFAULT_TIMEOUT_SECONDS})")
    group.add_argument("--ephemeral-storage", type=int, default=DEFAULT_EPHEMERAL_STORAGE_MB, metavar="MB",
                       help=f"size of /tmp, 512 to 10240 MB (default: {DEFAULT_EPHEMERAL_STORAGE_MB})")
    bucket = group.add_mutually_exclusive_group()
    bucket.add_argument("--bucket", default=argparse.SUPPRESS, metavar="NAME",
                        help="spill bucket for output too big to return inline (default: lambdash-ACCOUNT-REGION)")
    bucket.add_argument("--no-bucket", action="store_true",
                        help="no spill bucket: output too big to return inline is truncated")
    group.add_argument("--no-stream", action="store_true",
                       help="leave out the exec wrapper: the handler runs under AWS's awslambdaric alone, and "
                            "clients get buffered answers (default: it streams output as it is written)")
    group.add_argument("--subnet", action="append", default=[], metavar="ID",
                       help="run in a VPC, in this subnet (repeatable; needs --security-group)")
    group.add_argument("--security-group", action="append", default=[], metavar="ID",
                       help="security group in the VPC (repeatable; needs --subnet)")


def _whole_seconds(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None


def deployment_target(args: argparse.Namespace) -> Target:
    """The function a deployment command works on, and where: always AWS, resolved like every target."""
    if getattr(args, "local", False):
        raise UsageError(f"`lambdash {args.subcommand}` works on AWS; --local does not apply")
    named = getattr(args, "name", None)
    functions = getattr(args, "function", None) or []
    if named and functions and functions[-1] != named:
        raise UsageError(f"--name {named} and -f {functions[-1]} disagree; give one of them")
    regions = list(dict.fromkeys(getattr(args, "region", None) or []))
    if len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one --region, not {', '.join(regions)}")
    target, _ = resolve_target(TargetOptions(
        function=named or (functions[-1] if functions else None),
        region=regions[0] if regions else None,
        profile=getattr(args, "profile", None),
        endpoint_url=getattr(args, "endpoint_url", None),
    ), deployment=True)
    return target


def deployment_client(args: argparse.Namespace, terminal: Terminal) -> DeployClient:
    """The AWS client for the deployment these options pick."""
    from lambdash.aws.deploy import DeployClient

    return DeployClient(deployment_target(args), on_progress=terminal.notice)


def deploy_options(args: argparse.Namespace) -> DeployOptions:
    """The function settings from the command line."""
    timeout = getattr(args, "timeout", None)
    if timeout is not None and timeout != int(timeout):
        raise UsageError(f"--timeout for the function must be a whole number of seconds, not {timeout}")
    if args.no_bucket and getattr(args, "bucket", None):
        raise UsageError("--bucket and --no-bucket contradict each other; give one")
    return DeployOptions(
        name=deployment_target(args).function,
        runtime=args.runtime,
        architecture=args.arch,
        memory_mb=args.memory,
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS if timeout is None else int(timeout),
        ephemeral_storage_mb=args.ephemeral_storage,
        bucket=getattr(args, "bucket", None),
        use_bucket=not args.no_bucket,
        subnet_ids=tuple(args.subnet),
        security_group_ids=tuple(args.security_group),
        stream=not args.no_stream,
    )


def handler_directory(args: argparse.Namespace) -> Path | None:
    directory: str | None = getattr(args, "handler_dir", None)
    return Path(directory) if directory else None
