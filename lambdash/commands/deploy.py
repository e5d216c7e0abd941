"""``lambdash deploy``: create or update the function, its role and its spill bucket.

It plans first (read-only calls), prints the plan, and with ``--dry-run`` stops
there. Its options are in ``deployment_options``, shared with status, destroy and template.
With ``--like FUNCTION`` it deploys a twin of FUNCTION (``lambdash.deploy.twin``) the
same way, and then checks that a twin in a VPC can reach S3.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from lambdash.commands.deployment_options import (
    add_deployment_options,
    add_function_options,
    add_twin_options,
    deploy_options,
    deployment_client,
    handler_directory,
    twin_options,
)
from lambdash.commands.options import add_common_options
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient
    from lambdash.config import Target
    from lambdash.deploy.models import Plan
    from lambdash.deploy.reachability import Probe

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
Then run commands with: lambdash -f NAME COMMAND

With --like FUNCTION it deploys a twin of FUNCTION, lambdash-like-FUNCTION: a lambdash
function with FUNCTION's architecture, memory, timeout, /tmp size, layers, VPC (and
IPv6 setting) and EFS file systems, running a Python runtime on FUNCTION's operating
system (FUNCTION's own when it is Python). Its role is lambdash's own, with VPC and EFS
access as needed (--with-role: FUNCTION's); FUNCTION's environment and KMS key come only
with --with-env. The plan says what was copied and why, warns about layers that bring an
extension or shadow the runtime's boto3, and names the extra permissions; a twin in a VPC
is then checked for a route to S3. `lambdash status` shows what changed in FUNCTION since."""

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
  ec2:   DescribeSubnets DescribeSecurityGroups DescribeVpcs (with --subnet only)
With --like FUNCTION, also:
  lambda: GetFunctionConfiguration (on FUNCTION) GetLayerVersion (on its layers)
  kms:   CreateGrant Encrypt (on FUNCTION's key, with --with-env)
  iam:   PassRole (on FUNCTION's role, with --with-role)
  ec2:   DescribeSubnets DescribeSecurityGroups DescribeVpcs (when FUNCTION is in a VPC)"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    add_deployment_options(parser)
    add_function_options(parser)
    add_twin_options(parser)
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
    from lambdash.deploy.twin import prepare_twin

    twin = twin_options(args)
    options = deploy_options(args)
    validate_options(options)
    code = build_zip(handler_directory(args))
    client = deployment_client(args, terminal)
    twin_plan = prepare_twin(client, options, twin, code.sha256) if twin else None
    plan = twin_plan.plan if twin_plan else prepare_deploy(client, options, code.sha256)
    document: dict[str, Any] = {**plan.to_dict(), "dry_run": args.dry_run, "code_sha256": code.sha256}
    if twin_plan:
        document["like"] = twin_plan.to_dict()
    if not args.json:
        terminal.write_lines([plan.header, *("  " + line for line in plan.lines()),
                              *(twin_plan.lines() if twin_plan else [])])
    if args.dry_run:
        if args.json:
            terminal.write_json(document)
        else:
            terminal.write_lines(["dry run: nothing was changed"])
        return 0
    if plan.changed:
        apply_plan(plan, client, code, terminal.notice)
    if twin_plan:
        document["route_to_s3"] = check_twin_route(client, plan, terminal)
    if args.json:
        terminal.write_json(document)
    elif plan.changed:
        where = f" --region {plan.settings.region}"
        terminal.write_lines([f"deployed: run commands with `lambdash -f {plan.settings.name}{where} COMMAND`"])
    else:
        terminal.write_lines(["no change: everything is up to date"])
    return 0


def check_twin_route(client: DeployClient, plan: Plan, terminal: Terminal) -> dict[str, Any] | None:
    """For a twin in a VPC with a spill bucket: say whether it reaches S3 (a warning when not, or unknown)."""
    from lambdash.deploy.reachability import check_route_to_s3, needs_route_check, twin_target

    if not needs_route_check(plan.settings):
        return None
    terminal.notice("checking the twin's route to S3 (the network probe aws:s3, run in the twin)")
    route = check_route_to_s3(probe_in(twin_target(client.target, plan.settings)))
    if route.reached:
        terminal.notice(route.message)
    else:
        terminal.warning(route.message)
    return route.to_dict()


def probe_in(target: Target) -> Probe:
    """Run the network probe's checks on ``target``, through a shell opened for the call."""
    from lambdash.targets import open_shell

    def probe(checks: list[str]) -> Any:
        with open_shell(target) as shell:
            return shell.probe(checks)

    return probe
