"""Printing for the CLI: one JSON document with ISO-8601 UTC times, or a table for people."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


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

    table = Table(title=title, header_style="bold", show_lines=False)
    for column in columns:
        table.add_column(_LABELS.get(column, column.replace("_", " ")), overflow="fold")
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
    "next_attempt_at": "next attempt",
}
