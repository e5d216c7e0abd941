"""The REPL's bottom toolbar: where commands run, and how the last one went.

It shows the target ("local", or the function and its region), the short id of
the sandbox that answered last and whether it was cold or warm, the last exit
status and round-trip time, the carried cwd, and the background tunnels with
the connections they carry. A problem that must not
interrupt typing (a failed completion listing) is shown at its end.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_toolkit.formatted_text import StyleAndTextTuples

from lambdash.repl.shell_state import SandboxSeen

SHORT_ID_CHARACTERS = 8
_SEPARATOR = ("class:bottom-toolbar.dim", " │ ")


@dataclass(frozen=True)
class LastCommand:
    """How the last remote command ended: lambdash's status (None when lambdash failed) and its time."""

    status: int | None
    seconds: float
    interrupted: bool = False


def toolbar_fragments(target_label: str, sandbox: SandboxSeen | None, last: LastCommand | None,
                      cwd: str | None, problem: str | None = None,
                      tunnels: tuple[int, int] | None = None) -> StyleAndTextTuples:
    """The toolbar's text, as prompt_toolkit styled fragments; ``tunnels``: (running, connections open)."""
    fragments: StyleAndTextTuples = [("class:bottom-toolbar.target", f" {target_label}")]
    fragments.append(_SEPARATOR)
    if sandbox is None:
        fragments.append(("class:bottom-toolbar.dim", "no sandbox yet"))
    else:
        fragments.append(("", f"sandbox {sandbox.id[:SHORT_ID_CHARACTERS]} "))
        fragments.append(("class:bottom-toolbar.cold", "cold") if sandbox.cold
                         else ("class:bottom-toolbar.warm", "warm"))
    if last is not None:
        fragments.append(_SEPARATOR)
        if last.interrupted:
            fragments.append(("class:bottom-toolbar.failed", "interrupted"))
        elif last.status is None:
            fragments.append(("class:bottom-toolbar.failed", "failed"))
        else:
            style = "class:bottom-toolbar.ok" if last.status == 0 else "class:bottom-toolbar.failed"
            fragments.append((style, f"exit {last.status}"))
        fragments.append(("", f" in {format_duration(last.seconds)}"))
    fragments.append(_SEPARATOR)
    fragments.append(("", cwd) if cwd is not None else ("class:bottom-toolbar.dim", "default cwd"))
    if tunnels is not None:
        running, connections = tunnels
        fragments.append(_SEPARATOR)
        fragments.append(("class:bottom-toolbar.tunnels",
                          f"{running} tunnel{'' if running == 1 else 's'}, {connections} open"))
    if problem:
        fragments.append(_SEPARATOR)
        fragments.append(("class:bottom-toolbar.problem", problem))
    return fragments


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
