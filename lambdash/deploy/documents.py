"""The IAM and S3 documents lambdash puts in AWS: trust, spill and lifecycle, and the bucket's settings.

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
