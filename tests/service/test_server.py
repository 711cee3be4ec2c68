"""/healthz and /metrics: the health verdict for each case, the HTTP answers (200 or 503,
stable JSON keys), the metric names (all documented), and the gauges read from a real
database at scrape time."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fixed_time import NOW
from sqlalchemy import Engine

from monitor.adapters.db import feed_store
from monitor.adapters.db.engine import make_engine
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.db.schema import Delivery, Digest
from monitor.config import parse_settings
from monitor.core.health import HealthSnapshot, HealthStatus, health_document, judge_health
from monitor.core.states import FeedState
from monitor.flows.poll import FeedReport
from monitor.service.daemon import Daemon
from monitor.service.http import HttpEndpoint, make_app
from monitor.service.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]


def snapshot(**changes: object) -> HealthSnapshot:
    values: dict[str, object] = {
        "now": NOW,
        "started_at": NOW - timedelta(hours=1),
        "database_reachable": True,
        "scheduler_running": True,
        "last_poll_at": NOW - timedelta(seconds=20),
        "dead_letters": 0,
        "outbox_pending": 0,
        "feeds_failing": 0,
        "watchlists_loaded": 2,
    }
    values.update(changes)
    return HealthSnapshot(**values)  # type: ignore[arg-type]


HEALTH = {
    "all well": ({}, HealthStatus.OK, 200),
    "failing feeds alone are normal": (
        {"feeds_failing": 3, "feeds_polled": 24},
        HealthStatus.OK,
        200,
    ),
    "every feed failing (network down)": (
        {"feeds_failing": 24, "feeds_polled": 24},
        HealthStatus.DEGRADED,
        200,
    ),
    "just started, no poll yet": (
        {"started_at": NOW - timedelta(seconds=5), "last_poll_at": None},
        HealthStatus.OK,
        200,
    ),
    "an invalid watchlist": (
        {"invalid_watchlists": {"s400": ("s400.toml: schedule: bad",)}},
        HealthStatus.DEGRADED,
        200,
    ),
    "dead letters": ({"dead_letters": 2}, HealthStatus.DEGRADED, 200),
    "no poll for too long": (
        {"last_poll_at": NOW - timedelta(minutes=30)},
        HealthStatus.DEGRADED,
        200,
    ),
    "database unreachable": (
        {"database_reachable": False, "database_error": "connection refused", "dead_letters": None},
        HealthStatus.UNHEALTHY,
        503,
    ),
    "scheduler stopped": ({"scheduler_running": False}, HealthStatus.UNHEALTHY, 503),
    "shutting down": ({"stopping": True, "scheduler_running": False}, HealthStatus.STOPPING, 503),
}


@pytest.mark.parametrize("case", HEALTH.values(), ids=HEALTH.keys())
def test_health_verdict(case: tuple[dict[str, object], HealthStatus, int]) -> None:
    changes, status, http = case
    verdict = judge_health(snapshot(**changes))
    assert verdict.status is status
    assert verdict.status.http_status == http
    assert bool(verdict.problems) == (status is not HealthStatus.OK)


def test_health_document_names_invalid_watchlists_and_ages() -> None:
    document = health_document(
        snapshot(invalid_watchlists={"s400": ("watchlists/s400.toml: threshold: bad",)})
    )
    assert document["status"] == "degraded"
    assert document["watchlists"] == {
        "loaded": 2,
        "invalid": [{"id": "s400", "errors": ["watchlists/s400.toml: threshold: bad"]}],
    }
    assert document["last_poll"] == {
        "at": "2026-11-21T11:59:40Z",
        "age_seconds": 20.0,
        "stale": False,
    }
    assert set(document) == {
        "status",
        "problems",
        "checked_at",
        "started_at",
        "database",
        "scheduler",
        "last_poll",
        "last_successful_fetch",
        "watchlists",
        "deliveries",
        "feeds",
    }


# ---- over HTTP ---------------------------------------------------------------------------------


class Probe:
    def __init__(self) -> None:
        self.current = snapshot()

    async def __call__(self) -> HealthSnapshot:
        return self.current


@pytest.fixture
async def served() -> AsyncIterator[tuple[Probe, Metrics, httpx.AsyncClient]]:
    probe, metrics = Probe(), Metrics()
    endpoint = HttpEndpoint(make_app(probe, metrics), "127.0.0.1", 0)
    await endpoint.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{endpoint.port}") as client:
            yield probe, metrics, client
    finally:
        await endpoint.stop()


async def test_healthz_answers_200_then_503(
    served: tuple[Probe, Metrics, httpx.AsyncClient],
) -> None:
    probe, _, client = served
    healthy = await client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.headers["content-type"].startswith("application/json")
    assert healthy.json()["status"] == "ok"

    probe.current = snapshot(database_reachable=False, database_error="gone")
    down = await client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["database"] == {"reachable": False, "error": "gone"}
    assert (await client.get("/nope")).status_code == 404


async def test_metrics_page(served: tuple[Probe, Metrics, httpx.AsyncClient]) -> None:
    _, metrics, client = served
    metrics.observe_feed(FeedReport("a", "fetched", status=200, new_articles=3))
    metrics.observe_delivery("local", "delivered")
    page = await client.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    assert 'monitor_feeds_polled_total{outcome="fetched"} 1.0' in page.text
    assert "monitor_articles_stored_total 3.0" in page.text
    assert 'monitor_deliveries_total{channel="local",outcome="delivered"} 1.0' in page.text


# ---- metric names ------------------------------------------------------------------------------

PROCESS_METRICS = {
    "monitor_feeds_polled_total",
    "monitor_fetch_duration_seconds",
    "monitor_articles_stored_total",
    "monitor_poll_cycles_total",
    "monitor_last_poll_timestamp_seconds",
    "monitor_deliveries_total",
    "monitor_matches_total",
    "monitor_digests_created_total",
    "monitor_articles_pruned_total",
    "monitor_job_runs_total",
    "monitor_scheduler_running",
    "monitor_watchlists_loaded",
    "monitor_watchlists_invalid",
}
DATABASE_METRICS = {
    "monitor_database_up",
    "monitor_outbox_pending",
    "monitor_deliveries_dead",
    "monitor_feeds",
    "monitor_feeds_failing",
    "monitor_last_successful_fetch_timestamp_seconds",
}


def exposed_names(text: str) -> set[str]:
    names = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    return {name for name in names if not name.endswith("_created")}


def test_metric_names(sqlite_engine: Engine) -> None:
    metrics = Metrics()
    metrics.watch_database(sqlite_engine)
    names = exposed_names(metrics.exposition().decode())
    assert names == PROCESS_METRICS | DATABASE_METRICS
    assert all(name.startswith("monitor_") for name in names)


def test_every_metric_is_documented() -> None:
    doc = (REPO / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(monitor_[a-z_]+)", doc))
    assert documented >= PROCESS_METRICS | DATABASE_METRICS
    assert documented - (PROCESS_METRICS | DATABASE_METRICS) == set()


def test_fetch_duration_is_observed_when_reports_carry_it() -> None:
    metrics = Metrics()
    metrics.observe_feed(FeedReport("a", "fetched", status=200, elapsed=0.3))
    metrics.observe_feed(FeedReport("b", "failed", error="refused"))  # no answer, no duration
    assert "monitor_fetch_duration_seconds_count 1.0" in metrics.exposition().decode()


# ---- gauges read from the database ----------------------------------------------------------


def test_database_gauges(engine: Engine) -> None:
    with engine.begin() as connection:
        feed_store.add_feeds(
            connection,
            [FeedSpec("ok", "http://x.example/1"), FeedSpec("bad", "http://x.example/2")],
            NOW,
        )
        connection.execute(
            feed_store.feeds.update()
            .where(feed_store.feeds.c.name == "bad")
            .values(state=FeedState.BACKOFF.value, consecutive_failures=3)
        )
        connection.execute(
            feed_store.feeds.update()
            .where(feed_store.feeds.c.name == "ok")
            .values(last_success_at=NOW)
        )
        digest_id = connection.execute(
            Digest.__table__.insert()
            .values(
                watchlist_id="s400",
                kind="digest",
                window_key="k",
                window_end=NOW,
                created_at=NOW,
                item_count=0,
                payload={},
            )
            .returning(Digest.__table__.c.id)
        ).scalar_one()
        for channel, status in (("mail", "pending"), ("hook", "dead"), ("files", "delivered")):
            connection.execute(
                Delivery.__table__.insert().values(
                    digest_id=digest_id,
                    channel=channel,
                    status=status,
                    attempts=1,
                    next_attempt_at=NOW,
                    idempotency_key=f"key-{channel}",
                    created_at=NOW,
                )
            )
    metrics = Metrics()
    metrics.watch_database(engine)
    text = metrics.exposition().decode()
    assert "monitor_database_up 1.0" in text
    assert "monitor_feeds_failing 1.0" in text
    assert 'monitor_feeds{state="backoff"} 1.0' in text
    assert 'monitor_outbox_pending{channel="mail"} 1.0' in text
    assert 'monitor_deliveries_dead{channel="hook"} 1.0' in text
    last = re.search(r"^monitor_last_successful_fetch_timestamp_seconds (\S+)$", text, re.M)
    assert last is not None and float(last[1]) == NOW.timestamp()


def test_an_unreachable_database_reads_as_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/db/monitor.db")
    (tmp_path / "db").rmdir()  # make_engine made the folder; without it SQLite cannot open
    metrics = Metrics()
    metrics.watch_database(engine)
    text = metrics.exposition().decode()
    assert "monitor_database_up 0.0" in text
    assert "monitor_outbox_pending" not in text  # absent rather than stale


async def test_daemon_health_with_an_unreachable_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/db/monitor.db")
    (tmp_path / "db").rmdir()
    (tmp_path / "watchlists").mkdir()
    settings = parse_settings(
        {"database": {"url": str(engine.url)}, "watchlists": {"dir": str(tmp_path / "watchlists")}},
        tmp_path / "config.toml",
    )
    daemon = Daemon(settings, engine)
    verdict = judge_health(await daemon.health())
    assert verdict.status is HealthStatus.UNHEALTHY
    assert any("database unreachable" in problem for problem in verdict.problems)
