"""The executor knows every step a plan can hold. No AWS."""

from __future__ import annotations

from lambdash.deploy.executor import PlanExecutor
from lambdash.deploy.plan import Operation


def test_the_executor_has_a_method_for_every_operation_a_plan_can_hold() -> None:
    executor = PlanExecutor(client=None, settings=None, code=None)  # type: ignore[arg-type]
    assert set(executor.methods) == set(Operation)
