"""A CloudFormation template that makes what ``lambdash deploy`` makes.

The documents (trust policy, spill policy, lifecycle rule, public access block)
come from ``documents`` and the settings tag from ``tags``, as deploy's do. The
handler does not fit in an inline ``ZipFile`` (4096 characters), so the function's
code is read from S3: the ``CodeBucket`` and ``CodeKey`` parameters name the zip
that ``lambdash template --write-zip FILE`` writes. The default ``CodeKey`` holds the
zip's SHA-256, so a new handler gets a new key and CloudFormation updates the
code. YAML comes from a small emitter here, so PyYAML is not a dependency.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdash.deploy.documents import (
    BASIC_EXECUTION_POLICY,
    LIFECYCLE_RULE_ID,
    PUBLIC_ACCESS_BLOCK,
    SESSION_SEND_POLICY_NAME,
    SESSIONS_POLICY_NAME,
    SPILL_POLICY_NAME,
    SSE_ALGORITHM,
    VPC_ACCESS_POLICY,
    session_send_policy,
    session_trust_policy,
    sessions_policy,
    spill_policy,
    trust_policy,
)
from lambdash.deploy.package import CodeArtifact
from lambdash.deploy.settings import DEPLOYED_EXEC_WRAPPER, FUNCTION_DESCRIPTION, DeployOptions, DeploySettings
from lambdash.deploy.tags import MANAGED_TAG_KEY, MANAGED_TAG_VALUE, SETTINGS_TAG_KEY, settings_record
from lambdash_handler.contract import ENV_BUCKET, ENV_EXEC_WRAPPER, ENV_PREFIX, HANDLER
from lambdash_handler.contract.session import ENV_SESSION_ROLE, QUEUE_PREFIX, SESSION_ROLE_NAME

CODE_KEY_PREFIX = "lambdash-code"


def default_code_key(code: CodeArtifact) -> str:
    """Where the zip goes in the code bucket: named by its hash, so each handler version has its own key."""
    return f"{CODE_KEY_PREFIX}/handler-{code.sha256_hex[:16]}.zip"


def build_template(
    options: DeployOptions, code: CodeArtifact, *, code_bucket: str | None = None, code_key: str | None = None
) -> dict[str, Any]:
    """The template as a dict of plain JSON values (intrinsic functions in their long form)."""
    use_bucket = options.use_bucket
    bucket_name: Any = options.bucket or {"Fn::Sub": "lambdash-${AWS::AccountId}-${AWS::Region}"}
    # The settings tag, as deploy records it; the bucket name is known only once the stack makes it.
    record = settings_record(DeploySettings(
        name=options.name, region="", account="", runtime=options.runtime, architecture=options.architecture,
        memory_mb=options.memory_mb, timeout_seconds=options.timeout_seconds,
        ephemeral_storage_mb=options.ephemeral_storage_mb, bucket="${SpillBucket}" if use_bucket else None,
        prefix=options.prefix, subnet_ids=tuple(sorted(set(options.subnet_ids))),
        security_group_ids=tuple(sorted(set(options.security_group_ids))), stream=options.stream,
    ))

    parameters: dict[str, Any] = {
        "FunctionName": {
            "Type": "String", "Default": options.name, "AllowedPattern": "^[A-Za-z0-9_-]{1,50}$",
            "Description": "Name of the Lambda function (its role is lambdash-NAME-role)",
        },
        "CodeBucket": {
            "Type": "String",
            "Description": "S3 bucket, in the stack's region, holding the zip from `lambdash template --write-zip`",
            **({"Default": code_bucket} if code_bucket else {}),
        },
        "CodeKey": {
            "Type": "String", "Default": code_key or default_code_key(code),
            "Description": "S3 key of the handler zip (the default names this lambdash's handler by its hash)",
        },
        "CreateSessionRole": {
            "Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
            "Description": f"Make the account's {SESSION_ROLE_NAME} role, which sessions (lambdash -i, :i, :py) hand "
                           "out send-only credentials of; false when the account has it already (one per account)",
        },
    }
    managed_tags = [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}]
    managed_policies = [BASIC_EXECUTION_POLICY] + ([VPC_ACCESS_POLICY] if options.subnet_ids else [])
    role_properties: dict[str, Any] = {
        "RoleName": {"Fn::Sub": "lambdash-${FunctionName}-role"},
        "Description": "Execution role of a lambdash function",
        "AssumeRolePolicyDocument": trust_policy(),
        "ManagedPolicyArns": [
            {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"} for name in managed_policies
        ],
        "Tags": managed_tags,
    }
    function_properties: dict[str, Any] = {
        "FunctionName": {"Ref": "FunctionName"},
        "Description": FUNCTION_DESCRIPTION,
        "Runtime": options.runtime,
        "Handler": HANDLER,
        "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
        "Architectures": [options.architecture],
        "MemorySize": options.memory_mb,
        "Timeout": options.timeout_seconds,
        "EphemeralStorage": {"Size": options.ephemeral_storage_mb},
        "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
        "Tags": [*managed_tags, {"Key": SETTINGS_TAG_KEY, "Value": {"Fn::Sub": record} if use_bucket else record}],
    }
    # As deploy sets it: the exec wrapper starts the handler's streaming runtime loop.
    variables: dict[str, Any] = {ENV_EXEC_WRAPPER: DEPLOYED_EXEC_WRAPPER} if options.stream else {}
    if options.subnet_ids:
        function_properties["VpcConfig"] = {
            "SubnetIds": sorted(set(options.subnet_ids)),
            "SecurityGroupIds": sorted(set(options.security_group_ids)),
        }
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {
        "FunctionName": {"Description": "Run commands with: lambdash -f NAME COMMAND", "Value": {"Ref": "Function"}},
        "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
        "RoleArn": {"Value": {"Fn::GetAtt": ["FunctionRole", "Arn"]}},
    }
    if use_bucket:
        resources["SpillBucket"] = {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "BucketName": bucket_name,
                "PublicAccessBlockConfiguration": dict(PUBLIC_ACCESS_BLOCK),
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}},
                ]},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": LIFECYCLE_RULE_ID,
                    "Status": "Enabled",
                    "Prefix": f"{options.prefix}/",
                    "ExpirationInDays": 1,
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }]},
                "Tags": managed_tags,
            },
        }
        spill_objects = {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{SpillBucket}}/{options.prefix}/*"}
        spill_bucket = {"Fn::GetAtt": ["SpillBucket", "Arn"]}
        role_properties["Policies"] = [{"PolicyName": SPILL_POLICY_NAME,
                                        "PolicyDocument": spill_policy(spill_objects, spill_bucket)}]
        variables[ENV_BUCKET] = {"Ref": "SpillBucket"}
        variables[ENV_PREFIX] = options.prefix
        outputs["SpillBucket"] = {"Value": {"Ref": "SpillBucket"}}
    # Sessions, as deploy sets them up: the function runs its session queues and hands out the session role's
    # credentials, narrowed to one queue.
    queues = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}"
    session_role = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{SESSION_ROLE_NAME}"
    role_properties.setdefault("Policies", []).append({
        "PolicyName": SESSIONS_POLICY_NAME,
        "PolicyDocument": sessions_policy({"Fn::Sub": f"{queues}:{QUEUE_PREFIX}*"}, {"Fn::Sub": f"{queues}:*"},
                                          {"Fn::Sub": session_role}),
    })
    variables[ENV_SESSION_ROLE] = {"Fn::Sub": session_role}
    resources["SessionRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "MakeSessionRole",
        "Properties": {
            "RoleName": SESSION_ROLE_NAME,
            "Description": "Assumed by lambdash functions to hand a session's client credentials that may only "
                           "send to that session's queue",
            "AssumeRolePolicyDocument": session_trust_policy(
                {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
                {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/lambdash-*-role"}),
            "Policies": [{"PolicyName": SESSION_SEND_POLICY_NAME, "PolicyDocument": session_send_policy(
                {"Fn::Sub": f"arn:${{AWS::Partition}}:sqs:*:${{AWS::AccountId}}:{QUEUE_PREFIX}*"})}],
            "Tags": managed_tags,
        },
    }
    function_properties["Environment"] = {"Variables": variables}
    resources["FunctionRole"] = {"Type": "AWS::IAM::Role", "Properties": role_properties}
    resources["Function"] = {"Type": "AWS::Lambda::Function", "Properties": function_properties}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "lambdash: a shell inside AWS Lambda, reachable by its owner only (made by `lambdash template`)",
        "Parameters": parameters,
        "Conditions": {"MakeSessionRole": {"Fn::Equals": [{"Ref": "CreateSessionRole"}, "true"]}},
        "Resources": resources,
        "Outputs": outputs,
    }


def to_json(template: dict[str, Any]) -> str:
    return json.dumps(template, indent=2) + "\n"


# -- a small YAML emitter: block style, and double quotes for any string that could be read as something else --------

_PLAIN = re.compile(r"[A-Za-z]([A-Za-z0-9_./:-]*[A-Za-z0-9_./-])?")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def to_yaml(value: Any) -> str:
    """YAML for a tree of dicts, lists, strings, integers, booleans and None."""
    if not _is_block(value):
        return _inline(value) + "\n"
    return "\n".join(_yaml_lines(value, 0)) + "\n"


def _scalar(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} as YAML here")
    text = value
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return _double_quoted(text)


def _double_quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, everything else escaped by code point."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif _printable(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _printable(code: int) -> bool:
    """YAML's printable set, less the byte order mark and NEL (which a YAML 1.1 reader takes for a line break)."""
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
            or 0x10000 <= code <= 0x10FFFF)


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_block(item):
                lines.append(f"{pad}{_scalar(key)}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{_scalar(key)}: {_inline(item)}")
    elif isinstance(value, list):
        for item in value:
            if _is_block(item):
                nested = _yaml_lines(item, indent + 2)
                # The first line of the item shares the line with its dash.
                lines.append(f"{pad}- {nested[0].lstrip()}" if isinstance(item, dict) else f"{pad}-")
                lines.extend(nested[1:] if isinstance(item, dict) else nested)
            else:
                lines.append(f"{pad}- {_inline(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
