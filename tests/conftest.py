"""Shared fixtures: databases (SQLite always, PostgreSQL when MONITOR_TEST_DATABASE_URL is set),
the corpus location, and a fixed clock.

PostgreSQL tests run in a database of their own, created for the test session and dropped
after it, so parallel runs (CI, developers) never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fixed_time import NOW
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from monitor.adapters.db.engine import make_engine, upgrade_database
from monitor.adapters.db.schema import metadata

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "MONITOR_TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Property tests assert what the core decides, not how fast: speed is bench/'s job. On a busy
# 2-core CI machine running loopback servers and workers, Hypothesis's default 200 ms deadline
# per example failed a pure, correct test.
settings.register_profile("monitor", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("monitor")


def corpus_dir() -> Path:
    return Path(os.environ.get("MONITOR_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not (path / "manifest.tsv").is_file():
        pytest.skip(f"feed corpus not found at {path} (set MONITOR_CORPUS)")
    return path


@pytest.fixture
def now() -> datetime:
    """The moment tests are set at: fixed_time.NOW."""
    return NOW


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    admin_url = make_url(base)
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def postgres_engine(_migrated_postgres: Engine) -> Engine:
    """The session's PostgreSQL database, migrated and empty."""
    _empty_tables(_migrated_postgres)
    return _migrated_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: every store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        sqlite = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
        upgrade_database(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    yield request.getfixturevalue("postgres_engine")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    upgrade_database(sqlite)
    yield sqlite
    sqlite.dispose()
