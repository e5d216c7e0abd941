"""The IAM and S3 documents lambdash puts in AWS: trust, spill, sessions and lifecycle, and the bucket's settings.

Deploy, status (which compares them with what AWS holds) and the CloudFormation
template all take them from here, so they can never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# AWS managed policies the role gets: logging always, ENI management inside a VPC.
BASIC_EXECUTION_POLICY = "service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
# A twin of a function with EFS file systems mounts them, as that function does.
EFS_CLIENT_POLICY = "AmazonElasticFileSystemClientReadWriteAccess"
SPILL_POLICY_NAME = "lambdash-spill"
LIFECYCLE_RULE_ID = "lambdash-expire-spills"
# On the objects under the prefix: write a spill (multipart too), read and delete what comes through the bucket,
# and abort a spill that could not finish in time (parts not aborted are billed until the lifecycle rule runs).
SPILL_ACTIONS = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject")
# On the bucket itself: learn its region, so presigned URLs name it (a bucket may be in another region).
SPILL_BUCKET_ACTIONS = ("s3:GetBucketLocation",)
# Sessions (see contract.session): the function role's inline policy for its session queues and the
# credentials it hands out, and the session role's, which may only send to session queues.
SESSIONS_POLICY_NAME = "lambdash-sessions"
SESSION_SEND_POLICY_NAME = "lambdash-session-send"
SESSION_QUEUE_ACTIONS = ("sqs:CreateQueue", "sqs:DeleteMessage", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
                         "sqs:ReceiveMessage", "sqs:TagQueue")

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
SSE_ALGORITHM = "AES256"


def trust_policy() -> dict[str, Any]:
    """Only Lambda may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    }


def spill_policy(objects: Any, bucket: Any) -> dict[str, Any]:
    """Objects under one prefix (``objects``), and the bucket's location (``bucket``, its ARN).

    Either may be a CloudFormation expression.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SpillObjects",
            "Effect": "Allow",
            "Action": list(SPILL_ACTIONS),
            "Resource": objects,
        }, {
            "Sid": "SpillBucketRegion",
            "Effect": "Allow",
            "Action": list(SPILL_BUCKET_ACTIONS),
            "Resource": bucket,
        }],
    }


def sessions_policy(queues: Any, all_queues: Any, session_role: Any) -> dict[str, Any]:
    """The function role's part in sessions; each argument an ARN (or a CloudFormation expression).

    Make, read and delete its session queues (``queues``: lambdash-session-*), list them to
    sweep stale ones (SQS checks ListQueues against every queue of the account and region,
    ``all_queues``), and assume the session role to hand out send-only credentials.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SessionQueues", "Effect": "Allow", "Action": list(SESSION_QUEUE_ACTIONS), "Resource": queues},
            {"Sid": "ListSessionQueues", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": all_queues},
            {"Sid": "HandOutSendOnlyCredentials", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Resource": session_role},
        ],
    }


def session_trust_policy(account_root: Any, function_roles: Any) -> dict[str, Any]:
    """Who may assume the session role: lambdash's function roles (lambdash-*-role) of this account, nothing else.

    A role cannot name itself, nor a role not yet made, as a principal; the account
    with a condition on the caller's role does neither, and holds for every lambdash
    function of the account, made now or later.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": account_root},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:PrincipalArn": function_roles}},
        }],
    }


def session_send_policy(queues: Any) -> dict[str, Any]:
    """The session role may only send to session queues; each session's own policy narrows it to one queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SendToSessionQueues", "Effect": "Allow", "Action": "sqs:SendMessage",
                       "Resource": queues}],
    }


def lifecycle_rule(prefix: str) -> dict[str, Any]:
    """Spills are deleted by the client at once; anything left over expires after a day."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": f"{prefix}/"},
        "Expiration": {"Days": 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def canonical(document: Any) -> str:
    """A policy document in one comparable form (AWS may return one-item lists as strings, or reorder)."""
    return json.dumps(_normalise(document), sort_keys=True)


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_normalise(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value
