"""After a twin is deployed in a VPC: can it reach S3, where big output is spilled?

A function in a VPC reaches S3 only through a NAT gateway or a VPC endpoint for S3.
Without one, output too big to return inline cannot be spilled, and is cut. The
check runs the network probe ``aws:s3`` through the twin itself, by a callable the
caller passes (deploy does not open shells: that is the run path's job). The deploy
has succeeded by then, so anything that goes wrong with the check is a warning,
never a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lambdash.config import Target
from lambdash.deploy.settings import DeploySettings
from lambdash.errors import LambdashError

S3_CHECK = "aws:s3"

# Runs the network probe's checks in the deployed function, and gives its ``lambdash.probe`` document.
Probe = Callable[[list[str]], Any]
# The same on any target: how the caller runs a probe (deploy opens no shells of its own).
ProbeRunner = Callable[[Target, list[str]], Any]


@dataclass(frozen=True)
class RouteCheck:
    """The verdict on the twin's route to S3; ``reached`` is None when it could not be checked."""

    reached: bool | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": S3_CHECK, "checked": self.reached is not None, "ok": self.reached, "message": self.message}


def needs_route_check(settings: DeploySettings) -> bool:
    """Only a function in a VPC may lack a route to S3, and only one with a spill bucket needs it."""
    return bool(settings.subnet_ids) and settings.bucket is not None


def twin_target(deployment: Target, settings: DeploySettings) -> Target:
    """The deployed function as a target to run on, where deploy put it."""
    return replace(deployment, function=settings.name, region=settings.region, bucket=settings.bucket, local=False)


def check_route_to_s3(probe: Probe) -> RouteCheck:
    """Probe ``aws:s3`` from inside the function; any failure to do so becomes the verdict's message."""
    try:
        return route_verdict(probe([S3_CHECK]))
    except LambdashError as problem:
        return RouteCheck(None, f"could not check the twin's route to S3: {problem.message}")
    except Exception as problem:
        # A deploy that has succeeded is never failed by its check, whatever goes wrong there.
        text = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        return RouteCheck(None, f"could not check the twin's route to S3: {text}")


def route_verdict(document: Any) -> RouteCheck:
    """The ``aws:s3`` result of a ``lambdash.probe`` document, as a verdict for people."""
    probe = document if isinstance(document, dict) and document.get("schema") == "lambdash.probe" else {}
    checks = probe.get("checks")
    found = [check for check in checks if isinstance(check, dict) and check.get("check") == S3_CHECK] \
        if isinstance(checks, list) else []
    if not found:
        return RouteCheck(None, "could not check the twin's route to S3: the probe gave no aws:s3 result")
    check = found[0]
    verdict = str(check.get("verdict") or ("ok" if check.get("ok") else "failed"))
    if check.get("ok"):
        return RouteCheck(True, f"the twin reaches S3 ({verdict})")
    detail = f": {check['detail']}" if check.get("detail") else ""
    hint = f"; {check['hint']}" if check.get("hint") else ""
    return RouteCheck(False, f"the twin has no route to S3 ({verdict}{detail}): output too big to return inline "
                             f"will be cut, not spilled{hint}")
