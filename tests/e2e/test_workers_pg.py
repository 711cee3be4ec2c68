"""Several workers on one PostgreSQL database, as real processes against loopback feeds:
three `monitor poll --once` started together fetch each of 40 feeds exactly once and store no
article twice; two processes building the same digest create one; a worker killed mid-poll
leaves nothing locked for longer than its lease.

Needs MONITOR_TEST_DATABASE_URL (each run gets a fresh database from the `postgres_url`
fixture); skipped without it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from delivery_fixtures import Rows
from entries import real_news_feeds as corpus_feeds
from harness import (
    json_documents,
    monitor_command,
    monitor_json,
    run_together,
    running,
    serve_feed,
    stored_by_first_poll,
    wait_for,
    write_config,
)
from loopback import FeedServer, Route
from sqlalchemy import Engine, func, select, text

from monitor.adapters.db.engine import make_engine
from monitor.adapters.db.schema import Article, Digest, Feed, Match

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FEEDS = 40
articles = Article.__table__
feeds = Feed.__table__


def real_news_feeds(corpus: Path) -> list[Path]:
    """The 1 MB outlet feed left out: parsing it forty times is slow and proves nothing more."""
    return corpus_feeds(corpus, max_bytes=300_000)


@pytest.fixture
def database(postgres_engine: Engine) -> Engine:
    """The test session's PostgreSQL database, migrated and emptied (workers migrating an
    empty database together is its own test below)."""
    return postgres_engine


def worker_config(path: Path, url: str, routes: list[tuple[str, str]], polling: str = "") -> Path:
    """What every worker reads: the shared database, no HTTP server, digests as files."""
    return write_config(
        path,
        f'[database]\nurl = "{url}"\n',
        f"[polling]\nparse_processes = 1\n{polling}\n",
        '[server]\nlisten = ""\n',
        f'[watchlists]\ndir = "{path.parent / "watchlists"}"\n',
        f'[channels.local]\ntype = "file"\npath = "{path.parent / "digests"}"\n',
        feeds=routes,
    )


def test_three_pollers_fetch_each_feed_once_and_store_nothing_twice(
    corpus: Path, tmp_path: Path, database: Engine, postgres_url: str
) -> None:
    outlets = real_news_feeds(corpus)
    with FeedServer(latency=0.05) as server:
        routes = []
        expected = 0
        for index in range(FEEDS):
            body = outlets[index % len(outlets)].read_bytes()
            routes.append(serve_feed(server, f"feed-{index:02d}", body))
            expected += stored_by_first_poll(body, routes[-1][1])
        config = worker_config(tmp_path / "config.toml", postgres_url, routes)
        poll = monitor_command(config, "poll", "--once", "--format", "json")
        summaries = json_documents(run_together([poll] * 3, timeout=120))

    assert sum(s["feeds_polled"] for s in summaries) == FEEDS  # split, not repeated
    assert {path: count for path, count in server.hits.items()} == {
        f"/feed-{index:02d}.xml": 1 for index in range(FEEDS)
    }
    with database.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(articles)).scalar_one()
        distinct = connection.execute(
            select(func.count()).select_from(
                select(articles.c.feed_id, articles.c.identity_key).distinct().subquery()
            )
        ).scalar_one()
        leased = connection.execute(
            select(func.count()).where(feeds.c.lease_owner.is_not(None))
        ).scalar_one()
    assert stored == distinct == expected
    assert sum(s["new_articles"] for s in summaries) == expected
    assert leased == 0


BUILD_DIGEST = """
import json, sys, time
from datetime import datetime
from monitor.adapters.files.watchlists import load_watchlists
from monitor.app import open_database
from monitor.config import load_settings
from monitor.flows.digests import create_digest

settings = load_settings(sys.argv[1])
engine = open_database(settings, migrate=False)
[watchlist] = load_watchlists(settings.watchlist_dir).watchlists
window_end = datetime.fromisoformat(sys.argv[2])
with engine.connect():  # connected before the start line, so both start together
    pass
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
created = create_digest(engine, settings, watchlist, now=window_end, window_end=window_end)
print(json.dumps({"created": created.created, "digest_id": created.digest_id}))
"""

WATCHLIST = """name = "Desk"
threshold = 1.0
schedule = "* * * * *"
channels = ["local"]

