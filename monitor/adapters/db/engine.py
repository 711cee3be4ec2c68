"""Engines and migrations: the only place that knows SQLite from PostgreSQL at connect time.

SQLite gets WAL (readers never block the writer), a busy timeout and enforced foreign keys;
PostgreSQL gets pre-ping so a restarted server does not fail the next poll. Library errors
are mapped to DatabaseError by adapters/db/errors.py, the same map the flows use.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.adapters.db.errors import database_errors
from monitor.errors import DatabaseError, DatabaseKind, DatabaseUnavailable

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x6D6F6E69746F72  # "monitor": one advisory lock key for migrations


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 8 KB pages, not SQLite's 4 KB: an article row is 1-3 KB, and a 4 KB page held one or
    # two of them and a hole (bench/ingest.py: 5% smaller database). It only takes effect
    # on a new, empty database (before WAL is turned on); an existing one keeps its pages.
    cursor.execute("PRAGMA page_size=8192")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # No memory-mapped reads (SQLite's default): every mapped page a poll touched stayed in
    # the process's resident set, 52 MB of a 1,200-feed first poll (bench/ingest.py: tree
    # peak 374 -> 319 MB), and they bought nothing measurable: find_story with 100,000
    # articles in the window had median 1.32 ms, p95 1.81 with a 64 MB map and 1.15 / 1.62
    # without (bench/stories.py, one run after the other), the writer's CPU per feed the same.
    cursor.execute("PRAGMA mmap_size=0")  # whatever this SQLite build's default is
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; creates the folder of a SQLite file. Connects lazily."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # Validating the setting, not talking to a database: ArgumentError elsewhere is a bug.
        raise DatabaseError(
            f"invalid database URL {url!r}: {exc}", kind=DatabaseKind.CONFIG
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    with database_errors(url=url):
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _make_folder(Path(parsed.database).parent, shown)
            engine = create_engine(parsed, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _make_folder(folder: Path, shown: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create the folder {folder} of the database {shown}: "
            f"{exc.strerror or exc}; create it, or point [database] url elsewhere",
            kind=DatabaseKind.READONLY if exc.errno == errno.EROFS else DatabaseKind.UNAVAILABLE,
            url=shown,
        ) from exc


def migrations_dir() -> Path:
    """The Alembic migrations shipped in the package (next to this file), so any install,
    editable or from a wheel, can create and upgrade its database. $MONITOR_MIGRATIONS
    points elsewhere, for a developer trying out migrations of their own."""
    override = os.environ.get("MONITOR_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "migrations"


# The newest migration's revision (tests/adapters/test_migrations.py checks it against the
# scripts): a database already there needs no Alembic, whose import and reading of every
# script cost 0.17 s of CPU, a third of `monitor feeds list`.
HEAD_REVISION = "0011"


def upgrade_database(engine: Engine) -> str | None:
    """Apply pending migrations; a no-op when the database is current. Returns the revision
    the database was at (None: empty), read under the migration lock."""
    if _at_head(engine):
        return HEAD_REVISION
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.util import CommandError

    location = migrations_dir()
    if not (location / "env.py").is_file():
        raise DatabaseError(
            f"migrations not found at {location}: the monitor package is incomplete "
            "(reinstall it), or $MONITOR_MIGRATIONS names the wrong folder",
            kind=DatabaseKind.CONFIG,
        )
    config = Config()
    config.set_main_option("script_location", str(location))
    try:
        with (
            database_errors(what="migrating the database", engine=engine),
            engine.begin() as connection,
        ):
            if connection.dialect.name == "postgresql":
                # Workers starting together would each try to create the tables; the first
                # migrates, the rest wait here and then find nothing to do.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(config, "head")
            return before
    except CommandError as exc:
        # Alembic's own errors, which only migrating raises (so they are not in the shared
        # map, which would then import alembic for every caller): typically a revision this
        # version of monitor does not know, written by a newer one.
        raise DatabaseError(
            f"migrating {safe_url(engine)} failed: {exc}; if a newer monitor upgraded this "
            "database, run that version",
            kind=DatabaseKind.SCHEMA,
            url=safe_url(engine),
        ) from exc


def _at_head(engine: Engine) -> bool:
    if os.environ.get("MONITOR_MIGRATIONS"):  # another set of scripts, another head
        return False
    with (
        database_errors(what="migrating the database", engine=engine),
        engine.connect() as connection,
    ):
        if not inspect(connection).has_table("alembic_version"):
            return False
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return list(found) == [HEAD_REVISION]


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with (
        database_errors(what="reading the schema revision", engine=engine),
        engine.connect() as connection,
    ):
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()


def safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
