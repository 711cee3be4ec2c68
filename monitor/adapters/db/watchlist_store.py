"""Watchlist versions in the database: the version of each watchlist last put in force, with
its definition, and when its backfill ran. Takes a Connection and never commits; what a
version is, is core.watchlist.versions' business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from monitor.adapters.db.dialect import insert_ignoring_conflicts
from monitor.adapters.db.schema import watchlist_versions


@dataclass(frozen=True, slots=True)
class RecordedVersion:
    watchlist_id: str
    version: str
    definition: dict[str, Any]
    recorded_at: datetime
    backfilled_at: datetime | None


def recorded_versions(connection: Connection) -> dict[str, RecordedVersion]:
    return {
        row.watchlist_id: RecordedVersion(
            row.watchlist_id, row.version, row.definition, row.recorded_at, row.backfilled_at
        )
        for row in connection.execute(select(watchlist_versions))
    }


def recorded_version(connection: Connection, watchlist_id: str) -> RecordedVersion | None:
    row = connection.execute(
        select(watchlist_versions).where(watchlist_versions.c.watchlist_id == watchlist_id)
    ).one_or_none()
    if row is None:
        return None
    return RecordedVersion(
        row.watchlist_id, row.version, row.definition, row.recorded_at, row.backfilled_at
    )


def record_version(
    connection: Connection,
    watchlist_id: str,
    *,
    version: str,
    definition: dict[str, Any],
    now: datetime,
    backfilled_at: datetime | None,
) -> None:
    """Insert or replace the watchlist's recorded version."""
    values = {
        "version": version,
        "definition": definition,
        "recorded_at": now,
        "backfilled_at": backfilled_at,
    }
    connection.execute(
        insert_ignoring_conflicts(connection, watchlist_versions),
        [{"watchlist_id": watchlist_id, **values}],
    )
    connection.execute(
        update(watchlist_versions)
        .where(watchlist_versions.c.watchlist_id == watchlist_id)
        .values(**values)
    )
