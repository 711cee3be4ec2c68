"""Printing for the CLI: one JSON document with ISO-8601 UTC times, or a table for people."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from monitor.errors import MonitorError


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    print(to_json(value), file=stream or sys.stdout)


def print_json_line(value: Any, stream: TextIO | None = None) -> None:
    print(to_json(value, indent=None), file=stream or sys.stdout)


def error_line(exc: MonitorError) -> str:
    """`monitor: STAGE: what happened`; the stage only when it says more than "monitor"."""
    text = str(exc).removeprefix("monitor: ")
    if exc.stage == "monitor" or text.startswith(f"{exc.stage}: "):
        return f"monitor: {text}"
    return f"monitor: {exc.stage}: {text}"


_PLURALS = {"story": "stories", "delivery": "deliveries", "entry": "entries", "match": "matches"}


def plural(count: int, word: str) -> str:
    """'1 feed', '2 feeds', '0 stories': the count with its noun agreeing."""
    return f"{count} {word if count == 1 else _PLURALS.get(word, word + 's')}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def print_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = list(rows)
    table = Table(title=title, header_style="bold", show_lines=False)
    for column in columns:
        label = _LABELS.get(column, column.replace("_", " "))
        if column.endswith("_at") or any(isinstance(row.get(column), datetime) for row in rows):
            label += " (UTC)"  # every time in a table is UTC: the header says so once
        table.add_column(label, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    out = stream or sys.stdout
    # Piped into a file or `less`, nothing tells rich the width: do not squeeze to 80.
    width = None if out.isatty() else 160
    Console(file=out, soft_wrap=False, width=width).print(table)


_LABELS = {
    "consecutive_failures": "failures",
    "last_success_at": "last success",
    "next_poll_at": "next poll",
    "published_at": "published",
    "fetched_at": "fetched",
    "last_seen_at": "last seen",
    "next_attempt_at": "next attempt",
}
