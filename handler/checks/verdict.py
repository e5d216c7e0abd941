"""How a check ends: its report (a verdict, a detail, a hint and facts), and what it has to go on.

Every check runs against one deadline and records the phase it is in, so a check
still running when the probe's time is up is reported by where it got to.
"""

from __future__ import annotations

import time
from typing import Any

from ..contract.checks import Check


class Progress:
    """Where a check has got to, so one still running at its deadline is reported by its phase."""

    def __init__(self) -> None:
        self.phase = "starting"


class Failure(Exception):
    """A network step that failed, as a verdict and a hint."""

    def __init__(self, verdict: str, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.verdict, self.detail, self.hint = verdict, detail, hint


def report(check: Check, ok: bool, verdict: str, seconds: float | None, detail: str, hint: str | None = None,
           **facts: Any) -> dict[str, Any]:
    """The check's entry in the probe document: ``facts`` are what it found (see probe.schema.json)."""
    return {
        "check": check.text, "kind": check.kind, "ok": ok, "verdict": verdict,
        "seconds": None if seconds is None else round(seconds, 4), "detail": detail,
        "hint": None if ok else hint, "facts": facts,
    }


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline``, never zero: a socket timeout of 0 would make it non-blocking."""
    return max(0.001, deadline - time.monotonic())
