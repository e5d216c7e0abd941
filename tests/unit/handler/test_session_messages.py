"""A session's uplink messages: what the client encodes, the handler decodes, within SQS's limits."""

from __future__ import annotations

import json

import pytest

from lambdash_handler.contract.session import (
    MAX_INPUT_PER_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    BadMessage,
    EndOfInput,
    Event,
    Input,
    Signal,
    WindowSize,
    decode_message,
    encode_message,
)
from lambdash_handler.session import session_policy, session_queue_arn


def test_events_round_trip_in_order_with_binary_input() -> None:
    events: list[Event] = [Input(bytes(range(256))), WindowSize(40, 120), Signal("INT"), Input(b"\x03"),
                           EndOfInput()]
    assert decode_message(encode_message(7, events)) == (7, events)


def test_the_fullest_input_message_fits_sqs() -> None:
    body = encode_message(10**12, [Input(b"\xff" * MAX_INPUT_PER_MESSAGE_BYTES), WindowSize(9999, 9999),
                                   Signal("WINCH"), EndOfInput()])
    assert len(body.encode()) <= MAX_MESSAGE_BYTES


@pytest.mark.parametrize("body", [
    "not json", "[]", '{"n": "1", "e": []}', '{"n": 1, "e": [["x"]]}', '{"n": 1, "e": [["i", "@@"]]}',
    '{"n": 1, "e": [["s", "STOP"]]}', '{"n": 1, "e": [["w", 0, 80]]}', '{"n": 1, "e": [["w", true, 80]]}',
])
def test_a_body_that_is_not_a_session_message_is_refused(body: str) -> None:
    with pytest.raises(BadMessage):
        decode_message(body)


def test_the_handed_out_credentials_may_send_to_this_queue_and_do_nothing_else() -> None:
    # The account is a wildcard (the policy is made with the queue); the session role's own policy pins it.
    arn = session_queue_arn("lambdash-session-1-ab.fifo", "eu-west-1")
    assert arn == "arn:aws:sqs:eu-west-1:*:lambdash-session-1-ab.fifo"
    assert session_queue_arn("lambdash-session-1-ab.fifo", "cn-north-1").startswith("arn:aws-cn:sqs:cn-north-1:*:")
    policy = session_policy(arn)
    assert json.loads(json.dumps(policy)) == {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SendToThisSession", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}],
    }
