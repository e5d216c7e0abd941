"""The twin's route to S3: the verdict on the probe's answer, and the probe it is given. No AWS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lambdash.deploy.reachability import check_route_to_s3, needs_route_check, route_verdict
from lambdash.errors import TransportError
from tests.unit.deploy.examples import make_twin, original


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
