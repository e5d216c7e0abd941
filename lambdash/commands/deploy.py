"""``lambdash deploy``: create or update the function, its role and its spill bucket.

It plans first (read-only calls), prints the plan, and with ``--dry-run`` stops
there. Its options are in ``deployment_options``, shared with status, destroy and template.
"""

from __future__ import annotations

import argparse
from typing import Any

from lambdash.commands.deployment_options import (
    add_deployment_options,
    add_function_options,
    deploy_options,
    deployment_client,
    handler_directory,
)
from lambdash.commands.options import add_common_options
from lambdash.terminal import Terminal

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
        terminal.write_lines([plan.header, *("  " + line for line in plan.lines())])
    if args.dry_run:
        if args.json:
            terminal.write_json(document)
        else:
            terminal.write_lines(["dry run: nothing was changed"])
        return 0
    if plan.changed:
        apply_plan(plan, client, code, terminal.notice)
    if args.json:
        terminal.write_json(document)
    elif plan.changed:
        where = f" --region {plan.settings.region}"
        terminal.write_lines([f"deployed: run commands with `lambdash -f {plan.settings.name}{where} COMMAND`"])
    else:
        terminal.write_lines(["no change: everything is up to date"])
    return 0
