"""Network probes from inside the sandbox, as the client shows them.

The checks run in the handler (``handler/checks/``); this renders the document
it returns: one line per check (check, verdict, time, detail), coloured only on a
terminal, with a hint under each failure, and a summary line.
"""

from __future__ import annotations

from typing import Any

from lambdash.errors import ExitStatus
from lambdash.terminal import DIM, GREEN, RED, YELLOW, Painter

COLUMNS = ("CHECK", "VERDICT", "TIME", "DETAIL")


def exit_status(document: dict[str, Any]) -> int:
    """0 when every check passed, 1 when any failed."""
    return ExitStatus.OK if all(check["ok"] for check in document["checks"]) else 1


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def render_table(document: dict[str, Any], *, color: bool) -> str:
    """The probe as aligned text: a header, a line per check, its hint under a failure, then a summary."""
    paint = Painter(color)
    checks = document["checks"]
    rows = [(check["check"], check["verdict"], format_seconds(check["seconds"]), check["detail"]) for check in checks]
    widths = [max(len(COLUMNS[column]), *(len(row[column]) for row in rows)) for column in range(3)]
    lines = [paint("  ".join(title.ljust(width) for title, width in zip(COLUMNS, [*widths, 0], strict=True))
                   .rstrip(), DIM)]
    for check, (name, verdict, elapsed, detail) in zip(checks, rows, strict=True):
        coloured = paint(verdict.ljust(widths[1]), GREEN if check["ok"] else RED)
        lines.append(f"{name.ljust(widths[0])}  {coloured}  {elapsed.rjust(widths[2])}  {detail}".rstrip())
        if not check["ok"] and check.get("hint"):
            lines.append(paint(f"  hint: {check['hint']}", YELLOW))
    failed = sum(not check["ok"] for check in checks)
    summary = (f"{len(checks)} check{'s' * (len(checks) != 1)}: {len(checks) - failed} passed, {failed} failed "
               f"({format_seconds(document['seconds'])} in the sandbox, at once)")
    lines.append(paint(summary, GREEN if not failed else RED))
    return "\n".join(lines) + "\n"
