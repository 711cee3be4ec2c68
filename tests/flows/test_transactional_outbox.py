"""The transactional outbox and the drain at the end of every poll cycle, in process: a
match above `alert_threshold` is stored with its alert and the alert's outbox rows in the
feed's one transaction (all or nothing), and `run_poll_cycle` sends everything due in
bounded batches, each row at most once per run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import Rows, delivery_rows, digest_rows, match_rows, settings_for, watchlist
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine

from monitor.adapters.channels import Outgoing
from monitor.adapters.db import digest_store
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.db.transactions import write_transaction
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.app import matching_for
from monitor.core.digest import DigestContent
from monitor.core.states import DigestKind
from monitor.errors import DeliveryError
from monitor.flows.outbox import Outbox
from monitor.flows.poll import Poller, run_poll_cycle

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FEED = "https://wire.example/feed"


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><guid>{t}</guid><title>{t}</title><description>{d}</description></item>"
        for t, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


class Recorder:
    """A sender that records what it was handed; fails while `failing` is set."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[Outgoing] = []
        self.failing = False
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, message: Outgoing) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.failing:
                raise DeliveryError("channel down")
            self.sent.append(message)
        finally:
            self.in_flight -= 1


def strong_watchlist() -> Any:
    return watchlist(channels=("hook",), alert_threshold=5.0, max_alerts_per_hour=100)


