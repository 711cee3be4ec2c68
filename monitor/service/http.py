"""The HTTP endpoint of `monitor run`: /healthz (JSON) and /metrics (Prometheus text).

Built on aiohttp.web: the fetcher's transport already depends on aiohttp, so the endpoint adds
no dependency, and it gets a real HTTP/1.1 parser, keep-alive and a clean shutdown for free
(a hand-rolled asyncio server would have to get all of that right itself).

What counts as healthy is decided here, by `judge_health`, from a snapshot the daemon
gathers; this module never touches the database or the scheduler itself.

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

import asyncio
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)


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


HealthProbe = Callable[[], Awaitable[HealthSnapshot]]
RunBlocking = Callable[[Callable[[], bytes]], Awaitable[bytes]]


async def _default_executor(function: Callable[[], bytes]) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, function)


def make_app(
    probe: HealthProbe, metrics: Metrics, *, run_blocking: RunBlocking | None = None
) -> web.Application:
    """The endpoint's routes. `run_blocking` runs the scrape (which may query the database)
    off the event loop; the default is the loop's default executor."""
    in_thread = run_blocking or _default_executor

    async def healthz(_request: web.Request) -> web.Response:
        snapshot = await probe()
        document = health_document(snapshot)
        status = HealthStatus(document["status"]).http_status
        return web.Response(
            text=json.dumps(document, indent=2) + "\n",
            status=status,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        body = await in_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


class HttpEndpoint:
    """The running server: `await endpoint.start()`, `endpoint.port`, `await endpoint.stop()`."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        # A scrape stuck on the database must not hold up shutdown: 1 s, not aiohttp's 60.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        self._host = host
        self._port = port
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self._port
        log.info("serving /healthz and /metrics on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
