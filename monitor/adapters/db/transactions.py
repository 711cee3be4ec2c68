"""Write transactions that serialize the workers that would otherwise race, and chunked IN
lists. Shared by the digest and outbox stores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, func, select

from monitor.adapters.db.errors import database_errors

_T = TypeVar("_T")

CHUNK = 500  # ids per IN (...) list: far below every database's bound-parameter limit


def lock_key(name: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key.
    digest = hashlib.blake2b(f"monitor:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def write_transaction(
    engine: Engine, lock: str | None = None, *, what: str | None = None
) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement.

    SQLite: BEGIN IMMEDIATE, so two writers queue on the busy timeout instead of one failing
    when it upgrades a read lock. PostgreSQL: a transaction-scoped advisory lock on `lock`,
    so everything done for one watchlist happens one worker at a time. Database errors come
    out mapped onto monitor.errors (adapters/db/errors.py), `what` naming the work.
    """
    with database_errors(what=what, engine=engine), engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif lock is not None:
            connection.execute(select(func.pg_advisory_xact_lock(lock_key(lock))))
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


def hold_lock(connection: Connection, lock: str) -> None:
    """Take `write_transaction`'s lock inside a transaction opened elsewhere (a feed's).

    PostgreSQL: the same transaction-scoped advisory lock. SQLite: nothing, since the
    transaction that writes already holds the database's one write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(lock_key(lock))))


def chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """`values` cut into IN (...) lists of at most CHUNK."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
