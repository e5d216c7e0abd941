"""``lambdash destroy``: remove the function, its role and its bucket, if lambdash made them.

Only resources tagged lambdash=managed are removed; the bucket also stays while
another function spills to it. It asks first on a terminal, and refuses without
``--yes`` when there is no terminal to ask. Running it twice is safe.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from lambdash.commands.deployment_options import (
    add_deployment_options,
    add_twin_of_option,
    deployment_client,
    original_reference,
)
from lambdash.commands.options import add_common_options
from lambdash.errors import ExitStatus, UsageError
from lambdash.terminal import Terminal

if TYPE_CHECKING:
    from lambdash.deploy.plan import Plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Remove the function, then its role (policies detached and deleted first), then its\n"
        "spill bucket (emptied first, every version), each only if it carries the\n"
        "lambdash=managed tag. A bucket another function still spills to is kept.\n"
        "Asks for confirmation on a terminal unless --yes; refuses without a terminal and --yes.\n"
        "A twin (`lambdash deploy --like FUNCTION`) goes the same way; FUNCTION is never touched."
    )
    add_deployment_options(parser)
    add_twin_of_option(parser, "remove")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="do not ask for confirmation (needed without a terminal)")
    parser.add_argument("--bucket", default=argparse.SUPPRESS, metavar="NAME",
                        help="the spill bucket to remove when the role does not name it (a deploy that stopped "
                             "midway; default: the one the role names, else lambdash-ACCOUNT-REGION)")
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.deploy.deployer import destroy

    client = deployment_client(args, terminal)
    result = destroy(client, client.target.function, original_reference(args), bucket=getattr(args, "bucket", None),
                     approve=lambda plan: approve(plan, args, terminal), progress=terminal)
    if result.declined:
        terminal.message("nothing removed")
        return ExitStatus.NO
    if args.json:
        terminal.write_json({**result.plan.to_dict(), "removed": result.removed})
    else:
        terminal.write_lines(["removed" if result.removed else "nothing to remove"])
    return 0


def approve(plan: Plan, args: argparse.Namespace, terminal: Terminal) -> bool:
    """Show the plan; when it removes anything, ask on a terminal unless --yes (and refuse without one)."""
    if not args.json:
        terminal.write_lines([plan.header, *("  " + line for line in plan.lines())])
    if not plan.changed or args.yes:
        return True
    if not terminal.stdin_isatty:
        raise UsageError("destroy needs confirmation: pass --yes (stdin is not a terminal to ask on)")
    terminal.stderr.write(b"remove the resources marked delete above? [y/N] ")
    terminal.stderr.flush()
    answer = terminal.stdin.readline().decode("utf-8", "replace").strip().lower()
    return answer in ("y", "yes")
