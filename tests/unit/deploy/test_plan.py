"""A plan, as --dry-run prints it and --json gives it. No AWS."""

from __future__ import annotations

import json
from dataclasses import replace

from lambdash.deploy.planner import plan_deploy
from tests.unit.deploy.examples import SHA, as_deployed, present, settings


def test_the_plan_prints_one_aligned_line_per_resource_and_is_json() -> None:
    wanted = settings()
    observed = as_deployed(wanted)
    observed = replace(observed, function=replace(present(observed.function), memory_mb=2048))
    plan = plan_deploy(wanted, observed, SHA)
    assert plan.lines() == [
        "bucket   lambdash-123456789012-eu-west-1  no-change  up to date",
        "sessions lambdash-session                 no-change  up to date",
        "role     lambdash-shell-role              no-change  up to date",
        "function shell                            update     memory 2048 MB -> 1024 MB",
    ]
    document = json.loads(json.dumps(plan.to_dict()))
    assert document["changed"] is True
    assert document["changes"][3]["steps"] == ["update_function_configuration"]