[[terms]]
match = "Ukraine"
"""


def test_two_processes_building_the_same_digest_create_one(
    tmp_path: Path, database: Engine, postgres_url: str, now: datetime
) -> None:
    config = worker_config(tmp_path / "config.toml", postgres_url, [])
    (tmp_path / "watchlists" / "desk.toml").write_text(WATCHLIST, encoding="utf-8")
    rows = Rows(database, now)
    for n in range(3):
        rows.match(
            "desk", "f", score=2.0, title=f"Ukraine {n}", matched_at=now - timedelta(minutes=1)
        )

    start_at = time.time() + 4
    build = [sys.executable, "-c", BUILD_DIGEST, str(config), now.isoformat(), str(start_at)]
    outcomes = json_documents(run_together([build] * 2, timeout=60))
    assert sorted(o["created"] for o in outcomes) == [False, True]
    assert len({o["digest_id"] for o in outcomes}) == 1
    with database.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(Digest.__table__)).scalar_one() == 1
        )
        assigned = connection.execute(
            select(func.count()).where(Match.__table__.c.digest_id == outcomes[0]["digest_id"])
        ).scalar_one()
    assert assigned == 3


def test_a_killed_worker_leaves_nothing_locked_beyond_its_lease(
    corpus: Path, tmp_path: Path, database: Engine, postgres_url: str
) -> None:
    lease = 3.0
    with FeedServer() as server:
        quick = real_news_feeds(corpus)[0].read_bytes()
        routes = [serve_feed(server, f"quick-{n}", quick) for n in range(3)]
        routes.append(("hangs", server.add("/hangs.xml", Route(behaviour="hang"))))
        config = worker_config(
            tmp_path / "config.toml",
            postgres_url,
            routes,
            polling=f'timeout = "2s"\nlease = "{lease:g}s"',
        )
        with running(monitor_command(config, "run"), tmp_path / "worker.log") as worker:
            wait_for(lambda: server.hits["/hangs.xml"], 30, "the hanging feed's fetch", every=0.05)
            assert server.hits["/hangs.xml"] == 1, "the worker fetched the hanging feed again"
            time.sleep(0.3)  # mid-poll: the hanging fetch, maybe parses, are in flight
            killed_at = datetime.now(UTC)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        with database.connect() as connection:
            held = connection.execute(
                select(feeds.c.name, feeds.c.lease_expires_at).where(
                    feeds.c.lease_owner.is_not(None)
                )
            ).all()
        # The dead worker still holds what it was polling, but only until its lease ends.
        assert "hangs" in {row.name for row in held}
        assert all(row.lease_expires_at <= killed_at + timedelta(seconds=lease) for row in held)
        # No row stays locked by the dead connection: another worker can lock every feed now.
        # Not NOWAIT: PostgreSQL ends the killed worker's backend, and its locks, when it reads
        # the closed socket, a moment after the kill on a loaded machine; a lock still held
        # after 2 s is a real leak.
        with database.connect() as connection:
            connection.execute(text("SET lock_timeout = '2s'"))
            locked = connection.execute(select(feeds.c.id).with_for_update()).all()
            assert len(locked) == len(routes)
            connection.rollback()

        # Once the lease has passed, the next worker takes the feed over.
        expiry = max(row.lease_expires_at for row in held)
        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.2)
        after = monitor_json(config, "poll", "--once", "--format", "json", timeout=60)
        taken_over = {f["name"] for f in after["feeds"]}
        assert taken_over == {row.name for row in held}
        assert server.hits["/hangs.xml"] == 2
    with database.connect() as connection:
        assert (
            connection.execute(
                select(func.count()).where(feeds.c.lease_owner.is_not(None))
            ).scalar_one()
            == 0
        )


def test_workers_starting_together_on_an_empty_database_migrate_it_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """No separate migration step needed: the first worker migrates, the others wait."""
    from sqlalchemy.engine import make_url

    empty = f"monitor_empty_{os.getpid()}"
    admin = make_engine(postgres_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{empty}"'))
    url = make_url(postgres_url).set(database=empty).render_as_string(hide_password=False)
    try:
        config = worker_config(tmp_path / "config.toml", url, [])
        results = run_together([monitor_command(config, "db", "upgrade")] * 3, timeout=60)
        assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
        outputs = sorted(r.stdout for r in results)
        assert sum("upgraded from an empty database" in out for out in outputs) == 1, outputs
        assert sum("already at revision" in out for out in outputs) == 2, outputs
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)'))
        admin.dispose()
