"""The chains deploy, status and destroy run: validate, read what exists, plan, execute, report.

Each stage is a module of its own, with its own tests: ``validate`` checks the
options, ``observed`` reads AWS (the only reads), ``planner`` and ``twin`` compute
the plan without any call, ``executor`` applies it, and ``reachability`` checks a
twin's route to S3 afterwards. This module only puts them in order. A command
parses its options, calls one function here, and prints what it returns; what it
shows on the way (the plan before anything changes, each step as it is made)
reaches it through the callables it passes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lambdash.deploy.executor import CompletedSteps, apply_plan
from lambdash.deploy.function_code import Fetch, download, fetch_function_code, join_code
from lambdash.deploy.layers import zip_listing
from lambdash.deploy.observed import (
    FunctionState,
    Listing,
    ObservedState,
    observe,
    observe_bucket,
    observe_bucket_users,
    observe_function,
    observe_function_code,
    observe_identity,
    observe_layer,
    observe_original,
    observe_role,
    observe_vpcs,
)
from lambdash.deploy.package import CodeArtifact, build_zip
from lambdash.deploy.plan import Action, Plan, StatusReport
from lambdash.deploy.planner import bucket_of, plan_deploy, plan_destroy, plan_status, recorded_settings
from lambdash.deploy.reachability import ProbeRunner, RouteCheck, check_route_to_s3, needs_route_check, twin_target
from lambdash.deploy.settings import DeployOptions, DeploySettings, FunctionReference, resolve_settings
from lambdash.deploy.twin import (
    TwinOptions,
    TwinPlan,
    check_skipped_layers,
    check_twin_of,
    choose_runtime,
    drift_from_original,
    layer_checks,
    layers_to_read,
    twin_plan,
    twin_settings,
)
from lambdash.deploy.validate import check_one_vpc, validate_name, validate_options
from lambdash.errors import ConfigError, LambdashError

if TYPE_CHECKING:
    from lambdash.aws.deploy import DeployClient
    from lambdash.config import Target


class Progress(Protocol):
    """Where a chain says what it is doing, one line at a time (a ``Terminal`` is one)."""

    def notice(self, text: str, /) -> None: ...

    def warning(self, text: str, /) -> None: ...


@dataclass(frozen=True)
class DeployRequest:
    """What ``lambdash deploy`` was asked for: the function's options, and ``--like``'s."""

    options: DeployOptions
    twin: TwinOptions | None = None
    # The handler to deploy; None means this lambdash's own.
    handler_dir: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Deployment:
    """What a deploy will change; for a twin, with what it copies from its function."""

    plan: Plan
    twin: TwinPlan | None = None

    def lines(self) -> list[str]:
        """The plan for people: its header, a line per resource, then the twin's rows."""
        return [self.plan.header, *("  " + line for line in self.plan.lines()),
                *(self.twin.lines() if self.twin else [])]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: the plan, whether it was only shown, and a twin's route to S3 when checked."""

    deployment: Deployment
    code: CodeArtifact
    dry_run: bool
    route: RouteCheck | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was changed in AWS."""
        return not self.dry_run and self.deployment.plan.changed

    def to_dict(self) -> dict[str, Any]:
        twin = self.deployment.twin
        document: dict[str, Any] = {**self.deployment.plan.to_dict(), "dry_run": self.dry_run,
                                    "code_sha256": self.code.sha256}
        if twin is not None:
            document["like"] = twin.to_dict()
            if not self.dry_run:
                document["route_to_s3"] = self.route.to_dict() if self.route else None
        return document


@dataclass(frozen=True)
class DestroyResult:
    """What a destroy did: the plan, and whether it was applied or declined."""

    plan: Plan
    removed: bool
    declined: bool = False


# -- deploy ----------------------------------------------------------------------------------------------------------

def deploy(
    client: DeployClient, request: DeployRequest, *, show: Callable[[Deployment], None], progress: Progress,
    run_probe: ProbeRunner, fetch_code: Fetch = download,
) -> DeployResult:
    """Validate, build the zip, read and plan, show the plan, apply it, and check a twin's route to S3.

    ``show`` sees the plan before anything changes; with ``dry_run`` nothing does.
    ``run_probe`` runs the network probe in the deployed twin. A twin ``with_code`` has its
    function's code package (fetched with ``fetch_code``) beside lambdash's handler.
    """
    validate_options(request.options)
    code = build_zip(request.handler_dir)
    if request.twin is not None and request.twin.with_code:
        progress.notice(f"copying the code of {request.twin.original.text} (lambda:GetFunction)")
        configuration, location = observe_function_code(client, request.twin.original.text)
        code = join_code(code, fetch_function_code(configuration, location, fetch_code))
    deployment = prepare_deployment(client, request, code.sha256)
    show(deployment)
    if request.dry_run:
        return DeployResult(deployment, code, dry_run=True)
    if deployment.plan.changed:
        completed: CompletedSteps = []
        try:
            apply_plan(deployment.plan, client, code, progress.notice, completed)
        except LambdashError as problem:
            problem.details = [*problem.details, *left_behind(completed, deployment.plan.settings, client.target)]
            raise
    route = None
    if deployment.twin is not None:
        route = check_twin_route(client, deployment.plan.settings, progress, run_probe)
    return DeployResult(deployment, code, dry_run=False, route=route)


def target_arguments(name: str, region: str, target: Target) -> str:
    """The options that pick this deployed function again: ``-f NAME --region R``, and the profile and endpoint."""
    words = ["-f", name, "--region", region]
    if target.profile:
        words += ["--profile", target.profile]
    if target.endpoint_url:
        words += ["--endpoint-url", target.endpoint_url]
    return shlex.join(words)


def left_behind(completed: CompletedSteps, settings: DeploySettings, target: Target) -> list[str]:
    """What a deploy that stopped midway made before it stopped, and how to remove it or finish."""
    created = [f"{change.resource.kind} {change.resource.name}" for change, _ in completed
               if change.action is Action.CREATE]
    changed = [f"{change.resource.kind} {change.resource.name}" for change, _ in completed
               if change.action is not Action.CREATE]
    options = target_arguments(settings.name, settings.region, target)
    if not created and not changed:
        return ["deploy stopped before it changed anything"]
    lines = []
    if created:
        # The role names its bucket only once its spill policy is in, which may not have happened.
        bucket = f" --bucket {shlex.quote(settings.bucket)}" if settings.bucket else ""
        lines.append(f"deploy stopped midway and left behind what it created: {', '.join(created)}; "
                     f"`lambdash destroy {options}{bucket}` removes it")
    if changed:
        lines.append(f"deploy stopped midway after changing {', '.join(changed)} in part")
    lines.append(f"once the cause is fixed, `lambdash deploy {options}` finishes the job")
    return lines


def prepare_deployment(client: DeployClient, request: DeployRequest, code_sha256: str) -> Deployment:
    """The plan of a deploy or of a twin. Only reads."""
    if request.twin is None:
        return Deployment(prepare_deploy(client, request.options, code_sha256))
    twin = prepare_twin(client, request.options, request.twin, code_sha256)
    return Deployment(twin.plan, twin)


def prepare_deploy(client: DeployClient, options: DeployOptions, code_sha256: str) -> Plan:
    """Validate, resolve the account and region, check the network, read what exists, and plan. Only reads."""
    validate_options(options)
    settings = resolve_settings(options, observe_identity(client), client.region)
    check_one_vpc(observe_vpcs(client, settings))
    return plan_deploy(settings, observe(client, settings), code_sha256)


def prepare_twin(
    client: DeployClient, options: DeployOptions, twin: TwinOptions, code_sha256: str, *,
    listing: Listing = zip_listing,
) -> TwinPlan:
    """Read the twin's original and its layers, then plan the twin as deploy plans. Only reads."""
    validate_options(options)
    original = observe_original(client, twin.original)
    check_skipped_layers(original, twin.skip_layers)
    listings = {layer: observe_layer(client, layer, listing) for layer in layers_to_read(original, twin.skip_layers)}
    layers = layer_checks(original, twin.skip_layers, listings)
    base = resolve_settings(options, observe_identity(client), client.region)
    runtime = choose_runtime(original.runtime, original.package_type, original.name)
    settings = twin_settings(base, original, twin, runtime, layers)
    check_one_vpc(observe_vpcs(client, settings))
    plan = plan_deploy(settings, observe(client, settings), code_sha256)
    return twin_plan(plan, original, twin, runtime, layers)


