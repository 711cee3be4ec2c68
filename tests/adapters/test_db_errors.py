"""The database edge: what each SQLAlchemy failure becomes (table-driven), the engine's
connect and migrate errors, and a poll cycle on real databases where one feed's transaction
fails (only that feed fails) or the database fills up (the cycle stops with one message, and
the next one catches up). The injected failures are the databases' own: SQLite and PostgreSQL
triggers that refuse one feed's articles, SQLite's max_page_count for a full database, and
for the command line a real full file system (a small tmpfs, when this runs as root).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy.exc as sa
from fixed_time import NOW
from harness import run_monitor, write_config
from loopback import FeedServer, Route
from pytest_httpx import HTTPXMock
from sqlalchemy import Engine, event, select, text

from monitor.adapters.db import feed_store
from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.errors import database_errors, map_database_error
from monitor.adapters.db.feed_store import FeedSpec
from monitor.adapters.db.schema import Feed
from monitor.adapters.http import Fetcher, FetchLimits
from monitor.errors import (
    DatabaseError,
    DatabaseKind,
    DatabaseUnavailable,
    TransactionFailed,
)
from monitor.flows.poll import Poller

STATEMENT = "INSERT INTO articles (feed_id, title, text) VALUES (?, ?, ?)"
PARAMETERS = (7, "Ankara weighs the S-400 second batch", "the whole article text " * 50)

try:
    import psycopg.errors as pg
except ImportError:  # PostgreSQL support is an extra
    pg = None  # type: ignore[assignment]


def driver(orig: BaseException, cls: type[sa.DBAPIError] = sa.OperationalError) -> Exception:
    """`orig` wrapped the way SQLAlchemy wraps what the driver raised during a statement."""
    return cls(STATEMENT, PARAMETERS, orig)


Case = tuple[BaseException, type[DatabaseError], DatabaseKind, str]

CASES: dict[str, Case] = {
    # name: (exception, class, kind, words of the advice)
    "sqlite-full": (
        driver(sqlite3.OperationalError("database or disk is full")),
        DatabaseUnavailable,
        DatabaseKind.FULL,
        "is full (database or disk is full); free some space, then poll again",
    ),
    "sqlite-full-bare": (
        sqlite3.OperationalError("database or disk is full"),
        DatabaseUnavailable,
        DatabaseKind.FULL,
        "free some space",
    ),
    "sqlite-io": (
        driver(sqlite3.OperationalError("disk I/O error")),
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        "disk I/O error on the database",
    ),
    "sqlite-cannot-open": (
        driver(sqlite3.OperationalError("unable to open database file")),
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        "check that its folder exists and is writable",
    ),
    "sqlite-readonly": (
        driver(sqlite3.OperationalError("attempt to write a readonly database")),
        DatabaseUnavailable,
        DatabaseKind.READONLY,
        "cannot be written",
    ),
    "sqlite-corrupt": (
        driver(sqlite3.DatabaseError("database disk image is malformed"), sa.DatabaseError),
        DatabaseUnavailable,
        DatabaseKind.CORRUPT,
        "restore it from a backup",
    ),
    "sqlite-no-table": (
        driver(sqlite3.OperationalError("no such table: articles")),
        DatabaseUnavailable,
        DatabaseKind.SCHEMA,
        "run `monitor db upgrade`",
    ),
    "sqlite-locked": (
        driver(sqlite3.OperationalError("database is locked")),
        TransactionFailed,
        DatabaseKind.LOCKED,
        "is another monitor process, or a backup, writing to it?",
    ),
    "sqlite-unique": (
        driver(
            sqlite3.IntegrityError("UNIQUE constraint failed: articles.identity_key"),
            sa.IntegrityError,
        ),
        TransactionFailed,
        DatabaseKind.INTEGRITY,
        "breaks a constraint",
    ),
    "sqlite-other": (
        driver(sqlite3.OperationalError("user-defined function raised exception")),
        TransactionFailed,
        DatabaseKind.FAILED,
        "the database reported: user-defined function raised exception",
    ),
    "disconnect": (
        sa.DBAPIError(
            STATEMENT, PARAMETERS, Exception("EOF detected"), connection_invalidated=True
        ),
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        "cannot reach the database",
    ),
    "pool-exhausted": (
        sa.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
        TransactionFailed,
        DatabaseKind.LOCKED,
        "no free connection",
    ),
    "refused-value": (
        driver(Exception("value too long for type character varying(200)"), sa.DataError),
        TransactionFailed,
        DatabaseKind.INVALID,
        "refused a value or statement",
    ),
    "unbindable": (
        sa.StatementError("(TypeError) not a datetime", STATEMENT, PARAMETERS, TypeError("x")),
        TransactionFailed,
        DatabaseKind.INVALID,
        "a value could not be sent",
    ),
    "sqlalchemy-bug": (
        sa.ResourceClosedError("This result object does not return rows."),
        TransactionFailed,
        DatabaseKind.FAILED,
        "this is a bug in monitor",
    ),
    "no-driver": (
        sa.NoSuchModuleError("Can't load plugin: sqlalchemy.dialects:postgresql.nope"),
        DatabaseError,
        DatabaseKind.CONFIG,
        "install monitor[postgres]",
    ),
}

if pg is not None:
    CASES |= {
        "pg-refused": (
            driver(
                pg.OperationalError(
                    'connection failed: connection to server at "127.0.0.1", port 1 failed: '
                    "Connection refused\n\tIs the server running on that host?"
                )
            ),
            DatabaseUnavailable,
            DatabaseKind.UNAVAILABLE,
            "cannot reach the database",
        ),
        "pg-shutdown": (
            driver(pg.AdminShutdown("terminating connection due to administrator command")),
            DatabaseUnavailable,
            DatabaseKind.UNAVAILABLE,
            "check that the server is running",
        ),
        "pg-disk-full": (
            driver(pg.DiskFull('could not extend file "base/1/2": No space left on device')),
            DatabaseUnavailable,
            DatabaseKind.FULL,
            "free some space",
        ),
        "pg-standby": (
            driver(
                pg.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
                sa.InternalError,
            ),
            DatabaseUnavailable,
            DatabaseKind.READONLY,
            "read-only standby",
        ),
        "pg-undefined-table": (
            driver(pg.UndefinedTable('relation "articles" does not exist'), sa.ProgrammingError),
            DatabaseUnavailable,
            DatabaseKind.SCHEMA,
            "run `monitor db upgrade`",
        ),
        "pg-lock": (
            driver(pg.LockNotAvailable('could not obtain lock on relation "feeds"')),
            TransactionFailed,
            DatabaseKind.LOCKED,
            "stayed locked",
        ),
        "pg-check": (
            driver(pg.CheckViolation("new row violates check constraint"), sa.IntegrityError),
            TransactionFailed,
            DatabaseKind.INTEGRITY,
            "breaks a constraint",
        ),
    }


@pytest.mark.parametrize("name", CASES)
def test_each_failure_becomes_the_error_that_says_what_to_do(name: str) -> None:
    exc, cls, kind, advice = CASES[name]
    with pytest.raises(DatabaseError) as raised, database_errors(what="storing articles", feed="b"):
        raise exc
    error = raised.value
    assert type(error) is cls and error.kind == kind and error.feed == "b"
    assert error.__cause__ is exc
    message = str(error)
    assert message.startswith("storing articles of feed b: ") and advice in message, message
    # One line, and none of the SQL or its parameters (an article's whole text).
    assert "\n" not in message and STATEMENT not in message and "whole article" not in message


def test_a_long_driver_message_is_cut() -> None:
    error = map_database_error(driver(sqlite3.OperationalError("x" * 5000)))
    assert len(str(error)) < 400


# --- connect and migrate ---------------------------------------------------------------------


def test_an_unreachable_server_fails_the_migration_in_one_sentence() -> None:
    pytest.importorskip("psycopg")
    engine = make_engine("postgresql+psycopg://monitor:s3cret@127.0.0.1:1/monitor")
    with pytest.raises(DatabaseUnavailable) as raised:
        upgrade_database(engine)
    message = str(raised.value)
    assert message.startswith(
        "migrating the database: cannot reach the database "
        "postgresql+psycopg://monitor:***@127.0.0.1:1/monitor: "
    )
    assert "s3cret" not in message and raised.value.kind == DatabaseKind.UNAVAILABLE


def test_a_database_file_whose_folder_vanished_cannot_be_opened(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'monitor.db'}")
    (tmp_path / "gone").rmdir()
    with pytest.raises(DatabaseUnavailable, match="cannot open the database sqlite:///"):
        upgrade_database(engine)
    engine.dispose()


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DatabaseUnavailable, match=r"cannot create the folder .*a-file/data"):
        make_engine(f"sqlite:///{tmp_path / 'a-file' / 'data' / 'monitor.db'}")


def test_a_database_from_a_newer_monitor_says_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    upgrade_database(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    with pytest.raises(DatabaseError, match=r"f00dfeedbeef.*if a newer monitor upgraded") as raised:
        upgrade_database(engine)
    assert raised.value.kind == DatabaseKind.SCHEMA
    engine.dispose()


# --- a poll cycle on a real database -----------------------------------------------------------

NAMES = ("a", "b", "c")


def rss(name: str, items: int = 2, size: int = 0) -> bytes:
    body = "".join(
        f"<item><title>{name} story {i}</title><guid>{name}-{i}</guid>"
        f"<description>{name} {i} {'text ' * (size // 5)}</description></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{body}'
        "</channel></rss>"
    ).encode()


def make_poller(engine: Engine, client: httpx.AsyncClient) -> Poller:
    return Poller(
        engine=engine,
        fetcher=Fetcher(client, FetchLimits(timeout=5)),
        feeds=[FeedSpec(name, f"https://{name}.example/feed") for name in NAMES],
        default_interval=timedelta(minutes=15),
        lease=timedelta(minutes=5),
        clock=lambda: NOW,
    )


def feed_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = {row["name"]: row for row in feed_store.list_feeds(connection)}
        leases = connection.execute(select(Feed.name, Feed.lease_owner)).all()
    for name, owner in leases:
        rows[name]["lease_owner"] = owner
    return rows


def serve(httpx_mock: HTTPXMock, size: int = 0, **options: Any) -> None:
    for name in NAMES:
        httpx_mock.add_response(
            url=f"https://{name}.example/feed",
            content=rss(name, size=size),
            is_optional=True,
            **options,
        )


@pytest.fixture
def feeds_engine(engine: Engine) -> Engine:
    with engine.begin() as connection:
        feed_store.add_feeds(
            connection, [FeedSpec(name, f"https://{name}.example/feed") for name in NAMES], NOW
        )
    return engine


def feed_id(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(Feed.id).where(Feed.name == name)).scalar_one())


def _refuse_in_sqlite(value: object) -> None:
    raise RuntimeError("injected: the database refuses this feed")


@contextmanager
def refused_articles(engine: Engine, feed: str | None, how: str) -> Iterator[None]:
    """A trigger that fails every article insert of `feed` (all feeds when None), the way
    the database itself would: `how` is "integrity" (a constraint), "operational" (an error
    while executing) or, on PostgreSQL, "full" (SQLSTATE 53100, disk_full)."""
    condition = "TRUE" if feed is None else f"NEW.feed_id = {feed_id(engine, feed)}"
    if engine.dialect.name == "sqlite":
        if how == "integrity":
            action = "SELECT RAISE(ABORT, 'injected: the database refuses this feed')"
        else:
            action = "SELECT monitor_test_refuse(NEW.feed_id)"

            def register(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.create_function("monitor_test_refuse", 1, _refuse_in_sqlite)

            event.listen(engine, "connect", register)
            engine.dispose()  # new connections, each with the function
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TRIGGER monitor_test_refuse BEFORE INSERT ON articles "
                f"WHEN {condition} BEGIN {action}; END"
            )
        cleanup = ["DROP TRIGGER monitor_test_refuse"]
    else:
        code = {"integrity": "23514", "operational": "55P03", "full": "53100"}[how]
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE FUNCTION monitor_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION 'injected: the database refuses this feed' "
                f"USING ERRCODE = '{code}'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER monitor_test_refuse BEFORE INSERT ON articles FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION monitor_test_refuse()"
            )
        # The PostgreSQL database is shared by the session: the trigger must not outlive us.
        cleanup = [
            "DROP TRIGGER IF EXISTS monitor_test_refuse ON articles",
            "DROP FUNCTION IF EXISTS monitor_test_refuse()",
        ]
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in cleanup:
                connection.exec_driver_sql(statement)


def only_this_task_runs() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.parametrize("how", ["integrity", "operational"])
async def test_a_failed_write_fails_only_its_feed(
    httpx_mock: HTTPXMock, feeds_engine: Engine, how: str
) -> None:
    serve(httpx_mock)
    with refused_articles(feeds_engine, "b", how):
        async with httpx.AsyncClient() as client:
            poller = make_poller(feeds_engine, client)
            summary = await poller.poll_once()
            poller.close()
        assert only_this_task_runs()
    reports = {report.name: report for report in summary.feeds}
    assert {name: r.outcome for name, r in reports.items()} == {
        "a": "fetched",
        "b": "failed",
        "c": "fetched",
    }
    assert summary.new_articles == 4 and summary.failed == 1
    error = reports["b"].error or ""
    assert error.startswith("storing articles of feed b: "), error
    # SQLite does not pass on what a failing function said, only that it failed.
    assert "injected" in error or "user-defined function raised exception" in error, error
    rows = feed_rows(feeds_engine)
    assert rows["a"]["articles"] == rows["c"]["articles"] == 2
    # The database still takes writes, so the feed's own row says what happened.
    assert rows["b"]["articles"] == 0 and rows["b"]["last_error"] == error
    assert rows["b"]["state"] == "backoff" and rows["b"]["consecutive_failures"] == 1
    assert all(row["lease_owner"] is None for row in rows.values())


async def test_a_feed_whose_outcome_cannot_be_recorded_still_reports_it(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Recording a failure (b: HTTP 500) or a batch of 304s (a) is a transaction too; when it
    fails, the report still says what happened, the log says what was not recorded, and the
    rest of the cycle goes on. The rows keep their leases, which expire."""
    with sqlite_engine.begin() as connection:
        feed_store.add_feeds(
            connection, [FeedSpec(name, f"https://{name}.example/feed") for name in NAMES], NOW
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON feeds "
            "WHEN NEW.last_status IN (304, 500) "
            "BEGIN SELECT RAISE(ABORT, 'injected: outcome refused'); END"
        )
    httpx_mock.add_response(url="https://a.example/feed", status_code=304)
    httpx_mock.add_response(url="https://b.example/feed", status_code=500)
    httpx_mock.add_response(url="https://c.example/feed", content=rss("c"))
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client)
        summary = await poller.poll_once()
        poller.close()
    outcomes = {report.name: (report.outcome, report.error) for report in summary.feeds}
    assert outcomes["a"] == ("not_modified", None)
    assert outcomes["b"][0] == "failed" and "500" in (outcomes["b"][1] or "")
    assert outcomes["c"] == ("fetched", None)
    rows = feed_rows(sqlite_engine)
    assert rows["c"]["articles"] == 2 and rows["c"]["lease_owner"] is None
    assert rows["a"]["lease_owner"] == rows["b"]["lease_owner"] == poller.owner
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(m.startswith("recording 1 unchanged feeds: ") for m in logged), logged
    assert any(m.startswith("recording the poll of feed b: ") for m in logged), logged


