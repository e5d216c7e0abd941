"""``lambdash inventory``: take an inventory of the sandbox, render it, or diff two inventories.

One invocation per target collects everything the handler's probes see. The
report goes to the terminal (aligned tables, colour on a terminal), as JSON for
scripts and for ``--diff``, or as Markdown for tickets. ``--diff A B`` compares two
inventories, each a saved ``--json`` file or a live target, and exits like diff(1).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdash.commands.options import add_common_options, add_target_options, targets_of
from lambdash.config import Target
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.terminal import BOLD, RESET, Terminal

# --json with several targets: the inventories keyed by target label.
INVENTORY_SET_SCHEMA = "lambdash.inventory-set"
INVENTORY_SET_SCHEMA_VERSION = 1
LIVE_FUNCTION_PREFIX = "fn:"
LOCAL_SOURCE = "local"

EPILOG = """\
With several targets (-f and --region may repeat; the targets are their cross
product) the inventories are taken at the same time. The text report then gives
each one under a `==> TARGET <==` line, and --json prints
{"schema": "lambdash.inventory-set", "schema_version": 1, "inventories": {TARGET: ...},
"errors": {TARGET: MESSAGE}}; with one target --json prints the inventory itself,
which is what --diff reads.

--diff A B: each of A and B is a file written by `lambdash inventory --json`,
fn:NAME or fn:NAME@REGION for a live function (--profile and --endpoint-url apply),
or `local` for the local sandbox (write ./local for a file of that name).

exit status: 0 when the inventory was taken; with --diff, 0 when A and B are the
same, 1 when they differ (as diff(1)); 255 when lambdash failed (for any target).

