"""Reading, rendering and diffing runtime inventories on the client side.

An inventory is the JSON that ``handler/inventory/`` collects inside a sandbox: a
schema tag and one object per section (os, cpu, runtimes, environment...). This
module turns one inventory into a report for a terminal or a ticket, and two
inventories into a list of changes, so that runtimes can be compared with each other.
It never talks to AWS; it only works on the JSON.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lambdash.paths import open_private, state_dir
from lambdash.terminal import BOLD, CYAN, GREEN, RED, YELLOW, Painter

# These must match handler/inventory/, which the client does not import (it imports only
# the handler's contract); a unit test checks that they agree.
INVENTORY_SCHEMA = "lambdash.inventory"
INVENTORY_SCHEMA_VERSION = 1
DIFF_SCHEMA = "lambdash.inventory-diff"
DIFF_SCHEMA_VERSION = 1

# (section, field) pairs that differ between any two sandboxes of the same function,
# or between two calls in one sandbox, and so hide the differences people look for.
# A field is a dotted key as the diff shows it; "*" stands for the whole section, and
# a field also covers every key below it.
VOLATILE_FIELD_REASONS: dict[tuple[str, str], str] = {
    ("sandbox", "*"): "each sandbox has its own id, start, uptime, invocation count and cold flag",
    ("tmp", "free_bytes"): "free space on /tmp moves with every file a command writes",
    ("identity", "request_id"): "every STS call gets a new request id",
    ("lambda", "log_stream_name"): "the log stream is named after the sandbox instance",
    ("environment", "variables.AWS_LAMBDA_LOG_STREAM_NAME"): "named after the sandbox instance",
    ("environment", "variables._X_AMZN_TRACE_ID"): "X-Ray sets a new trace id per invocation",
    ("environment", "variables.AWS_ACCESS_KEY_ID"): "each sandbox gets temporary credentials",
    ("environment", "variables.AWS_SECRET_ACCESS_KEY"): "each sandbox gets temporary credentials",
    ("environment", "variables.AWS_SESSION_TOKEN"): "each sandbox gets temporary credentials",
    # The local sandbox (lambdash/local) gives each sandbox its own Runtime API port,
    # marker and temp dir, so two sandboxes of one local function would always differ.
    ("environment", "variables.AWS_LAMBDA_RUNTIME_API"): "the local sandbox gives each sandbox its own port",
    ("environment", "variables.LAMBDASH_LOCAL_SANDBOX"): "the local sandbox marks each sandbox's processes",
    ("environment", "variables.TMPDIR"): "the local sandbox gives each sandbox its own temp dir",
    ("network", "hostname"): "each sandbox gets its own host name",
    ("network", "ipv4_addresses"): "each sandbox gets its own addresses",
    ("network", "ipv6_addresses"): "each sandbox gets its own addresses",
}
VOLATILE_FIELDS: frozenset[tuple[str, str]] = frozenset(VOLATILE_FIELD_REASONS)
# The local Lambda's embedded S3 (and STS) listens on a random loopback port each time it
# starts, and hands it to its sandboxes in AWS_ENDPOINT_URL*: two local runs would always
# differ there. Such a value is compared without its port; any other difference still shows.
LOOPBACK_ENDPOINT_VARIABLES = "variables.AWS_ENDPOINT_URL"
_LOOPBACK_ENDPOINT = re.compile(r"^(https?://(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])):\d+(/.*)?$", re.DOTALL)

ChangeKind = Literal["added", "removed", "changed"]
# Within one key, removals come before additions, as in a unified diff.
_KIND_ORDER: dict[str, int] = {"removed": 0, "added": 1, "changed": 2}
_DIFF_MARKS: dict[str, str] = {"removed": "-", "added": "+", "changed": "~"}

# Report lines wrap long lists at this width; a report is read in a terminal or
# pasted into a ticket, so it does not follow the terminal's actual width.
REPORT_WIDTH = 100
INDENT = "  "
NULL_TEXT = "-"



@dataclass(frozen=True)
class Change:
    """One difference between two inventories.

    ``key`` is the dotted path inside the section. For a list (packages on PATH,
    nameservers...) each item that appears or disappears is its own change, with
    the item as ``new`` or ``old``.
    """

    section: str
    key: str
    kind: ChangeKind
    old: Any
    new: Any


# --- loading -------------------------------------------------------------------------


def load_inventory_file(path: str) -> dict[str, Any]:
    """Read an inventory saved as JSON.

    Raises ValueError with a one-line message naming the file when it cannot be read,
    is not JSON, is not a lambdash inventory, or has a schema version this client
    does not know.
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not a lambdash inventory: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, dict) or document.get("schema") != INVENTORY_SCHEMA:
        raise ValueError(
            f'{path}: not a lambdash inventory: expected "schema": "{INVENTORY_SCHEMA}" '
            "(make one with: lambdash inventory --json)"
        )
    version = document.get("schema_version")
    if version != INVENTORY_SCHEMA_VERSION:
        raise ValueError(
            f"{path}: inventory schema_version {json.dumps(version)} is not supported; "
            f"this lambdash reads version {INVENTORY_SCHEMA_VERSION}"
        )
    sections = document.get("sections")
    if not isinstance(sections, dict) or not all(isinstance(section, dict) for section in sections.values()):
        raise ValueError(f'{path}: not a lambdash inventory: "sections" must map names to objects')
    return document