def check_twin_route(
    client: DeployClient, settings: DeploySettings, progress: Progress, run_probe: ProbeRunner
) -> RouteCheck | None:
    """For a twin in a VPC with a spill bucket: whether it reaches S3 (a warning when not, or unknown)."""
    if not needs_route_check(settings):
        return None
    progress.notice("checking the twin's route to S3 (the network probe aws:s3, run in the twin)")
    target = twin_target(client.target, settings)
    route = check_route_to_s3(lambda checks: run_probe(target, checks))
    if route.reached:
        progress.notice(route.message)
    else:
        progress.warning(route.message)
    return route


# -- status ----------------------------------------------------------------------------------------------------------

def base_settings(client: DeployClient, name: str) -> DeploySettings:
    """Deploy's defaults for this function in the client's account and region."""
    validate_name(name)
    return resolve_settings(DeployOptions(name=name), observe_identity(client), client.region)


def inspect_status(
    client: DeployClient, name: str, original: FunctionReference | None = None, *, handler_dir: Path | None = None
) -> StatusReport:
    """The function, its role and bucket, every difference from what its last deploy set, and a twin's drift."""
    code = build_zip(handler_dir)
    base = base_settings(client, name)
    function = observe_function(client, name)
    if function is None:
        create = f"lambdash deploy --like {original.text}" if original else "lambdash deploy"
        raise ConfigError(f"function {name!r} not found in {base.region}; create it with `{create}`")
    if not function.managed:
        raise ConfigError(f"function {name!r} was not deployed by lambdash (no lambdash=managed tag)")
    check_twin_of(function, original)
    settings, notes = recorded_settings(base, function)
    # A twin with its function's code has a zip of its own making: its code is compared with its function's instead.
    expected_code = function.code_sha256 if settings.code_of is not None else code.sha256
    report = plan_status(settings, notes, function, observe(client, settings), expected_code)
    if function.twin_of is None:
        return report
    twin_drift, twin_drift_error = inspect_twin_drift(client, function)
    return replace(report, twin_drift=twin_drift, twin_drift_error=twin_drift_error)


