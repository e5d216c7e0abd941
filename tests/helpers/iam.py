"""The IAM check: every AWS call lambdash makes, held to the permissions lambdash documents and grants.

- ``AwsCallRecorder`` records each call botocore makes in this process (presigning
  too), with who makes it, told by the code that made the client or the call: the
  identity that deploys (``lambdash/aws/deploy.py``), a user of the function
  (``lambdash/aws/invoke.py``), or the function's role (the handler).
- ``needed`` says which IAM actions a call needs, from a small explicit table: an
  operation missing from it fails the check until someone decides.
- The permissions come from where users read them: the README's tables (the
  deployer's, the function role's and its users'), parsed here, so a table and the
  check can never drift apart; and the role's policy, which deploy takes from
  ``lambdash.deploy.documents``, must say exactly what the README's row says.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session

import lambdash_handler
from tests.helpers.environment import ROOT

DEPLOYER, INVOKER, FUNCTION, SESSION = "deployer", "invoker", "function", "session"
# Who makes a call, by the module that makes it (or made its client). A session's input goes up with the
# credentials the function handed out for that session, not the user's own.
_PRINCIPAL_OF_MODULE = {
    ROOT / "lambdash" / "aws" / "deploy.py": DEPLOYER,
    ROOT / "lambdash" / "aws" / "invoke.py": INVOKER,
    ROOT / "lambdash" / "aws" / "warm.py": INVOKER,
    ROOT / "lambdash" / "aws" / "uplink.py": SESSION,
}
_HANDLER = lambdash_handler.package_root()
_CLIENT = ROOT / "lambdash"

DEPLOYER_TABLE = "### IAM permissions the deployer needs"
FUNCTION_TABLE = "### IAM permissions of the function and of its users"
_ACTION = re.compile(r"`([a-z0-9-]+:[A-Za-z*]+)`")
_RESOURCE = re.compile(r"\bon `([^`]+)`")
_GET_LIST_ABOVE = "the `Get`/`List` actions above"


# -- what a call needs -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One AWS call (or presigned URL) made in this process, and who made it."""

    principal: str
    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    presigned: bool = False
    # What the deployer was doing, when a test says (``AwsCallRecorder.doing``): a row label of the README's table.
    doing: tuple[str, ...] | None = None

    def __str__(self) -> str:
        how = "presigned " if self.presigned else ""
        return f"{self.principal} {how}{self.service}:{self.operation}"


