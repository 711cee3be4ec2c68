"""The Alembic migrations build exactly the schema the package declares, on every database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from monitor.adapters.db import feed_store
from monitor.adapters.db.engine import (
    HEAD_REVISION,
    current_revision,
    make_engine,
    migrations_dir,
    upgrade_database,
)
from monitor.adapters.db.schema import metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == [], f"models and migrations differ; generate a migration: {diff}"


def test_upgrade_is_idempotent(engine: Engine) -> None:
    before = current_revision(engine)
    upgrade_database(engine)
    assert before is not None
    assert current_revision(engine) == before


def test_the_head_revision_the_quick_check_knows_is_the_scripts_head(engine: Engine) -> None:
    # A database at HEAD_REVISION is taken as current without Alembic: a migration added
    # without moving the constant would never run on an existing database.
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    assert current_revision(engine) == HEAD_REVISION


def test_a_database_made_by_an_older_release_upgrades_with_its_feeds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO feeds (name, url, configured_url, source, tags, state,"
                " consecutive_failures, etag, created_at) VALUES ('ap', 'https://ap.example/rss',"
                " 'https://ap.example/rss', 'config', '[]', 'active', 0, '\"v1\"',"
                " '2026-11-01 00:00:00')"
            )
        )
    assert upgrade_database(engine) == "0001"
    with engine.connect() as connection:
        (feed,) = feed_store.claim_due_feeds(
            connection, owner="w", now=datetime(2026, 11, 21, tzinfo=UTC), lease=timedelta(1)
        )
    assert (feed.name, feed.etag, feed.ttl_seconds) == ("ap", '"v1"', None)
    engine.dispose()


def test_a_new_sqlite_database_gets_8_kb_pages_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    # Article rows are 1-3 KB: 4 KB pages left a hole in most of them (README, Performance).
    new = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade_database(new)
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as made_by_an_older_release:
        made_by_an_older_release.execute("PRAGMA page_size=4096")
        made_by_an_older_release.execute("CREATE TABLE t (x)")
    old = make_engine(f"sqlite:///{old_path}")
    upgrade_database(old)
    for engine, pages in ((new, 8192), (old, 4096)):
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA page_size")).scalar() == pages
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        engine.dispose()
