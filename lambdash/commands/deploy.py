"""``lambdash deploy``: create or update the function, its role and its spill bucket.

It plans first (read-only calls), prints the plan, and with ``--dry-run`` stops
there. Its options are in ``deployment_options``, shared with status, destroy and template.
With ``--like FUNCTION`` it deploys a twin of FUNCTION (``lambdash.deploy.twin``) the
same way, and then checks that a twin in a VPC can reach S3, through the network probe
it runs here. The chain itself is ``lambdash.deploy.deployer.deploy``.
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
    from lambdash.config import Target
    from lambdash.deploy.deployer import Deployment

DESCRIPTION = """\
Create or update, idempotently, everything the lambdash function needs:
  - an IAM role lambdash-NAME-role that only Lambda may assume, with
    AWSLambdaBasicExecutionRole, an inline policy allowing s3:PutObject, GetObject,
    DeleteObject and AbortMultipartUpload on BUCKET/lambdash/* only and GetBucketLocation
    on the bucket, and AWSLambdaVPCAccessExecutionRole in a VPC;
  - unless --no-bucket, the spill bucket (default lambdash-ACCOUNT-REGION) with public
    access fully blocked, SSE-S3 encryption and a rule expiring lambdash/ after 1 day;
  - the function NAME running the handler zip (lambdash_handler.app.handle), with LAMBDASH_BUCKET
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
  lambda: GetFunction ListTags GetFunctionUrlConfig GetPolicy CreateFunction UpdateFunctionCode
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
    from lambdash.deploy.deployer import DeployRequest, deploy, target_arguments

    twin = twin_options(args)
    request = DeployRequest(options=deploy_options(args), twin=twin, handler_dir=handler_directory(args),
                            dry_run=args.dry_run)
    client = deployment_client(args, terminal)
    result = deploy(client, request, show=lambda deployment: show_plan(deployment, args, terminal),
                    progress=terminal, run_probe=run_probe)
    if args.json:
        terminal.write_json(result.to_dict())
    elif args.dry_run:
        terminal.write_lines(["dry run: nothing was changed"])
    elif result.changed:
        settings = result.deployment.plan.settings
        options = target_arguments(settings.name, settings.region, client.target)
        terminal.write_lines([f"deployed: run commands with `lambdash {options} COMMAND`"])
    else:
        terminal.write_lines(["no change: everything is up to date"])
    return 0


def show_plan(deployment: Deployment, args: argparse.Namespace, terminal: Terminal) -> None:
    """The plan, before anything changes (with --json, it is in the document printed at the end)."""
    if not args.json:
        terminal.write_lines(deployment.lines())


def run_probe(target: Target, checks: list[str]) -> Any:
    """Run the network probe's checks on ``target``, through a shell opened for the call."""
    from lambdash.shell.targets import open_shell

    with open_shell(target) as shell:
        return shell.probe(checks)