examples:
  lambdash inventory                         report on the terminal
  lambdash inventory --json -o before.json   save it for a later diff
  lambdash inventory --markdown | pbcopy     for a ticket
  lambdash inventory --diff before.json fn:lambdash@eu-west-1
  lambdash inventory --diff local fn:lambdash --json
  lambdash inventory -f shell --region eu-west-1 --region us-east-1 --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--markdown", action="store_true",
                        help="print Markdown, for pasting into tickets")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the report (or the diff) to FILE instead of stdout")
    parser.add_argument("--no-redact", action="store_true",
                        help="show secret environment values (redacted by default); -o then makes FILE mode 0600")
    parser.add_argument("--diff", nargs=2, metavar=("A", "B"),
                        help="compare two inventories: each a --json file, fn:NAME[@REGION], or local")
    parser.add_argument("--include-volatile", "--all", dest="include_volatile", action="store_true",
                        help="with --diff, also compare the fields that differ between any two sandboxes "
                        "(sandbox id, uptime, free space, request ids...)")
    add_target_options(parser, many=True, suppress=True)
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Take the inventories (or the diff), write them out, and return the exit status."""
    if args.json and args.markdown:
        raise UsageError("choose one of --json and --markdown")
    if args.diff:
        return execute_diff(args, terminal)
    if args.include_volatile:
        raise UsageError("--include-volatile only applies to --diff")
    from lambdash.reports.inventory import redaction_key
    from lambdash.shell.targets import open_shells, run_on_targets

    targets = targets_of(args, terminal)
    redact = not args.no_redact
    with open_shells(targets) as shells:
        key = redaction_key()
        outcomes = run_on_targets(targets, lambda target: shells[target].inventory(redact=redact, redact_key=key))
    if len(outcomes) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error
    taken = [(outcome.target, outcome.value) for outcome in outcomes if outcome.value is not None]
    failed = [(outcome.target, outcome.error) for outcome in outcomes if outcome.error is not None]
    for target, problem in failed:
        terminal.error(f"{target.label}: {problem.message}")
    if not taken:
        return ExitStatus.ERROR
    color = terminal.color and not args.output
    if args.json:
        text = _inventories_json(taken, failed)
    elif args.markdown:
        text = "\n".join(_markdown(target, inventory) for target, inventory in taken)
    else:
        text = _text_reports(taken, color=color, several=len(targets) > 1)
    what = "inventory" if len(taken) == 1 else "inventories"
    _deliver(text, args.output, terminal, private=not redact,
             described=f"the {what} of {', '.join(target.label for target, _ in taken)}")
    return ExitStatus.ERROR if failed else ExitStatus.OK


def _inventories_json(taken: Sequence[tuple[Target, Any]], failed: Sequence[tuple[Target, LambdashError]]) -> str:
    document: Any
    if len(taken) == 1 and not failed:
        document = taken[0][1]
    else:
        document = {
            "schema": INVENTORY_SET_SCHEMA,
            "schema_version": INVENTORY_SET_SCHEMA_VERSION,
            "inventories": {target.label: inventory for target, inventory in taken},
            "errors": {target.label: problem.message for target, problem in failed},
        }
    # Not sorted: the sections keep the probes' order, which is also the report's.
    return json.dumps(document, indent=2) + "\n"


def _markdown(target: Target, inventory: dict[str, Any]) -> str:
    from lambdash.reports.inventory import render_markdown

    # render_markdown's first line is its "# lambdash inventory" heading; name the target in it.
    _, body = render_markdown(inventory).split("\n", 1)
    return f"# lambdash inventory: {target.label}\n{body}"


def _text_reports(taken: Sequence[tuple[Target, Any]], *, color: bool, several: bool) -> str:
    from lambdash.reports.inventory import render_text

    reports = []
    for target, inventory in taken:
        report = render_text(inventory, color=color)
        if several:
            # As head(1) and tail(1) mark each file when given several.
            heading = f"==> {target.label} <=="
            report = (f"{BOLD}{heading}{RESET}" if color else heading) + "\n" + report
        reports.append(report)
    return "\n".join(reports)


# --- --diff ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InventorySource:
    """One side of a diff: a saved file, or a live target, as the command line wrote it."""

    spec: str
    path: str | None = None
    target: Target | None = None


def parse_source(spec: str, args: argparse.Namespace) -> InventorySource:
    """``local``, ``fn:NAME[@REGION]``, or else the path of a file written by ``--json``."""
    from lambdash.config import TargetOptions, resolve_target

    if spec == LOCAL_SOURCE:
        target, _ = resolve_target(TargetOptions(local=True, bucket=args.bucket))
        return InventorySource(spec, target=target)
    if spec.startswith(LIVE_FUNCTION_PREFIX):
        function, _, region = spec.removeprefix(LIVE_FUNCTION_PREFIX).partition("@")
        if not function or (region == "" and spec.endswith("@")):
            raise UsageError(f"{spec!r} names no function (write fn:NAME or fn:NAME@REGION)")
        target, _ = resolve_target(TargetOptions(
            function=function, region=region or None, profile=args.profile, endpoint_url=args.endpoint_url,
            bucket=args.bucket,
        ))
        return InventorySource(spec, target=target)
    return InventorySource(spec, path=spec)


def execute_diff(args: argparse.Namespace, terminal: Terminal) -> int:
    """Diff A against B; 0 when they are the same, 1 when they differ."""
    from lambdash.reports.inventory import diff_inventories, diff_to_json, render_diff

    if args.markdown:
        raise UsageError("--diff prints text or --json, not --markdown")
    if args.function or args.region or args.local:
        raise UsageError("with --diff the targets are A and B (fn:NAME[@REGION] or local), not -f, --region or --local")
    sources = [parse_source(spec, args) for spec in args.diff]
    first, second = load_sources(sources, redact=not args.no_redact)
    changes = diff_inventories(first, second, include_volatile=args.include_volatile)
    if args.json:
        document = {**diff_to_json(changes), "a": sources[0].spec, "b": sources[1].spec}
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    else:
        color = terminal.color and not args.output
        text = render_diff(changes, color=color, label_a=sources[0].spec, label_b=sources[1].spec)
    _deliver(text, args.output, terminal, private=args.no_redact, described="the diff")
    return ExitStatus.NO if changes else ExitStatus.OK


def load_sources(sources: Sequence[InventorySource], *, redact: bool) -> list[dict[str, Any]]:
    """Each source's inventory: files read first (a bad file fails fast), then live targets at once.

    Two live sources on the same target (``local local``) share one shell, and so one local Lambda.
    """
    from lambdash.concurrency import map_concurrently
    from lambdash.reports.inventory import load_inventory_file, redaction_key
    from lambdash.shell.targets import open_shells

    inventories: dict[int, dict[str, Any]] = {}
    for index, source in enumerate(sources):
        if source.path is not None:
            try:
                inventories[index] = load_inventory_file(source.path)
            except ValueError as problem:
                raise LambdashError(str(problem)) from None
    live = [(index, source.target) for index, source in enumerate(sources) if source.target is not None]
    with open_shells(list(dict.fromkeys(target for _, target in live))) as shells:
        key = redaction_key()
        taken = map_concurrently(lambda pair: shells[pair[1]].inventory(redact=redact, redact_key=key), live,
                                 concurrency=2)
    for (index, _), inventory in zip(live, taken, strict=True):
        inventories[index] = inventory
    return [inventories[index] for index in range(len(sources))]


# --- output ---------------------------------------------------------------------------


def _deliver(text: str, path: str | None, terminal: Terminal, *, private: bool, described: str) -> None:
    """Write to stdout, or to ``path`` (mode 0644; 0600 when it holds unredacted secrets) and say so."""
    data = text.encode("utf-8")
    if path is None:
        terminal.stdout.write(data)
        terminal.stdout.flush()
        return
    mode = 0o600 if private else 0o644
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as file:
            if private:
                os.fchmod(file.fileno(), mode)  # an existing file keeps its mode unless told otherwise
            file.write(data)
    except OSError as problem:
        raise LambdashError(f"cannot write {path}: {problem.strerror or problem}") from None
    terminal.message(f"lambdash: wrote {described} to {path} ({len(data)} bytes)")
