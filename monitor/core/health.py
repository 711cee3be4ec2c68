"""What counts as healthy: a pure verdict on a snapshot the daemon gathers, and the /healthz
document. No clock, no database: the snapshot carries `now` and everything stored.

    ok         everything works                                           200
    degraded   it works, but a person should look: an invalid watchlist    200
               (the last good version is still in force), dead-lettered
               deliveries, every feed failing, or no poll tick completed
               for too long
    unhealthy  the database is unreachable or the scheduler is not running 503
    stopping   shutting down after SIGTERM/SIGINT                          503

Degraded answers 200 on purpose: a container orchestrator restarts what fails its health
check, and a restart fixes none of the degraded causes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class HealthStatus(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    STOPPING = "stopping"

    @property
    def http_status(self) -> int:
        return 200 if self in (HealthStatus.OK, HealthStatus.DEGRADED) else 503


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What the daemon knows at one moment; `judge_health` turns it into a verdict."""

    now: datetime
    started_at: datetime
    database_reachable: bool
    scheduler_running: bool
    stopping: bool = False
    database_error: str | None = None
    last_poll_at: datetime | None = None  # this process's last completed poll tick
    poll_stale_after: timedelta = timedelta(minutes=10)
    last_successful_fetch_at: datetime | None = None  # any feed, any worker
    watchlists_loaded: int = 0
    # watchlist id (file stem) -> what is wrong with its current file
    invalid_watchlists: Mapping[str, Sequence[str]] = field(default_factory=dict)
    dead_letters: int | None = None  # None when the database could not say
    outbox_pending: int | None = None
    feeds_failing: int | None = None
    feeds_polled: int | None = None  # feeds not stopped


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    status: HealthStatus
    problems: tuple[str, ...]


def poll_is_stale(snapshot: HealthSnapshot) -> bool:
    """No poll tick completed for `poll_stale_after` (counted from start-up before the first)."""
    since = snapshot.last_poll_at or snapshot.started_at
    return snapshot.now - since > snapshot.poll_stale_after


def judge_health(snapshot: HealthSnapshot) -> HealthVerdict:
    problems: list[str] = []
    if snapshot.stopping:
        return HealthVerdict(HealthStatus.STOPPING, ("shutting down",))
    if not snapshot.database_reachable:
        problems.append(f"database unreachable: {snapshot.database_error or 'no answer'}")
    if not snapshot.scheduler_running:
        problems.append("scheduler is not running")
    if problems:
        return HealthVerdict(HealthStatus.UNHEALTHY, tuple(problems))
    for watchlist in sorted(snapshot.invalid_watchlists):
        problems.append(f"watchlist {watchlist} is invalid; its last good version is in force")
    if snapshot.dead_letters:
        problems.append(
            f"{snapshot.dead_letters} dead-lettered deliveries (see `monitor deliveries list`)"
        )
    if snapshot.feeds_failing and snapshot.feeds_failing == snapshot.feeds_polled:
        # One broken feed is normal; all of them failing means the network, DNS or a proxy.
        problems.append(f"every one of the {snapshot.feeds_failing} feeds is failing")
    if poll_is_stale(snapshot):
        problems.append(f"no poll completed for more than {_seconds(snapshot.poll_stale_after)} s")
    status = HealthStatus.DEGRADED if problems else HealthStatus.OK
    return HealthVerdict(status, tuple(problems))


def health_document(snapshot: HealthSnapshot) -> dict[str, Any]:
    """The /healthz body. Keys are stable: monitoring scripts read them."""
    verdict = judge_health(snapshot)
    return {
        "status": verdict.status.value,
        "problems": list(verdict.problems),
        "checked_at": _iso(snapshot.now),
        "started_at": _iso(snapshot.started_at),
        "database": {"reachable": snapshot.database_reachable, "error": snapshot.database_error},
        "scheduler": {"running": snapshot.scheduler_running},
        "last_poll": {
            "at": _iso(snapshot.last_poll_at),
            "age_seconds": _age(snapshot.now, snapshot.last_poll_at),
            "stale": poll_is_stale(snapshot),
        },
        "last_successful_fetch": {
            "at": _iso(snapshot.last_successful_fetch_at),
            "age_seconds": _age(snapshot.now, snapshot.last_successful_fetch_at),
        },
        "watchlists": {
            "loaded": snapshot.watchlists_loaded,
            "invalid": [
                {"id": watchlist, "errors": list(errors)}
                for watchlist, errors in sorted(snapshot.invalid_watchlists.items())
            ],
        },
        "deliveries": {"dead_lettered": snapshot.dead_letters, "pending": snapshot.outbox_pending},
        "feeds": {"polled": snapshot.feeds_polled, "failing": snapshot.feeds_failing},
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())
