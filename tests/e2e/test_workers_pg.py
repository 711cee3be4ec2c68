"""Several workers on one PostgreSQL database, as real processes against loopback feeds:
three `monitor poll --once` started together fetch each of 40 feeds exactly once and store no
article twice; two processes building the same digest create one; a worker killed mid-poll
leaves nothing locked for longer than its lease.

Needs MONITOR_TEST_DATABASE_URL (each run gets a fresh database from the `postgres_url`
fixture); skipped without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from entries import real_news_feeds as corpus_feeds
from loopback import FeedServer, Route
from sqlalchemy import Engine, func, select, text

from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.schema import Article, Digest, Feed, Match, metadata
from monitor.adapters.feed_parse import parse_feed

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FEEDS = 40
articles = Article.__table__
feeds = Feed.__table__


def real_news_feeds(corpus: Path) -> list[Path]:
    """The 1 MB outlet feed left out: parsing it forty times is slow and proves nothing more."""
    return corpus_feeds(corpus, max_bytes=300_000)


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MONITOR_DATABASE_URL", None)
    return env


def monitor(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--config", str(config), *args]


@pytest.fixture
def database(postgres_url: str) -> Iterator[Engine]:
    """The test session's PostgreSQL database, migrated and emptied (workers migrating an
    empty database together is its own test below)."""
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    yield engine
    engine.dispose()


def write_config(
    path: Path, url: str, routes: list[tuple[str, str]], polling: str = "", watchlists: str = ""
) -> Path:
    lines = [
        f'[database]\nurl = "{url}"\n',
        f"[polling]\nparse_processes = 1\n{polling}\n",
        '[server]\nlisten = ""\n',
        f'[watchlists]\ndir = "{watchlists or path.parent / "watchlists"}"\n',
        f'[channels.local]\ntype = "file"\npath = "{path.parent / "digests"}"\n',
    ]
    lines += [f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in routes]
    path.write_text("\n".join(lines), encoding="utf-8")
    (path.parent / "watchlists").mkdir(exist_ok=True)
    return path


def test_three_pollers_fetch_each_feed_once_and_store_nothing_twice(
    corpus: Path, tmp_path: Path, database: Engine, postgres_url: str
) -> None:
    outlets = real_news_feeds(corpus)
    with FeedServer(latency=0.05) as server:
        routes = []
        expected = 0
        for index in range(FEEDS):
            body = outlets[index % len(outlets)].read_bytes()
            url = server.add(f"/feed-{index:02d}.xml", Route(body, etag=f'"v{index}"'))
            routes.append((f"feed-{index:02d}", url))
            parsed = parse_feed(body, url=url, headers={}, fetched_at=datetime.now(UTC))
            expected += len({entry.identity_key for entry in parsed.entries})
        config = write_config(tmp_path / "config.toml", postgres_url, routes)

        workers = [
            subprocess.Popen(
                monitor(config, "poll", "--once", "--format", "json"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environment(),
            )
            for _ in range(3)
        ]
        results = [worker.communicate(timeout=120) for worker in workers]

    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    summaries = [json.loads(out) for out, _ in results]
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
from monitor.flows.delivery import create_digest

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
    tmp_path: Path, database: Engine, postgres_url: str
) -> None:
    config = write_config(tmp_path / "config.toml", postgres_url, [])
    (tmp_path / "watchlists" / "desk.toml").write_text(WATCHLIST, encoding="utf-8")
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    with database.begin() as connection:
        feed_id = connection.execute(
            feeds.insert()
            .values(
                name="f",
                url="http://127.0.0.1/f",
                configured_url="http://127.0.0.1/f",
                created_at=now,
            )
            .returning(feeds.c.id)
        ).scalar_one()
        for n in range(3):
            article_id = connection.execute(
                articles.insert()
                .values(
                    feed_id=feed_id,
                    identity_key=f"k{n}",
                    title=f"Ukraine {n}",
                    text="t",
                    published_at=now,
                    fetched_at=now,
                    updated_at=now,
                    content_hash=f"h{n}",
                )
                .returning(articles.c.id)
            ).scalar_one()
            connection.execute(
                Match.__table__.insert().values(
                    watchlist_id="desk",
                    article_id=article_id,
                    score=2.0,
                    explanation={},
                    matched_at=now - timedelta(minutes=1),
                )
            )

    start_at = time.time() + 4
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_DIGEST, str(config), now.isoformat(), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        for _ in range(2)
    ]
    results = [builder.communicate(timeout=60) for builder in builders]
    for builder, (_, err) in zip(builders, results, strict=True):
        assert builder.returncode == 0, err
    outcomes = [json.loads(out) for out, _ in results]
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
        routes = [
            (f"quick-{n}", server.add(f"/quick-{n}.xml", Route(quick, etag=f'"q{n}"')))
            for n in range(3)
        ]
        routes.append(("hangs", server.add("/hangs.xml", Route(behaviour="hang"))))
        config = write_config(
            tmp_path / "config.toml",
            postgres_url,
            routes,
            polling=f'timeout = "2s"\nlease = "{lease:g}s"',
        )
        log = (tmp_path / "worker.log").open("w", encoding="utf-8")
        worker = subprocess.Popen(
            monitor(config, "run"), stdout=log, stderr=subprocess.STDOUT, env=environment()
        )
        try:
            deadline = time.monotonic() + 30
            while server.hits["/hangs.xml"] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.hits["/hangs.xml"] == 1, "the worker never fetched the hanging feed"
            time.sleep(0.3)  # mid-poll: the hanging fetch, maybe parses, are in flight
            killed_at = datetime.now(UTC)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            log.close()
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
        with database.connect() as connection:
            connection.execute(text("SET lock_timeout = '2s'"))
            locked = connection.execute(select(feeds.c.id).with_for_update(nowait=True)).all()
            assert len(locked) == len(routes)
            connection.rollback()

        # Once the lease has passed, the next worker takes the feed over.
        expiry = max(row.lease_expires_at for row in held)
        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.2)
        after = subprocess.run(
            monitor(config, "poll", "--once", "--format", "json"),
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
            check=False,
        )
        assert after.returncode == 0, after.stderr
        taken_over = {f["name"] for f in json.loads(after.stdout)["feeds"]}
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
        config = write_config(tmp_path / "config.toml", url, [])
        workers = [
            subprocess.Popen(
                monitor(config, "db", "upgrade"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environment(),
            )
            for _ in range(3)
        ]
        results = [worker.communicate(timeout=60) for worker in workers]
        assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in results]
        outputs = sorted(out for out, _ in results)
        assert sum("upgraded from an empty database" in out for out in outputs) == 1, outputs
        assert sum("already at revision" in out for out in outputs) == 2, outputs
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)'))
        admin.dispose()