# --- reports -------------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldTable:
    """Key/value rows: a section's own fields, or those of a nested object."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _RecordTable:
    """One row per record and one column per field, as for runtimes or mounts."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


_Block = _FieldTable | _RecordTable


def render_text(inventory: Mapping[str, Any], *, color: bool) -> str:
    """A report for the terminal: a heading per section, then aligned tables.

    Lists are written on one line, wrapped under their column. ANSI colour is used
    only when ``color`` is true.
    """
    paint = Painter(color)
    parts: list[str] = []
    for section_name, fields in _sections(inventory).items():
        lines = [paint(section_name, BOLD + CYAN)]
        blocks = _blocks(fields)
        if not blocks:
            lines.append(INDENT + "(nothing recorded)")
        for block in blocks:
            indent = INDENT
            if block.title:
                lines.append(INDENT + paint(block.title, BOLD))
                indent = INDENT * 2
            if isinstance(block, _FieldTable):
                lines.extend(_text_field_rows(block, indent, paint))
            else:
                lines.extend(_text_record_rows(block, indent, paint))
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_markdown(inventory: Mapping[str, Any]) -> str:
    """A Markdown report for tickets: a heading and a table per section."""
    lines = ["# lambdash inventory"]
    for section_name, fields in _sections(inventory).items():
        lines += ["", f"## {section_name}"]
        blocks = _blocks(fields)
        if not blocks:
            lines += ["", "_nothing recorded_"]
        for block in blocks:
            if block.title:
                lines += ["", f"### {section_name}.{block.title}"]
            if isinstance(block, _FieldTable):
                header: tuple[str, ...] = ("field", "value")
                rows: Sequence[tuple[str, ...]] = block.rows
            else:
                header, rows = block.columns, block.rows
            lines.append("")
            lines.append(_markdown_row(header))
            lines.append(_markdown_row(tuple("---" for _ in header)))
            lines.extend(_markdown_row(row) for row in rows)
    return "\n".join(lines) + "\n"


