"""Alembic environment: the schema comes from the package, the URL from the caller or config.

`monitor db upgrade` (and `run`/`poll`) pass their connection in `config.attributes`; the
plain `alembic` command line (developers: `alembic revision --autogenerate`) takes the URL
from `sqlalchemy.url` or $MONITOR_DATABASE_URL. This folder ships inside the package, so a
wheel install migrates with nothing else on disk; as part of adapters.db it reads no config.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from monitor.adapters.db.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from monitor.adapters.db.engine import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("MONITOR_DATABASE_URL")
    if not url:
        raise SystemExit("set $MONITOR_DATABASE_URL (or use `monitor db upgrade`)")
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `monitor db upgrade`")
run_migrations_online()
