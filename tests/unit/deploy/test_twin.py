"""The twin (deploy --like) as plain data: its runtime, the rows under its plan, what it records, and drift. No AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lambdash.deploy.observed import LayerListing, ObservedState
from lambdash.deploy.plan import Action, ResourceKind
from lambdash.deploy.planner import plan_deploy, recorded_settings
from lambdash.deploy.settings import FunctionReference
from lambdash.deploy.twin import (
    RUNTIME_OS,
    LayerCheck,
    TwinOptions,
    check_skipped_layers,
    choose_runtime,
    describe_twin,
    drift_from_original,
    layer_checks,
    layers_to_read,
)
from lambdash.errors import ConfigError
from tests.unit.deploy.examples import ACCOUNT, KEY, LAYER, base_settings, deployed, make_twin, original


@pytest.mark.parametrize(("runtime", "chosen"), [
    # Python keeps its runtime where lambdash runs; older Pythons get the oldest it runs on, on the same OS.
    ("python3.14", "python3.14"), ("python3.13", "python3.13"), ("python3.12", "python3.12"),
    ("python3.11", "python3.11"), ("python3.10", "python3.11"), ("python3.9", "python3.11"),
    ("python3.8", "python3.11"),
    # Amazon Linux 2023.
    ("nodejs20.x", "python3.13"), ("nodejs22.x", "python3.13"), ("nodejs24.x", "python3.13"),
    ("java21", "python3.13"), ("java25", "python3.13"), ("provided.al2023", "python3.13"),
    ("dotnet8", "python3.13"), ("dotnet10", "python3.13"), ("ruby3.3", "python3.13"), ("ruby3.4", "python3.13"),
    # Amazon Linux 2.
    ("nodejs18.x", "python3.11"), ("nodejs16.x", "python3.11"), ("java17", "python3.11"),
    ("java11", "python3.11"), ("java8.al2", "python3.11"), ("provided.al2", "python3.11"),
    ("dotnet6", "python3.11"), ("ruby3.2", "python3.11"),
    # Amazon Linux 1, where lambdash cannot run: the closest.
    ("go1.x", "python3.11"), ("java8", "python3.11"), ("provided", "python3.11"), ("python3.7", "python3.11"),
    # Unknown: the default.
    ("nodejs99.x", "python3.13"),
])
def test_the_twin_runs_python_on_the_same_operating_system(runtime: str, chosen: str) -> None:
    assert choose_runtime(runtime).runtime == chosen


def test_every_runtime_in_the_table_maps_to_one_lambdash_supports() -> None:
    from lambdash.deploy.settings import SUPPORTED_RUNTIMES

    for runtime in RUNTIME_OS:
        assert choose_runtime(runtime).runtime in SUPPORTED_RUNTIMES


def test_the_plan_says_why_each_runtime_was_chosen() -> None:
    assert choose_runtime("python3.12", function="orders").reason == "python3.12, as orders"
    assert choose_runtime("python3.9", function="orders").reason == (
        "python3.11: orders runs python3.9, and lambdash needs Python 3.11 or later; both run on Amazon Linux 2")
    assert choose_runtime("nodejs18.x", function="orders").reason == (
        "python3.11: orders runs nodejs18.x, and both run on Amazon Linux 2")
    assert choose_runtime("go1.x", function="orders").reason == (
        "python3.11: orders runs go1.x on Amazon Linux 1, where lambdash cannot run; python3.11, on Amazon Linux 2, "
        "is the closest")
    assert choose_runtime("nodejs99.x", function="orders").reason == (
        "python3.13, the default: lambdash does not know the runtime nodejs99.x of orders")
    image = choose_runtime(None, "Image", "orders")
    assert image.runtime == "python3.13"
    assert image.reason == ("python3.13, the default: orders is a container image, which has no runtime, and the "
                            "image's own file system is not there")


def test_with_env_copies_all_but_lambdash_variables_and_the_exec_wrapper() -> None:
    twin = make_twin(original(), with_env=True)
    assert twin.environment == {
        "API_URL": "https://x.invalid", "DB_PASSWORD": "secret",
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/lambdash_handler/exec-wrapper",
        "LAMBDASH_BUCKET": f"lambdash-{ACCOUNT}-eu-west-1", "LAMBDASH_PREFIX": "lambdash",
        "LAMBDASH_SESSION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/lambdash-session"}
    assert twin.kms_key_arn == KEY
    assert "secret" not in repr(twin)
    assert "secret" not in str(twin.public_dict())
    without = make_twin(original())
    assert (without.copied_environment, without.kms_key_arn) == ((), None)
    assert "API_URL" not in without.environment


def test_the_rows_of_a_container_image_twin() -> None:
    image = original(runtime=None, package_type="Image", layers=(), subnet_ids=(), security_group_ids=(),
                 file_systems=(), environment={}, kms_key_arn=None)
    settings = make_twin(image)
    rows = describe_twin(settings, image, TwinOptions(original=FunctionReference(text="orders", name="orders")),
                         choose_runtime(None, "Image", "orders"), [])
    assert rows == [
        ("runtime", "python3.13, the default: orders is a container image, which has no runtime, and the image's "
                    "own file system is not there"),
        ("limits", "x86_64, memory 2048 MB, timeout 45 s, /tmp 1024 MB: as orders"),
        ("layers", "none: a container image has none"),
        ("vpc", "none: orders is not in a VPC"),
        ("environment", "none: orders has no variables"),
        ("role", "lambdash's own lambdash-lambdash-like-orders-role, least privilege (--with-role runs the twin "
                 "with the role of orders)"),
    ]
    assert settings.runtime == "python3.13"


def test_lambdash_variables_of_the_function_are_left_out_and_said() -> None:
    function = original()
    settings = make_twin(function, with_env=True)
    rows = describe_twin(settings, function, TwinOptions(original=FunctionReference(text="orders", name="orders"),
                                                         with_env=True), choose_runtime("nodejs20.x"), [])
    environment = [text for label, text in rows if label == "environment"]
    assert environment == [
        "copied from orders (values not shown): API_URL, DB_PASSWORD",
        "AWS_LAMBDA_EXEC_WRAPPER of orders left out: lambdash sets its own, which starts its streaming runtime loop",
        "LAMBDASH_BUCKET of orders left out: lambdash's own variables win",
    ]


def test_each_layer_is_left_out_or_read_and_an_unreadable_one_is_said() -> None:
    other = LAYER.replace("tools:4", "otel:12")
    function = original(layers=(LAYER, other))
    skips = [LAYER.rpartition(":")[0]]
    assert layers_to_read(function, skips) == [other]
    unreadable = {other: LayerListing(other, unreadable="HTTP 403 Forbidden")}
    assert layer_checks(function, skips, unreadable) == (
        LayerCheck(LAYER, skipped=True), LayerCheck(other, unchecked="HTTP 403 Forbidden"))
    read = {other: LayerListing(other, names=("extensions/", "extensions/collector"))}
    assert layer_checks(function, [], {**read, LAYER: LayerListing(LAYER)})[1].findings == (
        "brings an extension (/opt/extensions/collector): it starts in the twin's sandboxes too, and may need "
        "the function's environment (--with-env)",)
    gone = LAYER.replace("tools:4", "gone")
    with pytest.raises(ConfigError) as caught:
        check_skipped_layers(function, [gone])
    assert caught.value.message == f"--skip-layer {gone}: orders has no such layer (its layers: {LAYER}, {other})"


def test_a_freshly_deployed_twin_has_no_drift_of_either_kind() -> None:
    function = original()
    settings = make_twin(function, with_env=True, with_role=True)
    twin = deployed(settings)
    recorded, notes = recorded_settings(base_settings(), twin)
    assert notes == []
    plan = plan_deploy(recorded, ObservedState(role=None, bucket=None, function=twin), "sha")
    function_change = next(change for change in plan.changes if change.resource.kind is ResourceKind.FUNCTION)
    assert function_change.action is Action.NO_CHANGE
    assert drift_from_original(twin, function) == []


def test_a_twin_changed_outside_lambdash_says_so() -> None:
    twin = deployed(make_twin(original(), with_env=True))
    changed = replace(twin, layers=(), kms_key_arn=None)
    _, notes = recorded_settings(base_settings(), changed)
    assert notes == ["layers changed outside lambdash", "KMS key changed outside lambdash"]


def test_what_changed_in_the_function_is_drift_from_it() -> None:
    function = original()
    twin = deployed(make_twin(function, with_env=True, with_role=True))
    now = original(
        runtime="nodejs22.x", memory_mb=4096, timeout_seconds=60, ephemeral_storage_mb=512, architecture="arm64",
        layers=(LAYER.replace(":4", ":5"),), subnet_ids=("subnet-0fedcba9876543210",), file_systems=(),
        environment={"API_URL": "https://y.invalid", "NEW": "1", "LAMBDASH_BUCKET": "theirs"},
        kms_key_arn=None, role_arn=f"arn:aws:iam::{ACCOUNT}:role/orders-v2",
    )
    assert drift_from_original(twin, now) == [
        "architecture x86_64 -> arm64",
        "memory 2048 MB -> 4096 MB",
        "timeout 45 s -> 60 s",
        "ephemeral storage 1024 MB -> 512 MB",
        "layers now tools:5 (the twin has tools:4)",
        "VPC now subnets subnet-0fedcba9876543210 groups sg-0123456789abcdef0 IPv6 on (the twin: subnets "
        "subnet-0123456789abcdef0 groups sg-0123456789abcdef0 IPv6 on)",
        "file systems now (none) (the twin has fsap-0123456789abcdef0 at /mnt/data)",
        "environment: NEW set; DB_PASSWORD removed; API_URL changed (values not shown)",
        f"KMS key now (AWS managed) (the twin's: {KEY})",
        f"role now arn:aws:iam::{ACCOUNT}:role/orders-v2 (the twin runs with arn:aws:iam::{ACCOUNT}:role/orders)",
    ]


def test_drift_of_the_runtime_is_by_family_and_of_env_only_when_copied() -> None:
    function = original()
    twin = deployed(make_twin(function))
    # Another Node.js on the same OS: the twin's runtime stays python3.13.
    assert drift_from_original(twin, original(runtime="nodejs22.x")) == []
    assert drift_from_original(twin, original(runtime="nodejs18.x")) == [
        "runtime nodejs20.x -> nodejs18.x: the twin's would be python3.11, not python3.13"]
    # Not copied: the function's environment, key and role are not the twin's business.
    assert drift_from_original(twin, original(environment={}, kms_key_arn=None,
                                      role_arn=f"arn:aws:iam::{ACCOUNT}:role/other")) == []


def test_the_environment_change_of_a_twin_shows_no_value() -> None:
    settings = make_twin(original(), with_env=True)
    twin = deployed(settings)
    changed = replace(twin, environment={**twin.environment, "DB_PASSWORD": "rotated"})
    recorded, _ = recorded_settings(base_settings(), changed)
    plan = plan_deploy(replace(recorded, copied_environment=settings.copied_environment),
                       ObservedState(role=None, bucket=None, function=changed), "sha")
    function_change = next(change for change in plan.changes if change.resource.kind is ResourceKind.FUNCTION)
    assert function_change.details == ("environment: DB_PASSWORD to change (values not shown)",)
    assert "rotated" not in function_change.reason
    assert "secret" not in function_change.reason


