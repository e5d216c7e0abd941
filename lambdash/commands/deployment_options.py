"""The options of deploy, status, destroy and template, and the deployment they pick.

``-f/--function`` (``--name`` is the same option), ``--region``, ``--profile`` and
``--endpoint-url`` pick the deployment, resolved by ``lambdash.config.resolve_target``
like every other target; the function options say what to deploy. ``--like FUNCTION``
makes (or, for status and destroy, picks) a twin of FUNCTION, named
``lambdash-like-FUNCTION`` unless ``-f`` says otherwise. Not a subcommand: ``lambdash.cli`` never runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from lambdash.commands.options import bounded_int
from lambdash.config import Target, TargetOptions, resolve_target
from lambdash.deploy.settings import (
    ARCHITECTURES,
    SUPPORTED_RUNTIMES,
    DeployOptions,
    FunctionReference,
    default_twin_name,
)
from lambdash.errors import UsageError
from lambdash.lambda_defaults import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_FUNCTION_NAME,
    DEFAULT_MEMORY_MB,
    DEFAULT_RUNTIME,
    DEFAULT_TIMEOUT_SECONDS,
    EPHEMERAL_STORAGE_RANGE_MB,
    MEMORY_RANGE_MB,
    TIMEOUT_RANGE_SECONDS,
)
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient
    from lambdash.deploy.twin import TwinOptions


def add_deployment_options(parser: argparse.ArgumentParser, *, endpoint: bool = True) -> None:
    """-f/--function (alias --name), --region, --profile, --endpoint-url.

    Absent ones leave values given before the subcommand alone. ``-f`` is spelled as
    everywhere else; ``--name`` stays as its alias.
    """
    group = parser.add_argument_group("deployment")
    group.add_argument("-f", "--function", "--name", dest="function", action="append", default=argparse.SUPPRESS,
                       metavar="NAME",
                       help=f"the function's name; --name is the same option (default: LAMBDASH_FUNCTION, the config "
                            f"file, else {DEFAULT_FUNCTION_NAME})")
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
    # No defaults here (deploy_options fills them in), so that --like can tell which were given.
    group.add_argument("--runtime", default=None, metavar="RUNTIME",
                       help=f"Lambda runtime, one of {', '.join(SUPPORTED_RUNTIMES)} (default: {DEFAULT_RUNTIME})")
    group.add_argument("--arch", default=None, choices=ARCHITECTURES,
                       help=f"instruction set (default: {DEFAULT_ARCHITECTURE})")
    memory, timeout, storage = MEMORY_RANGE_MB, TIMEOUT_RANGE_SECONDS, EPHEMERAL_STORAGE_RANGE_MB
    group.add_argument("--memory", type=bounded_int("memory", *memory, unit="MB"), default=None, metavar="MB",
                       help=f"memory size, {memory[0]} to {memory[1]} MB (default: {DEFAULT_MEMORY_MB})")
    # Also a global option (the command timeout), so its absence must not hide a value given before `deploy`.
    group.add_argument("--timeout", type=bounded_int("the function's timeout", *timeout, unit="seconds"),
                       default=argparse.SUPPRESS, metavar="SECONDS",
                       help=f"the function's timeout, {timeout[0]} to {timeout[1]} s "
                            f"(default: {DEFAULT_TIMEOUT_SECONDS})")
    group.add_argument("--ephemeral-storage", type=bounded_int("ephemeral storage", *storage, unit="MB"),
                       default=None, metavar="MB",
                       help=f"size of /tmp, {storage[0]} to {storage[1]} MB (default: {DEFAULT_EPHEMERAL_STORAGE_MB})")
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


def add_twin_options(parser: argparse.ArgumentParser) -> None:
    """``--like FUNCTION`` and what it may copy besides, as deploy takes them."""
    group = parser.add_argument_group(
        "twin", "a lambdash function that sees what FUNCTION sees: its architecture, memory, timeout,\n"
                "/tmp, layers, VPC and file systems, and a Python runtime on its operating system")
    group.add_argument("--like", metavar="FUNCTION", default=None,
                       help="deploy a twin of FUNCTION (a name, NAME:ALIAS or an ARN), named "
                            "lambdash-like-FUNCTION unless -f/--name; it refuses --runtime, --arch, --memory, "
                            "--timeout, --ephemeral-storage, --subnet and --security-group, which come from FUNCTION")
    group.add_argument("--with-env", action="store_true",
                       help="with --like: copy FUNCTION's environment variables (values are never printed) and "
                            "keep its KMS key; lambdash's own variables win")
    group.add_argument("--with-role", action="store_true",
                       help="with --like: run the twin with FUNCTION's execution role instead of lambdash's own "
                            "(spills then need that role to reach the bucket)")
    group.add_argument("--with-code", action="store_true",
                       help="with --like: copy FUNCTION's code package into the twin, beside lambdash's handler, so "
                            "the REPL's :py imports it (a container image has none)")
    group.add_argument("--skip-layer", action="append", default=[], metavar="ARN",
                       help="with --like: leave out this layer of FUNCTION (its version ARN, or its ARN without "
                            "the version; repeatable)")


def add_twin_of_option(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--like FUNCTION`` for status and destroy: the twin of FUNCTION, by its default name."""
    parser.add_argument("--like", metavar="FUNCTION", default=None,
                        help=f"{verb} the twin of FUNCTION that `lambdash deploy --like FUNCTION` made "
                             "(named lambdash-like-FUNCTION unless -f/--name)")


