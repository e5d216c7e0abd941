"""The IAM and S3 documents lambdash puts in AWS. No AWS."""

from __future__ import annotations

from lambdash.deploy.documents import LIFECYCLE_RULE_ID
from tests.unit.deploy.examples import present, settings


def test_the_role_can_be_assumed_by_lambda_only() -> None:
    assert settings().trust_policy == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }


def test_the_spill_policy_covers_the_prefix_of_the_bucket_only() -> None:
    policy = settings(bucket="spills", prefix="lambdash").spill_policy
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Sid": "SpillObjects", "Effect": "Allow",
        # Abort too: a spill stopped at the deadline must not leave parts billed until the lifecycle rule runs.
        "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::spills/lambdash/*",
    }, {
        # Its region, for presigned URLs that name it: the bucket may be in another region than the function.
        "Sid": "SpillBucketRegion", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
        "Resource": "arn:aws:s3:::spills",
    }]}
    assert settings(bucket=None).spill_policy is None
    assert present(settings(partition="aws-cn").spill_policy)["Statement"][0]["Resource"].startswith("arn:aws-cn:s3:::")


def test_lifecycle_rule_expires_the_prefix_after_a_day() -> None:
    assert settings(prefix="lambdash").lifecycle_rule == {
        "ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": "lambdash/"},
        "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def test_the_function_role_may_run_its_session_queues_and_hand_out_send_only_credentials() -> None:
    assert settings().inline_policies("lambdash-shell-role")["lambdash-sessions"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SessionQueues", "Effect": "Allow",
             "Action": ["sqs:CreateQueue", "sqs:DeleteMessage", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
                        "sqs:ReceiveMessage", "sqs:TagQueue"],
             "Resource": "arn:aws:sqs:eu-west-1:123456789012:lambdash-session-*"},
            {"Sid": "ListSessionQueues", "Effect": "Allow", "Action": "sqs:ListQueues",
             "Resource": "arn:aws:sqs:eu-west-1:123456789012:*"},
            {"Sid": "HandOutSendOnlyCredentials", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Resource": "arn:aws:iam::123456789012:role/lambdash-session"},
        ],
    }


def test_the_session_role_is_assumed_by_lambdash_function_roles_only_and_may_only_send() -> None:
    wanted = settings()
    assert wanted.role_trust_policy("lambdash-session") == {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/lambdash-*-role"}},
        }],
    }
    assert wanted.inline_policies("lambdash-session") == {"lambdash-session-send": {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SendToSessionQueues", "Effect": "Allow", "Action": "sqs:SendMessage",
                       "Resource": "arn:aws:sqs:*:123456789012:lambdash-session-*"}],
    }}


def test_a_twin_with_its_functions_role_gets_no_session_grants() -> None:
    borrowed = settings(execution_role_arn="arn:aws:iam::123456789012:role/orders")
    assert not borrowed.sessions
    assert "lambdash-sessions" not in borrowed.inline_policies("lambdash-shell-role")
