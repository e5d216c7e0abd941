"""The twin (deploy --like) as plain data: its runtime, name, layers' warnings, records, and drift. No AWS."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from typing import Any

import pytest

from lambdash.cli import parse_arguments
from lambdash.commands.deployment_options import deploy_options, deployment_target, twin_options
from lambdash.deploy.layers import layer_findings
from lambdash.deploy.observed import FunctionState, ObservedState
from lambdash.deploy.plan import Action, ResourceKind
from lambdash.deploy.planner import plan_deploy, recorded_settings
from lambdash.deploy.reachability import check_route_to_s3, needs_route_check, route_verdict
from lambdash.deploy.settings import (
    MAX_NAME_LENGTH,
    DeploySettings,
    FileSystem,
    FunctionReference,
    default_twin_name,
    role_name_for,
)
from lambdash.deploy.tags import function_tags
from lambdash.deploy.twin import (
    RUNTIME_OS,
    LayerCheck,
    TwinOptions,
    choose_runtime,
    describe_twin,
    drift_from_original,
    twin_settings,
)
from lambdash.errors import TransportError, UsageError
from lambdash.lambda_defaults import HANDLER
from lambdash.terminal import Terminal

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders"
LAYER = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:tools:4"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ACCESS_POINT = f"arn:aws:elasticfilesystem:eu-west-1:{ACCOUNT}:access-point/fsap-0123456789abcdef0"


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


@pytest.mark.parametrize(("text", "twin"), [
    ("orders", "lambdash-like-orders"),
    ("orders:prod", "lambdash-like-orders-prod"),
    ("orders:$LATEST", "lambdash-like-orders"),
    (ARN, "lambdash-like-orders"),
    (f"{ACCOUNT}:function:orders:7", "lambdash-like-orders-7"),
])
def test_the_twin_is_named_after_its_function(text: str, twin: str) -> None:
    reference = FunctionReference.parse(text)
    assert reference is not None
    assert default_twin_name(reference) == twin


def test_a_long_twin_name_is_shortened_with_a_hash_and_fits_the_role_name() -> None:
    first = "x" * 40 + "-first"
    second = "x" * 40 + "-second"
    names = [default_twin_name(FunctionReference(text=name, name=name)) for name in (first, second)]
    assert names[0] != names[1]
    for name, base in zip(names, (first, second), strict=True):
        assert len(name) == MAX_NAME_LENGTH
        assert name.endswith("-" + hashlib.sha256(base.encode()).hexdigest()[:6])
        assert len(role_name_for(name)) <= 64


def test_function_references_and_what_they_match() -> None:
    assert FunctionReference.parse("not a name") is None
    assert FunctionReference.parse("arn:aws:s3:::bucket") is None
    reference = FunctionReference.parse(ARN)
    assert reference is not None
    assert (reference.name, reference.qualifier, reference.region, reference.account) == (
        "orders", None, "eu-west-1", ACCOUNT)
    by_name = FunctionReference.parse("orders")
    assert by_name is not None
    assert by_name.matches(ARN)
    assert not by_name.matches(f"{ARN}:prod")
    assert not by_name.matches(ARN.replace("orders", "billing"))
    assert reference.matches(ARN)
    assert not reference.matches(ARN.replace("eu-west-1", "us-east-1"))


def test_the_layer_findings_name_extensions_and_shadowed_packages() -> None:
    assert layer_findings(["extensions/", "extensions/collector", "extensions/lib/helper.so"]) == [
        "brings an extension (/opt/extensions/collector): it starts in the twin's sandboxes too, and may need "
        "the function's environment (--with-env)"]
    assert layer_findings(["python/lib/python3.12/site-packages/botocore/__init__.py", "python/six.py"]) == [
        "brings botocore (/opt/python/lib/python3.12/site-packages/botocore), which shadows the runtime's own: "
        "boto3 in lambdash's handler imports this one",
        "brings six (/opt/python/six.py), which shadows the runtime's own: boto3 in lambdash's handler imports "
        "this one",
    ]
    assert layer_findings(["python/requests/__init__.py", "python/boto3-1.35.0.dist-info/METADATA",
                           "nodejs/node_modules/boto3/index.js", "bin/jq"]) == []


def original(**changes: Any) -> FunctionState:
    """The function twins are made like in these tests."""
    base = FunctionState(
        name="orders", arn=ARN, tags={}, runtime="nodejs20.x", handler="index.handler", architecture="x86_64",
        memory_mb=2048, timeout_seconds=45, ephemeral_storage_mb=1024,
        environment={"API_URL": "https://x.invalid", "DB_PASSWORD": "secret", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/w",
                     "LAMBDASH_BUCKET": "theirs"},
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/orders", code_sha256="", code_size=0,
        subnet_ids=("subnet-0123456789abcdef0",), security_group_ids=("sg-0123456789abcdef0",), description="",
        state="Active", last_update_status="Successful", last_modified=None, layers=(LAYER,), ipv6_dual_stack=True,
        file_systems=(FileSystem(ACCESS_POINT, "/mnt/data"),), kms_key_arn=KEY,
    )
    return replace(base, **changes)


def base_settings(name: str = "lambdash-like-orders") -> DeploySettings:
    return DeploySettings(name=name, region="eu-west-1", account=ACCOUNT, bucket=f"lambdash-{ACCOUNT}-eu-west-1")


def make_twin(function: FunctionState, **options: Any) -> DeploySettings:
    twin_options = TwinOptions(original=FunctionReference(text="orders", name="orders"), **options)
    layers = [LayerCheck(layer) for layer in function.layers]
    return twin_settings(base_settings(), function, twin_options,
                         choose_runtime(function.runtime, function.package_type, function.name), layers)


def deployed(settings: DeploySettings) -> FunctionState:
    """The twin as Lambda shows it once deploy made it."""
    return FunctionState(
        name=settings.name, arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{settings.name}",
        tags=function_tags(settings), runtime=settings.runtime, handler=HANDLER, architecture=settings.architecture,
        memory_mb=settings.memory_mb, timeout_seconds=settings.timeout_seconds,
        ephemeral_storage_mb=settings.ephemeral_storage_mb, environment=settings.environment,
        role_arn=settings.role_arn, code_sha256="sha", code_size=1, subnet_ids=settings.subnet_ids,
        security_group_ids=settings.security_group_ids,
        description="lambdash: a shell inside AWS Lambda (managed by `lambdash deploy`)", state="Active",
        last_update_status="Successful", last_modified=None, layers=settings.layers,
        ipv6_dual_stack=settings.ipv6_dual_stack, file_systems=settings.file_systems,
        kms_key_arn=settings.kms_key_arn,
    )


def test_with_env_copies_all_but_lambdash_variables_and_the_exec_wrapper() -> None:
    twin = make_twin(original(), with_env=True)
    assert twin.environment == {
        "API_URL": "https://x.invalid", "DB_PASSWORD": "secret",
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/handler/exec-wrapper",
        "LAMBDASH_BUCKET": f"lambdash-{ACCOUNT}-eu-west-1", "LAMBDASH_PREFIX": "lambdash"}
    assert twin.kms_key_arn == KEY
    assert "secret" not in repr(twin)
    assert "secret" not in str(twin.public_dict())
    without = make_twin(original())
    assert (without.copied_environment, without.kms_key_arn) == ((), None)
    assert "API_URL" not in without.environment


def test_the_json_of_a_twin_names_its_function_as_like() -> None:
    document = make_twin(original()).public_dict()
    assert document["like"] == ARN
    assert document["like_record"].startswith("runtime=nodejs20.x arch=x86_64 memory=2048 timeout=45 tmp=1024 ")
    assert "twin_of" not in document
    assert "original_record" not in document


def test_the_twin_tags_fit_lambda_limits() -> None:
    longest = original(runtime="provided.al2023", memory_mb=10240, timeout_seconds=900, ephemeral_storage_mb=10240)
    twin = replace(make_twin(longest, with_env=True, with_role=True), bucket="b" * 63, stream=False)
    for key, value in function_tags(twin).items():
        assert len(key) <= 128
        assert len(value) <= 256, key
        assert all(character.isalnum() or character in " _.:/=+-@" for character in value), value


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


def test_the_probe_verdict_on_the_route_to_s3() -> None:
    def document(**check: Any) -> dict[str, Any]:
        return {"schema": "lambdash.probe", "schema_version": 1,
                "checks": [{"check": "aws:s3", "kind": "aws", "seconds": 0.1, "detail": "", "hint": None, **check}]}

    reached = route_verdict(document(ok=True, verdict="reachable"))
    assert (reached.reached, reached.message) == (True, "the twin reaches S3 (reachable)")
    blocked = route_verdict(document(ok=False, verdict="timed out", detail="s3.eu-west-1.amazonaws.com:443",
                                     hint="add a NAT gateway or an S3 gateway endpoint"))
    assert (blocked.reached, blocked.message) == (False, (
        "the twin has no route to S3 (timed out: s3.eu-west-1.amazonaws.com:443): output too big to return inline "
        "will be cut, not spilled; add a NAT gateway or an S3 gateway endpoint"))
    unusable_documents: list[Any] = [{}, {"schema": "lambdash.probe", "checks": []}, [],
                                     {"schema": "other", "checks": [{}]}]
    for unusable in unusable_documents:
        verdict = route_verdict(unusable)
        assert (verdict.reached, verdict.message) == (
            None, "could not check the twin's route to S3: the probe gave no aws:s3 result")


def test_the_route_check_runs_the_s3_probe_it_is_given_and_never_fails() -> None:
    asked: list[list[str]] = []

    def reaching(checks: list[str]) -> Any:
        asked.append(checks)
        return {"schema": "lambdash.probe", "checks": [{"check": "aws:s3", "ok": True, "verdict": "reachable"}]}

    def refused(checks: list[str]) -> Any:
        raise TransportError("function lambdash-like-orders not found")

    def broken(checks: list[str]) -> Any:
        raise RuntimeError("the shell went away\nwith more lines")

    assert check_route_to_s3(reaching).message == "the twin reaches S3 (reachable)"
    assert asked == [["aws:s3"]]
    for probe, reason in ((refused, "function lambdash-like-orders not found"), (broken, "the shell went away")):
        verdict = check_route_to_s3(probe)
        assert (verdict.reached, verdict.message) == (None, f"could not check the twin's route to S3: {reason}")


def test_only_a_twin_in_a_vpc_with_a_bucket_is_checked() -> None:
    twin = make_twin(original())
    assert needs_route_check(twin)
    assert not needs_route_check(replace(twin, bucket=None))
    assert not needs_route_check(replace(twin, subnet_ids=(), security_group_ids=()))


def parse(*argv: str) -> Any:
    args, _ = parse_arguments(list(argv), Terminal(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO()))
    return args


def test_like_picks_the_twin_s_name_and_its_function_s_region() -> None:
    args = parse("deploy", "--like", "arn:aws:lambda:eu-west-1:123456789012:function:orders:live", "--with-env",
                 "--skip-layer", LAYER, "--skip-layer", LAYER)
    target = deployment_target(args)
    assert (target.function, target.region) == ("lambdash-like-orders-live", "eu-west-1")
    options = twin_options(args)
    assert options is not None
    assert (options.with_env, options.with_role, options.skip_layers) == (True, False, (LAYER,))
    assert deploy_options(args).name == "lambdash-like-orders-live"
    assert deploy_options(parse("deploy", "--like", "orders", "--name", "probe")).name == "probe"
    assert twin_options(parse("deploy")) is None


@pytest.mark.parametrize(("argv", "message"), [
    (("--runtime", "python3.12"), "--runtime cannot be combined with --like: the twin has a Python runtime on the "
                                  "operating system of orders"),
    (("--arch", "arm64"), "--arch cannot be combined with --like: the twin has the architecture of orders"),
    (("--memory", "512"), "--memory cannot be combined with --like: the twin has the memory size of orders"),
    (("--ephemeral-storage", "1024"), "--ephemeral-storage cannot be combined with --like: the twin has the /tmp "
                                      "size of orders"),
    (("--security-group", "sg-0123456789abcdef0"), "--security-group cannot be combined with --like: the twin has "
                                                   "the VPC of orders"),
])
def test_options_the_twin_takes_from_its_function_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        twin_options(parse("deploy", "--like", "orders", *argv))
    assert caught.value.message == message


def test_twin_options_without_like_are_refused() -> None:
    for option in (("--with-role",), ("--skip-layer", LAYER)):
        with pytest.raises(UsageError) as caught:
            twin_options(parse("deploy", *option))
        assert caught.value.message == f"{option[0]} goes with --like FUNCTION"