def original_reference(args: argparse.Namespace) -> FunctionReference | None:
    """The function named by --like, if any."""
    text = getattr(args, "like", None)
    if text is None:
        return None
    reference = FunctionReference.parse(text)
    if reference is None:
        raise UsageError(f"--like {text!r} is not a function: give its name, NAME:ALIAS, or its ARN")
    return reference


def deployment_target(args: argparse.Namespace) -> Target:
    """The function a deployment command works on, and where: always AWS, resolved like every target.

    With --like, the function is the twin (lambdash-like-FUNCTION unless named), in
    the region of FUNCTION's ARN when it has one.
    """
    if getattr(args, "local", False):
        raise UsageError(f"`lambdash {args.subcommand}` works on AWS; --local does not apply")
    functions = list(dict.fromkeys(getattr(args, "function", None) or []))
    if len(functions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` works on one function, not {', '.join(functions)}: "
                         "give one -f/--function (or --name)")
    regions = list(dict.fromkeys(getattr(args, "region", None) or []))
    if len(regions) > 1:
        raise UsageError(f"`lambdash {args.subcommand}` takes one --region, not {', '.join(regions)}")
    original = original_reference(args)
    if original is not None and original.region is not None:
        if regions and regions[0] != original.region:
            raise UsageError(f"--like {original.text} is in {original.region}, not {regions[0]}: "
                             "a twin lives in its function's region")
        regions = [original.region]
    twin_name = default_twin_name(original) if original is not None else None
    target, _ = resolve_target(TargetOptions(
        function=(functions[0] if functions else None) or twin_name,
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
        runtime=DEFAULT_RUNTIME if args.runtime is None else args.runtime,
        architecture=DEFAULT_ARCHITECTURE if args.arch is None else args.arch,
        memory_mb=DEFAULT_MEMORY_MB if args.memory is None else args.memory,
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS if timeout is None else int(timeout),
        ephemeral_storage_mb=(DEFAULT_EPHEMERAL_STORAGE_MB if args.ephemeral_storage is None
                              else args.ephemeral_storage),
        bucket=getattr(args, "bucket", None),
        use_bucket=not args.no_bucket,
        subnet_ids=tuple(args.subnet),
        security_group_ids=tuple(args.security_group),
        stream=not args.no_stream,
    )


# The function options a twin takes from FUNCTION, so --like refuses them; with what the twin has instead.
_FROM_THE_FUNCTION = (
    ("runtime", "--runtime", "a Python runtime on the operating system of"),
    ("arch", "--arch", "the architecture of"),
    ("memory", "--memory", "the memory size of"),
    ("timeout", "--timeout", "the timeout of"),
    ("ephemeral_storage", "--ephemeral-storage", "the /tmp size of"),
    ("subnet", "--subnet", "the VPC of"),
    ("security_group", "--security-group", "the VPC of"),
)
_TWIN_ONLY = (("with_env", "--with-env"), ("with_role", "--with-role"), ("with_code", "--with-code"),
              ("skip_layer", "--skip-layer"))


def twin_options(args: argparse.Namespace) -> TwinOptions | None:
    """What --like asks for, or None without --like; options that contradict it are usage errors."""
    from lambdash.deploy.twin import TwinOptions

    original = original_reference(args)
    if original is None:
        for attribute, option in _TWIN_ONLY:
            if getattr(args, attribute, None):
                raise UsageError(f"{option} goes with --like FUNCTION")
        return None
    for attribute, option, what in _FROM_THE_FUNCTION:
        if getattr(args, attribute, None) not in (None, []):
            raise UsageError(f"{option} cannot be combined with --like: the twin has {what} {original.text}")
    return TwinOptions(original=original, with_env=args.with_env, with_role=args.with_role,
                       with_code=getattr(args, "with_code", False),
                       skip_layers=tuple(dict.fromkeys(args.skip_layer)))


def handler_directory(args: argparse.Namespace) -> Path | None:
    directory: str | None = getattr(args, "handler_dir", None)
    return Path(directory) if directory else None