def poller(engine: Engine, client: httpx.AsyncClient, settings: Any) -> Poller:
    wl = strong_watchlist()
    return Poller(
        engine=engine,
        fetcher=Fetcher(client, FetchLimits(timeout=5)),
        feeds=[FeedSpec("wire", FEED)],
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=lambda: NOW,
        match_articles=matching_for(settings, engine, lambda: [wl]),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return settings_for(tmp_path, {"hook": {"type": "webhook", "url": "https://hook.example/x"}})


async def test_a_strong_match_is_stored_with_its_alert_and_outbox_rows(
    engine: Engine, settings: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=FEED, content=rss(("S-400 deal signed", "Turkey and the S-400 and CAATSA"))
    )
    recorder = Recorder()
    recorder.failing = True  # the send fails: the alert must still exist, pending
    async with httpx.AsyncClient() as client:
        p = poller(engine, client, settings)
        outbox = Outbox(engine, settings, senders={"hook": recorder}, clock=lambda: NOW)
        try:
            summary = await run_poll_cycle(p, outbox)
        finally:
            p.close()
    assert summary.matches == 1
    [match] = match_rows(engine).values()
    [alert] = digest_rows(engine)
    assert alert.kind == "alert" and match.alert_digest_id == alert.id
    [row] = delivery_rows(engine)
    assert row.status == "pending" and row.digest_id == alert.id
    assert [a.status.value for a in summary.alerts] == ["pending"]

    # The next run (a cron `poll --once` with nothing new) sends it, once.
    recorder.failing = False
    later = Outbox(
        engine, settings, senders={"hook": recorder}, clock=lambda: NOW + timedelta(hours=1)
    )
    await later.drain()
    await later.drain()
    assert [m.digest_id for m in recorder.sent] == [alert.id]
    assert delivery_rows(engine)[0].status == "delivered"


def test_the_match_and_its_alert_commit_together_or_not_at_all(
    engine: Engine, settings: Any, tmp_path: Path
) -> None:
    """A crash inside the feed's transaction, after the match and its alert were written:
    neither is left behind, so the next poll stores both again (not the match alone)."""
    rows = Rows(engine, NOW)
    article = rows.article("wire", title="S-400 deal signed")
    from monitor.adapters.db.match_store import NewMatch, record_matches
    from monitor.core.scoring import Score
    from monitor.flows.digests import alerts_in_transaction

    wl = strong_watchlist()

    class Boom(Exception):
        pass

    score = Score(
        watchlist_id=wl.id,
        score=9.0,
        threshold=4.0,
        alert_threshold=5.0,
        matched=True,
        alert=True,
        vetoed_by=None,
        missing=(),
        terms=(),
        near=(),
    )
    with pytest.raises(Boom), write_transaction(engine) as connection:
        record_matches(connection, [NewMatch(wl.id, article, None, score, NOW)])
        created = alerts_in_transaction(
            connection, wl, channels=["hook"], article_ids=[article], now=NOW
        )
        assert len(created) == 1
        raise Boom
    assert match_rows(engine) == {} and digest_rows(engine) == []
    assert delivery_rows(engine) == []

    with write_transaction(engine) as connection:
        record_matches(connection, [NewMatch(wl.id, article, None, score, NOW)])
        alerts_in_transaction(connection, wl, channels=["hook"], article_ids=[article], now=NOW)
        # Asked again in the same transaction (a retried feed): no second alert.
        assert (
            alerts_in_transaction(connection, wl, channels=["hook"], article_ids=[article], now=NOW)
            == []
        )
    [match] = match_rows(engine).values()
    assert match.alert_digest_id is not None
    assert len(delivery_rows(engine)) == 1


async def test_poll_once_drains_everything_due_in_bounded_batches(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """250 due rows, more than one batch (the old limit was 100 per run, for ever): one
    drain sends them all, never more than `concurrency` at once, each once."""
    settings = settings_for(
        tmp_path,
        {"hook": {"type": "webhook", "url": "https://hook.example/x"}},
        concurrency=8,
        per_channel=8,
    )
    with write_transaction(sqlite_engine) as connection:
        for n in range(250):
            content = DigestContent(
                kind=DigestKind.ALERT,
                watchlist_id="s400",
                watchlist_name="S-400",
                generated_at=NOW,
                window_start=None,
                window_end=NOW,
                items=(),
                total=0,
            )
            digest_store.insert_digest(
                connection, content, window_key=f"k{n}", channels=["hook"], send=True, now=NOW
            )
    recorder = Recorder(delay=0.001)
    outbox = Outbox(sqlite_engine, settings, senders={"hook": recorder}, clock=lambda: NOW)
    outcomes = await outbox.drain()
    assert len(outcomes) == 250 == len({m.delivery_id for m in recorder.sent})
    assert recorder.most_in_flight <= 8
    assert {r.status for r in delivery_rows(sqlite_engine)} == {"delivered"}


async def test_a_failing_row_is_tried_once_per_drain(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"hook": {"type": "webhook", "url": "https://h.example/"}})
    with write_transaction(sqlite_engine) as connection:
        content = DigestContent(
            kind=DigestKind.DIGEST,
            watchlist_id="s400",
            watchlist_name="S-400",
            generated_at=NOW,
            window_start=None,
            window_end=NOW,
            items=(),
            total=0,
        )
        digest_store.insert_digest(
            connection, content, window_key="w", channels=["hook"], send=True, now=NOW
        )
    recorder = Recorder()
    recorder.failing = True
    clock = iter(NOW + timedelta(seconds=s) for s in range(0, 10_000, 30))
    outbox = Outbox(
        sqlite_engine,
        settings,
        senders={"hook": recorder},
        clock=lambda: next(clock),
        jitter=lambda: 0.0,
    )
    outcomes = await outbox.drain()
    assert [o.attempts for o in outcomes] == [1]


async def test_a_poll_tick_does_not_wait_behind_a_running_drain(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, {"hook": {"type": "webhook", "url": "https://h.example/"}})
    with write_transaction(sqlite_engine) as connection:
        content = DigestContent(
            kind=DigestKind.DIGEST,
            watchlist_id="s400",
            watchlist_name="S-400",
            generated_at=NOW,
            window_start=None,
            window_end=NOW,
            items=(),
            total=0,
        )
        digest_store.insert_digest(
            connection, content, window_key="w", channels=["hook"], send=True, now=NOW
        )
    slow = Recorder(delay=0.5)
    outbox = Outbox(sqlite_engine, settings, senders={"hook": slow}, clock=lambda: NOW)
    running = asyncio.create_task(outbox.drain())
    await asyncio.sleep(0.2)
    assert await outbox.drain(if_idle=True) == []  # at once, not after the slow send
    assert len(await running) == 1
