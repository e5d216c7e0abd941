"""``lambdash deploy``: create or update the function, its role and its spill bucket.

It plans first (read-only calls), prints the plan, and with ``--dry-run`` stops
there. The helpers for the options that pick the deployment (``--name``,
``--region``, ``--profile``, ``--endpoint-url``) and the function settings are
shared with ``status``, ``destroy`` and ``template``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdash.commands.common import add_common_options, write_json
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
    Plan,
)
from lambdash.errors import UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.aws import DeployClient

HELP = "create or update the lambdash function, its role and its bucket"

DESCRIPTION = """\
Create or update, idempotently, everything the lambdash function needs:
  - an IAM role lambdash-NAME-role that only Lambda may assume, with
    AWSLambdaBasicExecutionRole, an inline policy allowing s3:PutObject, GetObject and
    DeleteObject on BUCKET/lambdash/* only, and AWSLambdaVPCAccessExecutionRole in a VPC;
  - unless --no-bucket, the spill bucket (default lambdash-ACCOUNT-REGION) with public
    access fully blocked, SSE-S3 encryption and a rule expiring lambdash/ after 1 day;
  - the function NAME running the handler zip (handler.app.handle), with LAMBDASH_BUCKET
    and LAMBDASH_PREFIX set; no function URL and no resource policy.
Everything is tagged lambdash=managed. A second run changes nothing and says so.
Then run commands with: lambdash -f NAME COMMAND"""

EPILOG = """\
The deploying identity needs (the README lists them by command):
  iam:   GetRole ListAttachedRolePolicies ListRolePolicies GetRolePolicy CreateRole TagRole
         UpdateAssumeRolePolicy AttachRolePolicy DetachRolePolicy PutRolePolicy
         DeleteRolePolicy PassRole
  s3:    ListBucket CreateBucket GetBucketTagging PutBucketTagging
         GetBucketPublicAccessBlock PutBucketPublicAccessBlock GetEncryptionConfiguration
         PutEncryptionConfiguration GetLifecycleConfiguration PutLifecycleConfiguration
  lambda: GetFunction GetFunctionUrlConfig GetPolicy CreateFunction UpdateFunctionCode
         UpdateFunctionConfiguration TagResource DeleteFunctionUrlConfig RemovePermission
  ec2:   DescribeSubnets DescribeSecurityGroups DescribeVpcs (with --subnet only)"""


# -- options shared with status, destroy and template -------------------------------------------------------------

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
    group.add_argument("--subnet", action="append", default=[], metavar="ID",
                       help="run in a VPC, in this subnet (repeatable; needs --security-group)")
    group.add_argument("--security-group", action="append", default=[], metavar="ID",
                       help="security group in the VPC (repeatable; needs --subnet)")


def _whole_seconds(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None


def function_name(args: argparse.Namespace) -> str:
    """--name, else the last -f, else LAMBDASH_FUNCTION or the config file, else ``lambdash``."""
    from lambdash.config import config_path, load_config_file

    named = getattr(args, "name", None)
    functions = getattr(args, "function", None) or []
    if named and functions and functions[-1] != named:
        raise UsageError(f"--name {named} and -f {functions[-1]} disagree; give one of them")
    chosen = named or (functions[-1] if functions else None)
    if chosen:
        return str(chosen)
    return os.environ.get("LAMBDASH_FUNCTION") or load_config_file(config_path()).get("function") or DEFAULT_NAME


def deployment_client(args: argparse.Namespace, terminal: Terminal) -> DeployClient:
    """The AWS client for the deployment these options pick."""
    from lambdash.aws import DeployClient
    from lambdash.config import Target, config_path, load_config_file

    if getattr(args, "local", False):
        raise UsageError(f"`lambdash {args.subcommand}` works on AWS; --local does not apply")
    regions = list(dict.fromkeys(getattr(args, "region", None) or []))
    if len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one --region, not {', '.join(regions)}")
    file = load_config_file(config_path())
    region = (regions[0] if regions else None) or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION") or file.get("region")
    target = Target(
        function=function_name(args),
        region=region,
        profile=getattr(args, "profile", None) or file.get("profile"),
        endpoint_url=getattr(args, "endpoint_url", None),
    )
    return DeployClient(target, on_progress=terminal.notice)


def deploy_options(args: argparse.Namespace) -> DeployOptions:
    """The function settings from the command line."""
    timeout = getattr(args, "timeout", None)
    if timeout is not None and timeout != int(timeout):
        raise UsageError(f"--timeout for the function must be a whole number of seconds, not {timeout}")
    if args.no_bucket and getattr(args, "bucket", None):
        raise UsageError("--bucket and --no-bucket contradict each other; give one")
    return DeployOptions(
        name=function_name(args),
        runtime=args.runtime,
        architecture=args.arch,
        memory_mb=args.memory,
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS if timeout is None else int(timeout),
        ephemeral_storage_mb=args.ephemeral_storage,
        bucket=getattr(args, "bucket", None),
        use_bucket=not args.no_bucket,
        subnet_ids=tuple(args.subnet),
        security_group_ids=tuple(args.security_group),
    )


def handler_directory(args: argparse.Namespace) -> Path | None:
    directory: str | None = getattr(args, "handler_dir", None)
    return Path(directory) if directory else None


def print_lines(terminal: Terminal, lines: list[str]) -> None:
    terminal.stdout.write("".join(line + "\n" for line in lines).encode())
    terminal.stdout.flush()


def plan_header(plan: Plan) -> str:
    settings = plan.settings
    return f"function {settings.name} in {settings.region} (account {settings.account}):"


# -- deploy --------------------------------------------------------------------------------------------------------

def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    add_deployment_options(parser)
    add_function_options(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be created or updated, and why; change nothing")
    parser.add_argument("--handler-dir", metavar="DIR", default=None,
                        help="deploy this handler directory instead of the installed one (for development)")
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Plan, print the plan, and apply it unless --dry-run or nothing changes."""
    from lambdash.deploy.executor import apply_plan
    from lambdash.deploy.package import build_zip
    from lambdash.deploy.planner import prepare_deploy, validate_options

    options = deploy_options(args)
    validate_options(options)
    code = build_zip(handler_directory(args))
    client = deployment_client(args, terminal)
    plan = prepare_deploy(client, options, code.sha256)
    if args.json:
        document: dict[str, Any] = {**plan.to_dict(), "dry_run": args.dry_run, "code_sha256": code.sha256}
    else:
        print_lines(terminal, [plan_header(plan), *("  " + line for line in plan.lines())])
    if args.dry_run:
        if args.json:
            write_json(terminal, document)
        else:
            print_lines(terminal, ["dry run: nothing was changed"])
        return 0
    if plan.changed:
        apply_plan(plan, client, code, terminal.notice)
    if args.json:
        write_json(terminal, document)
    elif plan.changed:
        where = f" --region {plan.settings.region}"
        print_lines(terminal, [f"deployed: run commands with `lambdash -f {plan.settings.name}{where} COMMAND`"])
    else:
        print_lines(terminal, ["no change: everything is up to date"])
    return 0
