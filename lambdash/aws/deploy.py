"""The IAM, S3, Lambda, STS and EC2 calls of ``lambdash deploy``, ``status`` and ``destroy``.

They also read the function a twin is like (``deploy --like``) and its layers.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
from botocore.config import Config

from lambdash.aws.session import (
    ACCESS_DENIED_CODES,
    BAD_CREDENTIALS_CODES,
    CONNECT_TIMEOUT_SECONDS,
    first_line,
    is_loopback,
    make_session,
    translate,
)
from lambdash.config import Target
from lambdash.errors import ConfigError, TransportError
from lambdash.text import is_decimal
from lambdash_handler.contract import ENV_BUCKET

# S3 actions whose IAM permission is not named after the API call.
_S3_PERMISSIONS = {
    "HeadBucket": "s3:ListBucket",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "ListObjectVersions": "s3:ListBucketVersions",
    "DeleteObjects": "s3:DeleteObject and s3:DeleteObjectVersion",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
# Lambda answers these while a new role is not yet visible to it, or to KMS when the function's environment has a
# customer key (IAM is eventually consistent): each phrase of one message.
_ROLE_NOT_READY = (
    ("cannot be assumed by Lambda",),
    ("does not have permissions to call",),
    ("invalid for CreateGrant", "not refer to a valid principal"),
)
# Usually a few seconds, at times more than a minute.
ROLE_PROPAGATION_SECONDS = 120.0
ROLE_RETRY_MAX_DELAY_SECONDS = 10.0


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"


class DeployClient:
    """The IAM, S3, Lambda, STS and EC2 calls deploy, status and destroy make.

    Every call goes through ``_call``, which turns botocore errors into one-line
    lambdash errors that name the missing permission. Reads of something that
    does not exist return None (or an empty value) instead of raising.
    """

    def __init__(
        self,
        target: Target,
        *,
        clients: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self._clients: dict[str, Any] = dict(clients or {})
        self._session: Any = None
        self._sleep = sleep
        self._clock = clock
        self.on_progress = on_progress or (lambda message: None)

    # -- plumbing --------------------------------------------------------------------------------------------------

    @property
    def region(self) -> str:
        if self.target.region:
            return self.target.region
        region: str = self._session_with_region().region_name
        return region

    def _session_with_region(self) -> Any:
        if self._session is None:
            self._session = make_session(self.target)
        if self._session.region_name is None:
            raise ConfigError("no AWS region: pass --region, set AWS_REGION, or add region to the config file")
        return self._session

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._session_with_region()
            config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                            read_timeout=60)
            self._clients[service] = self._session.client(service, endpoint_url=self.target.endpoint_url,
                                                          config=config)
        return self._clients[service]

    def _call(self, service: str, method: str, subject: str, *, missing: tuple[str, ...] = (), **params: Any) -> Any:
        """Call one API; None when the error code is in ``missing``; other failures become lambdash errors."""
        client = self._client(service)
        try:
            return getattr(client, method)(**params)
        except botocore.exceptions.ClientError as problem:
            code = problem.response.get("Error", {}).get("Code", "")
            if code in missing:
                return None
            raise self._deploy_error(client, method, subject, problem) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as problem:
            raise TransportError(f"cannot reach {service} ({first_line(problem)})") from None
        except Exception as problem:
            raise translate(problem, self.target.function) from None

    @staticmethod
    def permission(client: Any, method: str) -> str:
        """The IAM permission an API call needs, e.g. ``iam:CreateRole``."""
        api = client.meta.method_to_api_mapping.get(method, method)
        prefix = client.meta.service_model.signing_name
        if prefix == "s3" and api in _S3_PERMISSIONS:
            return _S3_PERMISSIONS[api]
        return f"{prefix}:{api}"

    def _deploy_error(
        self, client: Any, method: str, subject: str, problem: botocore.exceptions.ClientError
    ) -> Exception:
        error = problem.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        permission = self.permission(client, method)
        # AWS names the permission it checked when it is not the call's own (iam:PassRole for CreateFunction).
        named = re.search(r"not authorized to perform: ([\w-]+:\w+)", message)
        if named:
            permission = named.group(1)
        if code in ACCESS_DENIED_CODES or (code == "403" and method != "head_bucket"):
            return TransportError(
                f"access denied: these credentials may not call {permission} (on {subject}); "
                f"grant {permission} to the identity that deploys"
            )
        if code == "BucketAlreadyExists":
            return ConfigError(
                f"bucket {subject} already exists and belongs to another AWS account (bucket names are global); "
                "choose another with --bucket NAME, or --no-bucket"
            )
        if code in BAD_CREDENTIALS_CODES:
            return ConfigError(f"AWS rejected the credentials ({code}): {message}")
        if code == "NoSuchEntity" and method == "attach_role_policy" and self.target.endpoint_url:
            # AWS always has its managed policies; an emulator may not: moto loads them only when asked.
            reason = (message or code).rstrip(".")
            return ConfigError(
                f"{permission} on {subject} failed: {reason}; {self.target.endpoint_url} has no AWS "
                "managed policies: for moto, start it with MOTO_IAM_LOAD_MANAGED_POLICIES=true"
            )
        return TransportError(f"{permission} on {subject} failed: {code or 'error'}: {message or first_line(problem)}")

    def _wait(self, waiter_name: str, function: str) -> None:
        """Wait with botocore's waiter; briefly between polls when the endpoint is on this machine."""
        client = self._client("lambda")
        loopback = is_loopback(client.meta.endpoint_url)
        delay, attempts = (0.1, 100) if loopback else (2, 150)
        try:
            client.get_waiter(waiter_name).wait(FunctionName=function,
                                                WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        except botocore.exceptions.WaiterError as problem:
            configuration = (problem.last_response or {}).get("Configuration", {})
            reason = (configuration.get("StateReason") or configuration.get("LastUpdateStatusReason")
                      or first_line(problem))
            raise TransportError(f"function {function} did not become ready: {reason}") from None

    # -- identity and network --------------------------------------------------------------------------------------

    def caller_identity(self) -> CallerIdentity:
        answer = self._call("sts", "get_caller_identity", "the caller")
        return CallerIdentity(account=answer["Account"], arn=answer["Arn"])

    def check_subnets(self, subnet_ids: list[str]) -> list[str]:
        """The VPC ids of the subnets; a one-line error naming any subnet that does not exist."""
        for subnet in subnet_ids:
            found = self._call("ec2", "describe_subnets", subnet, missing=("InvalidSubnetID.NotFound",
                                                                           "InvalidSubnetID.Malformed"),
                               SubnetIds=[subnet])
            if not found or not found.get("Subnets"):
                raise ConfigError(f"subnet {subnet} not found in {self.region}; check --subnet")
        answer = self._call("ec2", "describe_subnets", ", ".join(subnet_ids), SubnetIds=subnet_ids)
        return sorted({subnet["VpcId"] for subnet in answer["Subnets"]})

    def check_security_groups(self, group_ids: list[str]) -> list[str]:
        """The VPC ids of the security groups; a one-line error naming any group that does not exist."""
        for group in group_ids:
            found = self._call("ec2", "describe_security_groups", group,
                               missing=("InvalidGroup.NotFound", "InvalidGroupId.Malformed"), GroupIds=[group])
            if not found or not found.get("SecurityGroups"):
                raise ConfigError(f"security group {group} not found in {self.region}; check --security-group")
        answer = self._call("ec2", "describe_security_groups", ", ".join(group_ids), GroupIds=group_ids)
        return sorted({group["VpcId"] for group in answer["SecurityGroups"]})

    # -- IAM role --------------------------------------------------------------------------------------------------

    def get_role(self, name: str) -> dict[str, Any] | None:
        answer = self._call("iam", "get_role", f"role {name}", missing=("NoSuchEntity",), RoleName=name)
        return None if answer is None else dict(answer["Role"])

    def attached_role_policies(self, name: str) -> list[str]:
        pages = self._client("iam").get_paginator("list_attached_role_policies")
        arns: list[str] = []
        try:
            for page in pages.paginate(RoleName=name):
                arns.extend(policy["PolicyArn"] for policy in page["AttachedPolicies"])
        except botocore.exceptions.ClientError as problem:
            raise self._deploy_error(self._client("iam"), "list_attached_role_policies", f"role {name}",
                                     problem) from None
        return arns

    def inline_role_policies(self, name: str) -> dict[str, dict[str, Any]]:
        answer = self._call("iam", "list_role_policies", f"role {name}", RoleName=name)
        documents: dict[str, dict[str, Any]] = {}
        for policy in answer.get("PolicyNames", []):
            got = self._call("iam", "get_role_policy", f"role {name}", RoleName=name, PolicyName=policy)
            document = got["PolicyDocument"]
            documents[policy] = json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document
        return documents

    def create_role(self, name: str, trust_policy: dict[str, Any], tags: dict[str, str], description: str) -> None:
        self._call("iam", "create_role", f"role {name}", RoleName=name, Description=description,
                   AssumeRolePolicyDocument=json.dumps(trust_policy), Tags=_tag_list(tags))

    def update_trust_policy(self, name: str, trust_policy: dict[str, Any]) -> None:
        self._call("iam", "update_assume_role_policy", f"role {name}", RoleName=name,
                   PolicyDocument=json.dumps(trust_policy))

    def attach_role_policy(self, name: str, policy_arn: str) -> None:
        self._call("iam", "attach_role_policy", f"role {name}", RoleName=name, PolicyArn=policy_arn)

    def detach_role_policy(self, name: str, policy_arn: str) -> None:
        self._call("iam", "detach_role_policy", f"role {name}", missing=("NoSuchEntity",), RoleName=name,
                   PolicyArn=policy_arn)

    def put_role_policy(self, name: str, policy_name: str, document: dict[str, Any]) -> None:
        self._call("iam", "put_role_policy", f"role {name}", RoleName=name, PolicyName=policy_name,
                   PolicyDocument=json.dumps(document))

    def delete_role_policy(self, name: str, policy_name: str) -> None:
        self._call("iam", "delete_role_policy", f"role {name}", missing=("NoSuchEntity",), RoleName=name,
                   PolicyName=policy_name)

    def delete_role(self, name: str) -> None:
        self._call("iam", "delete_role", f"role {name}", missing=("NoSuchEntity",), RoleName=name)

    # -- S3 bucket -------------------------------------------------------------------------------------------------

    def bucket_access(self, name: str) -> str:
        """``owned`` (this account can use it), ``missing``, or ``forbidden`` (someone else's)."""
        client = self._client("s3")
        try:
            client.head_bucket(Bucket=name)
        except botocore.exceptions.ClientError as problem:
            code = problem.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                return "missing"
            if code in ("403", "Forbidden", *ACCESS_DENIED_CODES):
                return "forbidden"
            raise self._deploy_error(client, "head_bucket", f"bucket {name}", problem) from None
        except Exception as problem:
            raise translate(problem, self.target.function) from None
        return "owned"

    def bucket_tags(self, name: str) -> dict[str, str]:
        answer = self._call("s3", "get_bucket_tagging", f"bucket {name}", missing=("NoSuchTagSet",), Bucket=name)
        return {} if answer is None else {tag["Key"]: tag["Value"] for tag in answer.get("TagSet", [])}

    def public_access_block(self, name: str) -> dict[str, bool] | None:
        answer = self._call("s3", "get_public_access_block", f"bucket {name}",
                            missing=("NoSuchPublicAccessBlockConfiguration",), Bucket=name)
        return None if answer is None else dict(answer["PublicAccessBlockConfiguration"])

    def bucket_sse_algorithm(self, name: str) -> str | None:
        answer = self._call("s3", "get_bucket_encryption", f"bucket {name}",
                            missing=("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name)
        if answer is None:
            return None
        rules = answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        algorithm: str | None = default.get("SSEAlgorithm")
        return algorithm

    def lifecycle_rules(self, name: str) -> list[dict[str, Any]]:
        answer = self._call("s3", "get_bucket_lifecycle_configuration", f"bucket {name}",
                            missing=("NoSuchLifecycleConfiguration",), Bucket=name)
        return [] if answer is None else list(answer.get("Rules", []))

    def create_bucket(self, name: str) -> None:
        params: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self._call("s3", "create_bucket", name, missing=("BucketAlreadyOwnedByYou",), **params)

    def put_public_access_block(self, name: str, settings: dict[str, bool]) -> None:
        self._call("s3", "put_public_access_block", f"bucket {name}", Bucket=name,
                   PublicAccessBlockConfiguration=settings)

    def put_bucket_sse(self, name: str, algorithm: str) -> None:
        self._call("s3", "put_bucket_encryption", f"bucket {name}", Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}],
        })

    def put_lifecycle_rules(self, name: str, rules: list[dict[str, Any]]) -> None:
        self._call("s3", "put_bucket_lifecycle_configuration", f"bucket {name}", Bucket=name,
                   LifecycleConfiguration={"Rules": rules})

    def put_bucket_tags(self, name: str, tags: dict[str, str]) -> None:
        self._call("s3", "put_bucket_tagging", f"bucket {name}", Bucket=name, Tagging={"TagSet": _tag_list(tags)})

    def empty_bucket(self, name: str) -> int:
        """Delete every object version, delete marker and unfinished upload; returns how many objects went."""
        client = self._client("s3")
        removed = 0
        try:
            for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
                keys = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
                for start in range(0, len(keys), 1000):
                    self._call("s3", "delete_objects", f"bucket {name}", Bucket=name,
                               Delete={"Objects": keys[start:start + 1000], "Quiet": True})
                removed += len(keys)
            for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
                for upload in page.get("Uploads", []):
                    self._call("s3", "abort_multipart_upload", f"bucket {name}", missing=("NoSuchUpload",),
                               Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        except botocore.exceptions.ClientError as problem:
            raise self._deploy_error(client, "list_object_versions", f"bucket {name}", problem) from None
        return removed

    def delete_bucket(self, name: str) -> None:
        self._call("s3", "delete_bucket", f"bucket {name}", missing=("NoSuchBucket",), Bucket=name)

    # -- Lambda function -------------------------------------------------------------------------------------------

    def get_function(self, name: str) -> dict[str, Any] | None:
        """``Configuration`` and ``Tags`` of the function, or None when it does not exist.

        GetFunction answers the tags only to a caller allowed lambda:ListTags; to
        another it answers ``TagsError`` instead, and a function read without its tags
        would look like one lambdash did not make.
        """
        answer = self._call("lambda", "get_function", f"function {name}", missing=("ResourceNotFoundException",),
                            FunctionName=name)
        if answer is None:
            return None
        if "TagsError" in answer:
            error = answer["TagsError"]
            code, message = error.get("ErrorCode", ""), error.get("Message", "")
            if code in ACCESS_DENIED_CODES or "not authorized" in message:
                raise TransportError(
                    f"access denied: these credentials may not call lambda:ListTags (on function {name}), so lambdash "
                    "cannot tell whether it made the function; grant lambda:ListTags to the identity that deploys")
            raise TransportError(f"lambda:ListTags on function {name} failed: {code or 'error'}: {message}")
        return {"Configuration": answer["Configuration"], "Tags": answer.get("Tags", {})}

    def get_function_configuration(self, function: str) -> dict[str, Any]:
        """The configuration of any function (by name or ARN), e.g. the one a twin is like.

        A function that does not exist, or whose configuration these credentials may
        not read, is a one-line error naming lambda:GetFunctionConfiguration.
        """
        answer = self._call("lambda", "get_function_configuration", f"function {function}",
                            missing=("ResourceNotFoundException",), FunctionName=function)
        if answer is None:
            raise ConfigError(f"function {function} not found in {self.region}: cannot read its configuration "
                              "(lambda:GetFunctionConfiguration); check the name and --region")
        answer.pop("ResponseMetadata", None)
        return dict(answer)

    def get_function_code(self, function: str) -> dict[str, Any]:
        """GetFunction of any function (by name or ARN): its Configuration, and its Code (a short-lived URL).

        A function that does not exist, or that these credentials may not read, is a
        one-line error naming lambda:GetFunction.
        """
        answer = self._call("lambda", "get_function", f"function {function}", missing=("ResourceNotFoundException",),
                            FunctionName=function)
        if answer is None:
            raise ConfigError(f"function {function} not found in {self.region}: cannot read its code "
                              "(lambda:GetFunction); check the name and --region")
        return {"Configuration": answer["Configuration"], "Code": answer.get("Code", {})}

    def get_layer_version(self, layer_version_arn: str) -> dict[str, Any]:
        """A layer version (its Content.Location is a short-lived URL of its zip), by its version ARN."""
        layer_arn, _, version = layer_version_arn.rpartition(":")
        if not layer_arn or not is_decimal(version):
            raise ConfigError(f"not a layer version ARN: {layer_version_arn}")
        # The layer's ARN is accepted as its name, so this reads layers of other accounts too.
        answer = self._call("lambda", "get_layer_version", f"layer {layer_version_arn}",
                            missing=("ResourceNotFoundException",), LayerName=layer_arn, VersionNumber=int(version))
        if answer is None:
            raise ConfigError(f"layer {layer_version_arn} not found (lambda:GetLayerVersion)")
        answer.pop("ResponseMetadata", None)
        return dict(answer)

    def has_function_url(self, name: str) -> bool:
        answer = self._call("lambda", "get_function_url_config", f"function {name}",
                            missing=("ResourceNotFoundException",), FunctionName=name)
        return answer is not None

    def function_policy_statement_ids(self, name: str) -> list[str]:
        answer = self._call("lambda", "get_policy", f"function {name}", missing=("ResourceNotFoundException",),
                            FunctionName=name)
        if answer is None:
            return []
        return [statement.get("Sid", "") for statement in json.loads(answer["Policy"]).get("Statement", [])]

    def create_function(self, spec: dict[str, Any]) -> None:
        """Create the function, waiting out IAM's propagation of a new role, then wait until it is Active."""
        self._with_new_role("create_function", spec)
        self._wait("function_active_v2", spec["FunctionName"])

    def update_function_code(self, name: str, zip_bytes: bytes, architecture: str) -> None:
        self._wait("function_updated_v2", name)
        self._call("lambda", "update_function_code", f"function {name}", FunctionName=name, ZipFile=zip_bytes,
                   Architectures=[architecture])
        self._wait("function_updated_v2", name)

    def update_function_configuration(self, spec: dict[str, Any]) -> None:
        self._wait("function_updated_v2", spec["FunctionName"])
        self._with_new_role("update_function_configuration", spec)
        self._wait("function_updated_v2", spec["FunctionName"])

    def tag_function(self, arn: str, tags: dict[str, str]) -> None:
        self._call("lambda", "tag_resource", arn, Resource=arn, Tags=tags)

    def delete_function_url(self, name: str) -> None:
        self._call("lambda", "delete_function_url_config", f"function {name}", missing=("ResourceNotFoundException",),
                   FunctionName=name)

    def remove_permission(self, name: str, statement_id: str) -> None:
        self._call("lambda", "remove_permission", f"function {name}", missing=("ResourceNotFoundException",),
                   FunctionName=name, StatementId=statement_id)

    def delete_function(self, name: str) -> None:
        self._call("lambda", "delete_function", f"function {name}", missing=("ResourceNotFoundException",),
                   FunctionName=name)

    def functions_using_bucket(self, bucket: str) -> list[str]:
        """Names of functions whose LAMBDASH_BUCKET is this bucket (so destroy keeps a shared bucket)."""
        client = self._client("lambda")
        names: list[str] = []
        try:
            for page in client.get_paginator("list_functions").paginate():
                for function in page.get("Functions", []):
                    variables = function.get("Environment", {}).get("Variables", {})
                    if variables.get(ENV_BUCKET) == bucket:
                        names.append(function["FunctionName"])
        except botocore.exceptions.ClientError as problem:
            raise self._deploy_error(client, "list_functions", "functions", problem) from None
        return names

    def _with_new_role(self, method: str, spec: dict[str, Any]) -> None:
        """Retry, backing off, while Lambda (or KMS) cannot yet use a role IAM has only just created or changed."""
        client = self._client("lambda")
        started, delay = self._clock(), 1.0
        while True:
            try:
                getattr(client, method)(**spec)
                return
            except botocore.exceptions.ClientError as problem:
                message = problem.response.get("Error", {}).get("Message", "")
                if not any(all(phrase in message for phrase in phrases) for phrases in _ROLE_NOT_READY):
                    raise self._deploy_error(client, method, f"function {spec['FunctionName']}", problem) from None
                waited = self._clock() - started
                if waited >= ROLE_PROPAGATION_SECONDS:
                    raise TransportError(
                        f"Lambda still cannot use role {spec.get('Role')} after {waited:.0f} s: {message}") from None
                self.on_progress(f"waiting for IAM to make the new role usable by Lambda ({waited:.0f} s so far)")
                self._sleep(min(delay, ROLE_PROPAGATION_SECONDS - waited))
                delay = min(delay * 2, ROLE_RETRY_MAX_DELAY_SECONDS)
            except Exception as problem:
                raise translate(problem, spec["FunctionName"]) from None


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
