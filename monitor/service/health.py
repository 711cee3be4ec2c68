"""Gathering the daemon's health snapshot: a database probe with a time limit, plus what the
process knows of itself. The verdict is core/health.py's; serving it is service/http.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.adapters.db.status import DatabaseStatus, database_status, ping
from monitor.core.health import HealthSnapshot
from monitor.core.reload_merge import WatchlistState
from monitor.core.states import DeliveryStatus, FeedState

HEALTH_TIMEOUT = 3.0  # seconds the database probe may take before it counts as unreachable

RunBlocking = Callable[[Callable[[], DatabaseStatus]], Awaitable[DatabaseStatus]]


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the daemon knows of itself at the moment of the probe."""

    now: datetime
    started_at: datetime
    scheduler_running: bool
    stopping: bool
    last_poll_at: datetime | None
    poll_stale_after: timedelta
    watchlists: WatchlistState


def read_database_status(engine: Engine) -> DatabaseStatus:
    with engine.connect() as connection:
        ping(connection)
        return database_status(connection)


async def gather_health(
    engine: Engine, process: ProcessState, run_blocking: RunBlocking
) -> HealthSnapshot:
    """The snapshot core.health judges; any failure to query is "unreachable", with why."""
    status: DatabaseStatus | None = None
    error: str | None = None
    try:
        status = await asyncio.wait_for(
            run_blocking(lambda: read_database_status(engine)), HEALTH_TIMEOUT
        )
    except TimeoutError:
        error = f"no answer within {HEALTH_TIMEOUT:g} s"
    except Exception as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return HealthSnapshot(
        now=process.now,
        started_at=process.started_at,
        database_reachable=status is not None,
        database_error=error,
        scheduler_running=process.scheduler_running,
        stopping=process.stopping,
        last_poll_at=process.last_poll_at,
        poll_stale_after=process.poll_stale_after,
        last_successful_fetch_at=status.last_success_at if status else None,
        watchlists_loaded=len(process.watchlists.in_force),
        invalid_watchlists=process.watchlists.invalid,
        dead_letters=status.deliveries(DeliveryStatus.DEAD) if status else None,
        outbox_pending=status.deliveries(DeliveryStatus.PENDING) if status else None,
        feeds_failing=status.feeds_failing if status else None,
        feeds_polled=(
            sum(n for state, n in status.feeds_by_state.items() if state != FeedState.STOPPED)
            if status
            else None
        ),
    )
