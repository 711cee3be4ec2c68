"""The Alembic migrations build exactly the schema the package declares, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from monitor.adapters.db.engine import current_revision, upgrade_database
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