def _sections(inventory: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    sections = inventory.get("sections")
    return sections if isinstance(sections, Mapping) else {}


def _blocks(fields: Mapping[str, Any], title: str = "") -> list[_Block]:
    """Lay out one object: its plain fields first, then a table per nested object."""
    records = _record_table(title, fields)
    if records is not None:
        return [records]
    rows: list[tuple[str, str]] = []
    nested: list[_Block] = []
    for key, value in fields.items():
        nested_title = f"{title}.{key}" if title else str(key)
        if isinstance(value, Mapping) and value:
            nested.extend(_blocks(value, nested_title))
        elif _is_record_list(value):
            nested.append(_record_table_from_list(nested_title, value))
        else:
            rows.append((str(key), format_value(str(key), value)))
    field_tables: list[_Block] = [_FieldTable(title, tuple(rows))] if rows else []
    return field_tables + nested


def _is_flat_record(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and not any(isinstance(item, Mapping) for item in value.values())


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_flat_record(item) for item in value)


def _record_table(title: str, fields: Mapping[str, Any]) -> _RecordTable | None:
    """A table with a row per key, when every value is a flat record (runtimes, limits)."""
    if not fields or not all(_is_flat_record(value) for value in fields.values()):
        return None
    columns = _union_of_keys(fields.values())
    rows = tuple(
        (str(name), *(format_value(column, record.get(column)) for column in columns))
        for name, record in fields.items()
    )
    return _RecordTable(title, ("name", *columns), rows)


def _record_table_from_list(title: str, records: list[Mapping[str, Any]]) -> _RecordTable:
    columns = _union_of_keys(records)
    rows = tuple(tuple(format_value(column, record.get(column)) for column in columns) for record in records)
    return _RecordTable(title, columns, rows)


def _union_of_keys(records: Any) -> tuple[str, ...]:
    # dict.fromkeys keeps the first-seen order, so columns follow the probe's order.
    return tuple(dict.fromkeys(str(key) for record in records for key in record))


def format_value(key: str, value: Any) -> str:
    """One value as report text: sizes made readable, lists joined, nulls as "-"."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and key.endswith("_bytes"):
        return f"{value} ({_human_size(value)})"
    if isinstance(value, list | Mapping) and not value:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(item if isinstance(item, str) else json.dumps(item, sort_keys=True) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _human_size(size: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    amount = float(size)
    unit_index = 0
    while abs(amount) >= 1024 and unit_index < len(units) - 1:
        amount /= 1024
        unit_index += 1
    return f"{size} B" if unit_index == 0 else f"{amount:.1f} {units[unit_index]}"


def _text_field_rows(block: _FieldTable, indent: str, paint: Painter) -> list[str]:
    key_width = max(len(key) for key, _ in block.rows)
    value_width = max(REPORT_WIDTH - len(indent) - key_width - 2, 30)
    continuation = indent + " " * (key_width + 2)
    lines = []
    for key, value in block.rows:
        wrapped = textwrap.wrap(value, value_width, break_long_words=False, break_on_hyphens=False) or [""]
        style = RED if key == "error" else ""
        lines.append(f"{indent}{key.ljust(key_width)}  {paint(wrapped[0], style)}".rstrip())
        lines.extend(continuation + paint(line, style) for line in wrapped[1:])
    return lines


def _text_record_rows(block: _RecordTable, indent: str, paint: Painter) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(block.columns, *block.rows, strict=True)]

    def line(cells: tuple[str, ...], style: str) -> str:
        padded = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return indent + paint(padded.rstrip(), style)

    return [line(block.columns, BOLD)] + [line(row, "") for row in block.rows]


def _markdown_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |"


def _markdown_cell(text: str) -> str:
    # Backslash-escape what would end the cell, start a code span or read as an HTML
    # tag (a redacted value, "<redacted>", would otherwise vanish when rendered).
    escaped = "".join("\\" + char if char in "\\`|<>" else char for char in text)
    return escaped.replace("\n", "<br>")


# --- the user's redaction key ---------------------------------------------------------

REDACTION_KEY_FILE = "redaction-key"


def redaction_key(directory: Path | None = None) -> str | None:
    """The user's own random key for the HMAC of redacted values (hex), made and kept (0600) on first use.

    None when the state dir cannot be written: values are then redacted without the HMAC.
    A kept key that is a link or not the user's own is refused (UnsafeStateFile).
    """
    path = (directory or state_dir()) / REDACTION_KEY_FILE
    try:
        with os.fdopen(open_private(path, os.O_RDONLY)) as file:
            return file.read().strip()
    except FileNotFoundError:
        pass
    except OSError:
        return None
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:  # another lambdash made it meanwhile
        with os.fdopen(open_private(path, os.O_RDONLY)) as file:
            return file.read().strip()
    except OSError:
        return None
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


# --- diffs ---------------------------------------------------------------------------


def diff_inventories(a: Mapping[str, Any], b: Mapping[str, Any], *, include_volatile: bool = False) -> list[Change]:
    """What changed from inventory ``a`` to inventory ``b``, sorted by section and key.

    Nested objects are compared by dotted key (``python3.version``). Lists are
    compared as sets, so each item added or removed is one change and a new order is
    no change. Fields in VOLATILE_FIELDS are skipped unless ``include_volatile``.
    """
    sections_a, sections_b = _sections(a), _sections(b)
    if not include_volatile:
        sections_a, sections_b = _own_tmpdir_named(sections_a), _own_tmpdir_named(sections_b)
    changes: list[Change] = []
    for section in sorted(set(sections_a) | set(sections_b)):
        flat_a = _flatten(sections_a.get(section, {}))
        flat_b = _flatten(sections_b.get(section, {}))
        for key in set(flat_a) | set(flat_b):
            if not include_volatile and (is_volatile(section, key)
                                         or _same_but_a_loopback_port(section, key, flat_a, flat_b)):
                continue
            changes.extend(_compare_field(section, key, flat_a, flat_b))
    changes.sort(key=_change_order)
    return changes


def _own_tmpdir_named(sections: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """The sections with the mount of the sandbox's own temp dir shown as ``$TMPDIR``.

    The local sandbox mounts a private temp dir at a path of each sandbox's own
    (see TMPDIR in VOLATILE_FIELD_REASONS); named so, two sandboxes' mounts compare.
    """
    tmpdir = sections.get("environment", {}).get("variables", {}).get("TMPDIR")
    mounts = sections.get("mounts", {})
    entries = mounts.get("entries")
    if not tmpdir or not isinstance(entries, list):
        return sections
    named = [{**entry, "mountpoint": "$TMPDIR"} if isinstance(entry, Mapping) and entry.get("mountpoint") == tmpdir
             else entry for entry in entries]
    return {**sections, "mounts": {**mounts, "entries": named}}


def _same_but_a_loopback_port(section: str, key: str, flat_a: Mapping[str, Any], flat_b: Mapping[str, Any]) -> bool:
    """Whether an AWS_ENDPOINT_URL* variable differs only in the port of a loopback endpoint."""
    if section != "environment" or not key.startswith(LOOPBACK_ENDPOINT_VARIABLES):
        return False
    old, new = flat_a.get(key), flat_b.get(key)
    if not isinstance(old, str) or not isinstance(new, str) or old == new:
        return False
    return bool(_LOOPBACK_ENDPOINT.match(old) and _LOOPBACK_ENDPOINT.match(new)
                and _LOOPBACK_ENDPOINT.sub(r"\1\2", old) == _LOOPBACK_ENDPOINT.sub(r"\1\2", new))


def is_volatile(section: str, key: str) -> bool:
    """Whether a dotted key of a section is one of VOLATILE_FIELDS (or lies below one)."""
    for volatile_section, field in VOLATILE_FIELDS:
        if volatile_section != section:
            continue
        if field == "*" or key == field or key.startswith(field + "."):
            return True
    return False


def _flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as one level of dotted keys; an empty object has no keys."""
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


_MISSING = object()


def _compare_field(section: str, key: str, flat_a: Mapping[str, Any], flat_b: Mapping[str, Any]) -> list[Change]:
    old = flat_a.get(key, _MISSING)
    new = flat_b.get(key, _MISSING)
    if isinstance(old, list) or isinstance(new, list):
        # A list that is absent on one side compares as an empty one.
        return _compare_lists(
            section,
            key,
            old if isinstance(old, list) else ([] if old is _MISSING else [old]),
            new if isinstance(new, list) else ([] if new is _MISSING else [new]),
        )
    if old is _MISSING:
        return [Change(section, key, "added", None, new)]
    if new is _MISSING:
        return [Change(section, key, "removed", old, None)]
    if _canonical(old) != _canonical(new):
        return [Change(section, key, "changed", old, new)]
    return []


def _compare_lists(section: str, key: str, old: list[Any], new: list[Any]) -> list[Change]:
    # Items may be objects (mount entries), so they are matched by their JSON text.
    old_items = {_canonical(item): item for item in old}
    new_items = {_canonical(item): item for item in new}
    removed = [Change(section, key, "removed", item, None) for text, item in old_items.items() if text not in new_items]
    added = [Change(section, key, "added", None, item) for text, item in new_items.items() if text not in old_items]
    return removed + added


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _change_order(change: Change) -> tuple[str, str, int, str]:
    value = change.new if change.kind == "added" else change.old
    return (change.section, change.key, _KIND_ORDER[change.kind], _canonical(value))


def render_diff(changes: Sequence[Change], *, color: bool, label_a: str, label_b: str) -> str:
    """The changes as diff-like text: a ``@@ section @@`` line, then -/+/~ lines."""
    paint = Painter(color)
    colors = {"removed": RED, "added": GREEN, "changed": YELLOW}
    lines = [paint(f"--- {label_a}", BOLD), paint(f"+++ {label_b}", BOLD)]
    by_section: dict[str, list[Change]] = {}
    for change in changes:
        by_section.setdefault(change.section, []).append(change)
    for section, section_changes in by_section.items():
        lines.append(paint(f"@@ {section} @@", CYAN))
        for change in section_changes:
            if change.kind == "changed":
                shown = f"{format_diff_value(change.old)} -> {format_diff_value(change.new)}"
            elif change.kind == "added":
                shown = format_diff_value(change.new)
            else:
                shown = format_diff_value(change.old)
            line = f"{_DIFF_MARKS[change.kind]} {change.key}: {shown}"
            lines.append(paint(line, colors[change.kind]))
    lines.append(_summary_line(changes))
    return "\n".join(lines) + "\n"


def format_diff_value(value: Any) -> str:
    """A value in a diff line: plain text for strings, JSON for everything else."""
    if isinstance(value, str) and value and "\n" not in value:
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _summary_line(changes: Sequence[Change]) -> str:
    if not changes:
        return "no differences"
    counts = _count_kinds(changes)
    noun = "change" if len(changes) == 1 else "changes"
    return f"{len(changes)} {noun}: {counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"


def _count_kinds(changes: Sequence[Change]) -> dict[str, int]:
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change.kind] += 1
    return counts


def diff_to_json(changes: Sequence[Change]) -> dict[str, Any]:
    """The changes as a JSON-ready document for ``--json``."""
    return {
        "schema": DIFF_SCHEMA,
        "schema_version": DIFF_SCHEMA_VERSION,
        "summary": _count_kinds(changes),
        "changes": [asdict(change) for change in changes],
    }