def _same(action: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda params: [action]


def _function_write(action: str) -> Callable[[Mapping[str, Any]], list[str]]:
    """CreateFunction and UpdateFunctionConfiguration: Lambda checks the caller's rights to what they name."""

    def needs(params: Mapping[str, Any]) -> list[str]:
        actions = [action]
        if params.get("Role"):
            actions.append("iam:PassRole")
        if params.get("Tags"):
            actions.append("lambda:TagResource")
        if (params.get("VpcConfig") or {}).get("SubnetIds"):
            actions += ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
        if params.get("KMSKeyArn"):
            actions += ["kms:CreateGrant", "kms:Encrypt"]
        return actions

    return needs


# (service, operation) -> the IAM actions it needs. Explicit: a new call is decided here, not guessed.
ACTIONS: dict[tuple[str, str], Callable[[Mapping[str, Any]], list[str]]] = {
    ("sts", "GetCallerIdentity"): _same("sts:GetCallerIdentity"),
    ("ec2", "DescribeSubnets"): _same("ec2:DescribeSubnets"),
    ("ec2", "DescribeSecurityGroups"): _same("ec2:DescribeSecurityGroups"),
    **{("iam", name): _same(f"iam:{name}") for name in (
        "GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy", "UpdateAssumeRolePolicy",
        "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole")},
    ("iam", "CreateRole"): lambda params: ["iam:CreateRole", *(["iam:TagRole"] if params.get("Tags") else [])],
    ("s3", "HeadBucket"): _same("s3:ListBucket"),
    ("s3", "ListObjectsV2"): _same("s3:ListBucket"),
    ("s3", "CreateBucket"): _same("s3:CreateBucket"),
    ("s3", "DeleteBucket"): _same("s3:DeleteBucket"),
    ("s3", "GetBucketLocation"): _same("s3:GetBucketLocation"),
    ("s3", "GetBucketTagging"): _same("s3:GetBucketTagging"),
    ("s3", "PutBucketTagging"): _same("s3:PutBucketTagging"),
    ("s3", "GetPublicAccessBlock"): _same("s3:GetBucketPublicAccessBlock"),
    ("s3", "PutPublicAccessBlock"): _same("s3:PutBucketPublicAccessBlock"),
    ("s3", "GetBucketEncryption"): _same("s3:GetEncryptionConfiguration"),
    ("s3", "PutBucketEncryption"): _same("s3:PutEncryptionConfiguration"),
    ("s3", "GetBucketLifecycleConfiguration"): _same("s3:GetLifecycleConfiguration"),
    ("s3", "PutBucketLifecycleConfiguration"): _same("s3:PutLifecycleConfiguration"),
    ("s3", "ListObjectVersions"): _same("s3:ListBucketVersions"),
    ("s3", "ListMultipartUploads"): _same("s3:ListBucketMultipartUploads"),
    ("s3", "DeleteObjects"): lambda params: ["s3:DeleteObject", *(
        ["s3:DeleteObjectVersion"] if any("VersionId" in item for item in params["Delete"]["Objects"]) else [])],
    ("s3", "PutObject"): _same("s3:PutObject"),
    ("s3", "CreateMultipartUpload"): _same("s3:PutObject"),
    ("s3", "UploadPart"): _same("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _same("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _same("s3:AbortMultipartUpload"),
    ("s3", "GetObject"): _same("s3:GetObject"),
    ("s3", "HeadObject"): _same("s3:GetObject"),
    ("s3", "DeleteObject"): _same("s3:DeleteObject"),
    # GetFunction answers the function's tags only to a caller allowed ListTags (else TagsError).
    ("lambda", "GetFunction"): lambda params: ["lambda:GetFunction", "lambda:ListTags"],
    ("lambda", "ListTags"): _same("lambda:ListTags"),
    ("lambda", "GetFunctionConfiguration"): _same("lambda:GetFunctionConfiguration"),
    ("lambda", "GetLayerVersion"): _same("lambda:GetLayerVersion"),
    ("lambda", "GetFunctionUrlConfig"): _same("lambda:GetFunctionUrlConfig"),
    ("lambda", "GetPolicy"): _same("lambda:GetPolicy"),
    ("lambda", "CreateFunction"): _function_write("lambda:CreateFunction"),
    ("lambda", "UpdateFunctionConfiguration"): _function_write("lambda:UpdateFunctionConfiguration"),
    ("lambda", "UpdateFunctionCode"): _same("lambda:UpdateFunctionCode"),
    ("lambda", "TagResource"): _same("lambda:TagResource"),
    ("lambda", "DeleteFunctionUrlConfig"): _same("lambda:DeleteFunctionUrlConfig"),
    ("lambda", "RemovePermission"): _same("lambda:RemovePermission"),
    ("lambda", "DeleteFunction"): _same("lambda:DeleteFunction"),
    ("lambda", "ListFunctions"): _same("lambda:ListFunctions"),
    # Sessions: the function runs a queue per session and assumes the session role; the client only sends.
    **{("sqs", name): _same(f"sqs:{name}") for name in (
        "CreateQueue", "TagQueue", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "DeleteQueue",
        "ListQueues", "SendMessage", "GetQueueUrl")},
    ("sqs", "DeleteMessageBatch"): _same("sqs:DeleteMessage"),
    ("sqs", "SendMessageBatch"): _same("sqs:SendMessage"),
    ("sts", "AssumeRole"): _same("sts:AssumeRole"),
    ("iam", "TagRole"): _same("iam:TagRole"),
    # The streaming API is covered by InvokeFunction; there is no action of its own.
    ("lambda", "Invoke"): _same("lambda:InvokeFunction"),
    ("lambda", "InvokeWithResponseStream"): _same("lambda:InvokeFunction"),
}


@dataclass(frozen=True)
class Need:
    """One IAM action a call needs, on a resource (``*`` where the check does not look at resources)."""

    action: str
    resource: str = "*"


def needed(call: Call) -> list[Need]:
    """The IAM actions ``call`` needs; KeyError for an operation the table does not know."""
    try:
        actions = ACTIONS[(call.service, call.operation)](call.params)
    except KeyError:
        raise KeyError(f"{call.service}:{call.operation} is not in tests/helpers/iam.py's ACTIONS: "
                       "say which IAM actions it needs") from None
    resource = "*"
    if call.service == "s3" and "Bucket" in call.params:
        bucket = call.params["Bucket"]
        resource = f"arn:aws:s3:::{bucket}/{call.params['Key']}" if "Key" in call.params else f"arn:aws:s3:::{bucket}"
    return [Need(action, resource) for action in actions]


# -- what is allowed -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grants:
    """What one principal is allowed: (action, resource) patterns, as an IAM policy's Allow statements say."""

    allowed: frozenset[tuple[str, str]]

    def allows(self, need: Need) -> bool:
        return any(fnmatch.fnmatchcase(need.action.lower(), action.lower())
                   and (need.resource == "*" or fnmatch.fnmatchcase(need.resource, resource))
                   for action, resource in self.allowed)

    @classmethod
    def anywhere(cls, actions: Iterable[str]) -> Grants:
        return cls(frozenset((action, "*") for action in actions))

    @classmethod
    def of_policy(cls, document: Mapping[str, Any]) -> Grants:
        """The Allow statements of a policy document (no Deny, no conditions: lambdash writes none)."""
        allowed = set()
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", statement
            assert "Condition" not in statement, statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            allowed |= {(action, resource) for action in actions for resource in resources}
        return cls(frozenset(allowed))

    def __or__(self, other: Grants) -> Grants:
        return Grants(self.allowed | other.allowed)


def table_rows(readme: str, heading: str) -> dict[str, str]:
    """The rows of the first table under ``heading``: first cell -> second cell."""
    lines = iter(readme.split(heading, 1)[1].splitlines())
    rows: dict[str, str] = {}
    for line in lines:
        if rows and not line.startswith("|"):
            break
        if line.startswith("| ") and not line.startswith("| ---"):
            label, cell = (part.strip() for part in line.strip().strip("|").split("|", 1))
            rows[label] = cell
    rows.pop(next(iter(rows)))  # the header
    return rows


def deployer_actions(readme: str) -> dict[str, frozenset[str]]:
    """The deployer's table: each row's label and its actions, "the Get/List actions above" spelt out."""
    rows: dict[str, frozenset[str]] = {}
    for label, cell in table_rows(readme, DEPLOYER_TABLE).items():
        actions = set(_ACTION.findall(cell))
        if _GET_LIST_ABOVE in cell:
            actions |= {action for above in rows.values() for action in above
                        if action.split(":", 1)[1].startswith(("Get", "List"))}
        rows[label] = frozenset(actions)
    return rows


def free_actions(readme: str) -> frozenset[str]:
    """Actions the README says need no permission."""
    return frozenset(action for line in readme.splitlines() if "needs no permission" in line
                     for action in _ACTION.findall(line))


def function_rows(readme: str) -> dict[str, str]:
    return table_rows(readme, FUNCTION_TABLE)


def role_grants(readme: str, bucket: str, prefix: str, partition: str = "aws") -> Grants:
    """The function role's row of the README: actions on ``BUCKET/PREFIX/*`` and on ``BUCKET``, for this bucket."""
    (row,) = [cell for label, cell in function_rows(readme).items() if label.startswith("the function's role")]
    arn = f"arn:{partition}:s3:::{bucket}"
    places = {"BUCKET/PREFIX/*": f"{arn}/{prefix}/*", "BUCKET": arn}
    allowed = set()
    for part in row.split(";"):
        resource = _RESOURCE.search(part)
        actions = _ACTION.findall(part)
        if actions:
            # S3's resources are checked; the others (session queues, the session role) are not looked at.
            place = places.get(resource.group(1), "*") if resource else "*"
            allowed |= {(action, place) for action in actions}
    return Grants(frozenset(allowed))


def session_grants(readme: str) -> Grants:
    (row,) = [cell for label, cell in function_rows(readme).items() if label.startswith("a session's credentials")]
    return Grants.anywhere(_ACTION.findall(row))


def invoker_grants(readme: str) -> Grants:
    (row,) = [cell for label, cell in function_rows(readme).items() if label.startswith("a user of the function")]
    return Grants.anywhere(_ACTION.findall(row))


@dataclass(frozen=True)
class Documented:
    """Everything the README allows, read once."""

    readme: str

    @functools.cached_property
    def deployer(self) -> dict[str, frozenset[str]]:
        return deployer_actions(self.readme)

    @functools.cached_property
    def free(self) -> Grants:
        return Grants.anywhere(free_actions(self.readme))

    def deployer_grants(self, doing: tuple[str, ...] | None) -> Grants:
        """The rows whose label is one of ``doing`` (all rows when None)."""
        rows = [actions for label, actions in self.deployer.items() if doing is None or label in doing]
        assert rows, f"no row of the deployer's table is labelled {doing}"
        return Grants.anywhere(action for actions in rows for action in actions) | self.free

    def grants(self, call: Call, role: Grants | None) -> Grants:
        """What the principal of ``call`` is allowed; ``role``: the function role's, for its bucket."""
        if call.principal == DEPLOYER:
            return self.deployer_grants(call.doing)
        if call.principal == INVOKER:
            return invoker_grants(self.readme) | self.free
        if call.principal == SESSION:
            return session_grants(self.readme) | self.free
        assert role is not None
        return role | self.free


@functools.cache
def documented(path: Path = ROOT / "README.md") -> Documented:
    return Documented(path.read_text())


def violations(calls: Iterable[Call], documented: Documented,
               role: Callable[[Call], Grants] | None = None) -> list[str]:
    """One line per action a call needed and its principal is not allowed, e.g. ``deployer lambda:GetFunction
    needs lambda:ListTags``; ``role`` gives the function role's grants for a call (default: the README's row for
    the call's own bucket and any prefix)."""
    role = role or (lambda call: role_grants(documented.readme, call.params.get("Bucket", "*"), "*"))
    found = []
    for call in calls:
        grants = documented.grants(call, role(call) if call.principal == FUNCTION else None)
        found += [f"{call} needs {need.action}" + (f" on {need.resource}" if need.resource != "*" else "")
                  for need in needed(call) if not grants.allows(need)]
    return sorted(set(found))


# -- recording the calls ---------------------------------------------------------------------------------------------

def principal_of_stack() -> str | None:
    """Who is calling, by the innermost frame of lambdash's code: its handler, or the client module that calls AWS."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(_HANDLER):
            return FUNCTION
        if path in _PRINCIPAL_OF_MODULE:
            return _PRINCIPAL_OF_MODULE[path]
        if path.is_relative_to(_CLIENT):
            return None  # lambdash's own, not AWS: the local Lambda and its embedded S3
        frame = frame.f_back  # type: ignore[assignment]
    return None


@dataclass
class AwsCallRecorder:
    """Records every call of every botocore client made while it is installed (``install``)."""

    calls: list[Call] = field(default_factory=list)
    _doing: tuple[str, ...] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, patch: Any) -> None:
        """Wrap botocore's client factory (with ``patch``, a pytest MonkeyPatch), so every new client reports here."""
        create_client = botocore.session.Session.create_client
        recorder = self

        def create_and_record(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, *args, **kwargs)
            made_by = principal_of_stack()

            def record(params: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any) -> None:
                principal = principal_of_stack() or made_by
                if principal is not None:
                    recorder.add(Call(principal, model.service_model.signing_name, model.name, dict(params),
                                      presigned=bool(context.get("is_presign_request"))))

            client.meta.events.register("before-parameter-build", record)
            return client

        patch.setattr(botocore.session.Session, "create_client", create_and_record)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(Call(call.principal, call.service, call.operation, call.params, call.presigned,
                                   self._doing if call.principal == DEPLOYER else None))

    def doing(self, *rows: str) -> _Doing:
        """Within this block, the deployer's calls are held to these rows of the README's table only."""
        return _Doing(self, rows)

    def of(self, principal: str) -> list[Call]:
        return [call for call in self.calls if call.principal == principal]


@dataclass
class _Doing:
    recorder: AwsCallRecorder
    rows: tuple[str, ...]

    def __enter__(self) -> None:
        self.recorder._doing = self.rows

    def __exit__(self, *exc: object) -> None:
        self.recorder._doing = None


def operations(calls: Iterable[Call]) -> Iterator[str]:
    """``service:Operation`` of each call, once each, sorted."""
    yield from sorted({f"{call.service}:{call.operation}" for call in calls})