def inspect_twin_drift(client: DeployClient, twin: FunctionState) -> tuple[tuple[str, ...], str | None]:
    """For a twin, what changed in its original since it was made; or why that cannot be read."""
    if twin.twin_of is None:
        return (), None
    try:
        original = observe_original(client, twin.twin_of)
    except LambdashError as problem:
        return (), problem.message
    return tuple(drift_from_original(twin, original)), None


# -- destroy ---------------------------------------------------------------------------------------------------------

def destroy(
    client: DeployClient, name: str, original: FunctionReference | None = None, *, approve: Callable[[Plan], bool],
    progress: Progress, bucket: str | None = None,
) -> DestroyResult:
    """Read and plan, let ``approve`` see the plan (and decline it), then remove what it marks.

    ``bucket`` names the spill bucket when the role cannot (a deploy that stopped before giving it its policy).
    """
    plan = prepare_destroy(client, name, original, bucket=bucket)
    if not approve(plan):
        return DestroyResult(plan, removed=False, declined=True)
    if plan.changed:
        apply_plan(plan, client, None, progress.notice)
    return DestroyResult(plan, removed=plan.changed)


def prepare_destroy(
    client: DeployClient, name: str, original: FunctionReference | None = None, *, bucket: str | None = None
) -> Plan:
    """What destroy would remove: only what carries the lambdash=managed tag, and a bucket no one else uses.

    The bucket is ``bucket`` when given, else the one the role's policy names, else deploy's default.
    """
    settings = base_settings(client, name)
    role = observe_role(client, settings.role_name)
    function = observe_function(client, name)
    if function is not None:
        check_twin_of(function, original)
    bucket_name = bucket or bucket_of(ObservedState(role=role, bucket=None, function=function)) or settings.bucket
    observed_bucket = observe_bucket(client, bucket_name) if bucket_name else None
    users: tuple[str, ...] = ()
    if observed_bucket is not None and observed_bucket.managed:
        users = observe_bucket_users(client, observed_bucket.name, besides=name)
    settings = replace(settings, bucket=bucket_name)
    return plan_destroy(settings, ObservedState(role=role, bucket=observed_bucket, function=function), users)
