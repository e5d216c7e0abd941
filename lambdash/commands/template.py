"""``lambdash template``: print a CloudFormation template making what deploy makes.

The function's code comes from S3 (the handler is too big to inline): write the
zip with ``--write-zip FILE``, upload it to the ``CodeBucket`` and ``CodeKey``
the template names, then deploy the stack.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdash.commands.deployment_options import (
    add_deployment_options,
    add_function_options,
    deploy_options,
    handler_directory,
)
from lambdash.errors import ConfigError
from lambdash.terminal import Terminal

EPILOG = """\
The handler does not fit inline, so the template reads the code from S3:
  lambdash template --write-zip handler.zip --code-bucket MY-ARTIFACTS > lambdash.yaml
  aws s3 cp handler.zip s3://MY-ARTIFACTS/KEY        (KEY: printed on stderr; the CodeKey default)
  aws cloudformation deploy --template-file lambdash.yaml --stack-name lambdash \\
      --capabilities CAPABILITY_NAMED_IAM
The CodeKey default names the zip by its SHA-256, so a new handler gets a new key and the
stack update replaces the code. The role is named lambdash-NAME-role, hence CAPABILITY_NAMED_IAM."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Print a CloudFormation template making the same role, bucket and function as deploy."
    parser.epilog = EPILOG
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")
    add_deployment_options(parser, endpoint=False)
    add_function_options(parser)
    parser.add_argument("--code-bucket", metavar="BUCKET", default=None,
                        help="default of the CodeBucket parameter: the S3 bucket holding the handler zip")
    parser.add_argument("--code-key", metavar="KEY", default=None,
                        help="default of the CodeKey parameter (default: lambdash-code/handler-SHA.zip)")
    parser.add_argument("--write-zip", metavar="FILE", default=None,
                        help="also write the handler zip to FILE, for upload to CodeBucket/CodeKey")
    parser.add_argument("--handler-dir", metavar="DIR", default=None,
                        help="package this handler directory instead of the installed one (for development)")


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.deploy.package import build_zip
    from lambdash.deploy.template import build_template, default_code_key, to_json, to_yaml
    from lambdash.deploy.validate import validate_options

    options = deploy_options(args)
    validate_options(options)
    code = build_zip(handler_directory(args))
    template = build_template(options, code, code_bucket=args.code_bucket, code_key=args.code_key)
    if args.write_zip:
        try:
            Path(args.write_zip).write_bytes(code.zip_bytes)
        except OSError as problem:
            raise ConfigError(f"cannot write {args.write_zip}: {problem.strerror}") from None
        key = args.code_key or default_code_key(code)
        terminal.notice(f"wrote {args.write_zip} ({code.size} bytes, CodeSha256 {code.sha256}); "
                        f"upload it to s3://{args.code_bucket or 'CODE-BUCKET'}/{key}")
    text = to_json(template) if args.format == "json" else to_yaml(template)
    terminal.stdout.write(text.encode())
    terminal.stdout.flush()
    return 0
