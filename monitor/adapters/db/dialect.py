"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(connection: Connection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's database."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def for_update_skip_locked(connection: Connection, query: Select[Any]) -> Select[Any]:
    """Row locks that other workers skip, so due work is split instead of contended.

    SQLite has no row locks; with it there is one worker and the lease columns suffice.
    """
    if connection.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
