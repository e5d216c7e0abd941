"""The records the function's tags carry: written and read back by one codec, within Lambda's limits. No AWS."""

from __future__ import annotations

from dataclasses import replace

from lambdash.deploy.settings import FunctionReference
from lambdash.deploy.tags import (
    decode_record,
    encode_record,
    function_tags,
    is_valid_tag_value,
    original_record,
    settings_from_record,
    settings_record,
    twin_record,
)
from tests.unit.deploy.examples import ARN, make_twin, original, settings


def test_a_deploy_from_before_streaming_is_recorded_without_it() -> None:
    """Its settings tag has no stream field, and no wrapper was set up: status sees streaming off."""
    old_record = settings_record(settings()).replace(" stream=on", "")
    assert settings_from_record(settings(), old_record).stream is False
    assert settings_from_record(settings(stream=False), settings_record(settings(stream=False))).stream is False
    assert settings_from_record(settings(), settings_record(settings())).stream is True


def test_the_recorded_settings_read_back_as_they_were() -> None:
    wanted = settings(memory_mb=2048, timeout_seconds=60, runtime="python3.12", architecture="x86_64",
                      ephemeral_storage_mb=2048, bucket="spills", prefix="shells/x")
    assert len(settings_record(wanted)) <= 256
    assert "," not in settings_record(wanted)
    assert settings_from_record(settings(), settings_record(wanted)) == wanted
    assert settings_from_record(settings(), settings_record(settings(bucket=None))).bucket is None


def test_the_twin_tags_fit_lambda_limits() -> None:
    longest = original(runtime="provided.al2023", memory_mb=10240, timeout_seconds=900, ephemeral_storage_mb=10240)
    twin = replace(make_twin(longest, with_env=True, with_role=True), bucket="b" * 63, stream=False)
    for key, value in function_tags(twin).items():
        assert len(key) <= 128
        assert len(value) <= 256, key
        assert is_valid_tag_value(value), value


def test_every_record_is_read_back_by_the_one_codec() -> None:
    records = [settings_record(settings()), settings_record(settings(bucket=None, subnet_ids=("subnet-0123abcd",))),
               twin_record(make_twin(original(), with_env=True, with_role=True)), original_record(original())]
    for record in records:
        fields = decode_record(record)
        assert all(value and " " not in value for value in fields.values()), record
        assert encode_record(fields) == record
    assert decode_record("") == {}
    assert decode_record("memory=2048 stray") == {"memory": "2048", "stray": ""}


def test_a_twin_of_a_function_named_with_latest_records_it_in_a_valid_tag() -> None:
    """``--like orders:$LATEST``: Lambda's answer names ``orders:$LATEST``, and a tag value holds no ``$``."""
    twin = make_twin(original(arn=f"{ARN}:$LATEST"))
    tags = function_tags(twin)
    assert [key for key, value in tags.items() if not is_valid_tag_value(value)] == []
    assert tags["lambdash:like"] == ARN
    reference = FunctionReference.parse("orders:$LATEST")
    assert reference is not None
    assert reference.matches(tags["lambdash:like"])
    assert not reference.matches(f"{ARN}:live")


def test_the_tag_value_check_is_lambdas() -> None:
    assert is_valid_tag_value("runtime=python3.13 bucket=a.b-c_d prefix=x/y +@:é 日本")
    assert not is_valid_tag_value("arn:aws:lambda:eu-west-1:1:function:f:$LATEST")
    assert not is_valid_tag_value("a,b")
    assert not is_valid_tag_value("x" * 257)