@contextmanager
def full_database(engine: Engine) -> Iterator[None]:
    """The database is full: on SQLite it may not grow by a page (max_page_count, the limit
    SQLite enforces as "database or disk is full"); on PostgreSQL every article insert fails
    with disk_full."""
    if engine.dialect.name != "sqlite":
        with refused_articles(engine, None, "full"):
            yield
        return

    def no_growth(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(engine, "connect", no_growth)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", no_growth)
        engine.dispose()


async def test_a_full_database_stops_the_cycle_with_one_error_and_the_next_catches_up(
    httpx_mock: HTTPXMock, feeds_engine: Engine
) -> None:
    serve(httpx_mock, size=20_000, is_reusable=True)  # articles larger than a page: they grow it
    with full_database(feeds_engine):
        async with httpx.AsyncClient() as client:
            poller = make_poller(feeds_engine, client)
            with pytest.raises(DatabaseUnavailable) as raised:
                await poller.poll_once()
            poller.close()
        assert only_this_task_runs()
    error = raised.value
    assert error.kind == DatabaseKind.FULL and isinstance(error.__cause__, DatabaseUnavailable)
    assert re.fullmatch(
        r"storing articles of feed [abc]: the disk holding the database \S+ is full \(.+\); "
        r"free some space, then poll again \(the poll stopped after [0-2] of 3 feeds\)",
        str(error),
    ), str(error)
    rows = feed_rows(feeds_engine)
    assert all(row["lease_owner"] is None for row in rows.values()), "leases given back"
    assert all(row["articles"] == 0 and row["last_error"] is None for row in rows.values())

    async with httpx.AsyncClient() as client:
        poller = make_poller(feeds_engine, client)
        summary = await poller.poll_once()
        poller.close()
    assert summary.new_articles == 6 and summary.failed == 0
    assert all(row["articles"] == 2 for row in feed_rows(feeds_engine).values())


async def test_a_database_that_fails_at_claim_time_fails_poll_once(
    httpx_mock: HTTPXMock, sqlite_engine: Engine, tmp_path: Path
) -> None:
    """Before any feed is fetched: nothing to stop, one error to report."""
    sqlite_engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"monitor.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "monitor.db").mkdir()  # where the file was, something SQLite cannot open
    async with httpx.AsyncClient() as client:
        poller = make_poller(sqlite_engine, client)
        with pytest.raises(DatabaseUnavailable, match=r"^syncing feeds from config: "):
            await poller.poll_once()
        poller.close()


# --- the command line on a real full disk ------------------------------------------------------


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path`: a disk that really fills up. Needs root."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` up to `leave` free bytes; returns the file to delete to free it again."""
    filler = disk / "filler"
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(free - leave, 0))
    return filler


@pytest.mark.slow
def test_poll_once_on_a_full_disk_prints_one_line_and_the_next_poll_catches_up(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk, FeedServer() as server:
        for name in NAMES:
            server.add(f"/{name}.xml", Route(rss(name, items=1), etag=f'"{name}-1"'))
        config = write_config(
            tmp_path / "config.toml",
            f'[database]\nurl = "sqlite:///{disk}/monitor.db"\n',
            "[polling]\nparse_processes = 0\n",  # parse in a thread: no process pool to start
            f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
            feeds=[(name, server.url(f"/{name}.xml")) for name in NAMES],
        )
        first = run_monitor(config, "poll", "--once")
        assert first.returncode == 0, first.stderr

        # Each feed now brings ~90 KB of articles; the disk keeps room for claiming the feeds,
        # not for storing any of them.
        for name in NAMES:
            server.add(f"/{name}.xml", Route(rss(name, items=3, size=30_000), etag=f'"{name}-2"'))
        filler = fill(disk, leave=64 * 1024)
        full = run_monitor(config, "poll", "--once", "--all")
        assert full.returncode == 1, full.stderr
        assert "Traceback" not in full.stderr and full.stdout == ""
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1, full.stderr
        assert re.fullmatch(
            r"monitor: database: storing articles of feed [abc]: the disk holding the database "
            rf"sqlite:///{re.escape(str(disk))}/monitor\.db is full \(database or disk is full\); "
            r"free some space, then poll again \(the poll stopped after 0 of 3 feeds\)",
            lines[0],
        ), lines[0]

        filler.unlink()
        again = run_monitor(config, "poll", "--once", "--all", "--format", "json")
        assert again.returncode == 0, again.stderr
        listed = run_monitor(config, "feeds", "list", "--format", "json")
        feeds = {feed["name"]: feed for feed in json.loads(listed.stdout)}
        # The three items include the one stored by the first poll.
        assert all(feeds[name]["articles"] == 3 for name in NAMES), feeds
        assert json.loads(again.stdout)["new_articles"] == 6


@pytest.mark.slow
def test_poll_once_without_its_database_server_prints_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    config = write_config(
        tmp_path / "config.toml",
        '[database]\nurl = "postgresql+psycopg://monitor@127.0.0.1:1/monitor"\n',
        f'[watchlists]\ndir = "{tmp_path}/watchlists"\n',
    )
    result = run_monitor(config, "poll", "--once")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "monitor: database: migrating the database: cannot reach the database "
        "postgresql+psycopg://monitor@127.0.0.1:1/monitor: "
    ), line
