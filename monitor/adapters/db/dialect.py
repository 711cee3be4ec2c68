"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Select, Table, bindparam, insert, update

# The driver's own placeholder, by DBAPI paramstyle (psycopg takes %s beside %(name)s).
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_ignoring_conflicts(connection: Connection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's database."""
    # Imported here: the PostgreSQL dialect (asyncpg's module with it) is a fifth of what
    # SQLAlchemy costs `monitor feeds list` to import, and SQLite's users never need it.
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def for_update_skip_locked(connection: Connection, query: Select[Any]) -> Select[Any]:
    """Row locks that other workers skip, so due work is split instead of contended.

    SQLite has no row locks; with it there is one worker and the lease columns suffice.
    """
    if connection.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def insert_plain_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT many rows of plain values (ints, strings, bytes: what the driver stores as they
    are, no type conversion) through the driver's executemany. Core's executemany builds a
    parameter dict per row and runs it through the compiled statement: for the story band
    index, tens of thousands of three-integer rows per poll, that cost more than SQLite's
    own insert."""
    if not rows:
        return
    mark = _PLACEHOLDERS.get(connection.dialect.paramstyle)
    if mark is None:  # a driver we do not know: Core, which knows them all
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
    connection.exec_driver_sql(sql, list(rows))


def insert_new_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING `returning`, for the rows that were
    inserted (in no particular order). Values go through each column type's own bind
    processor, as Core applies them (UTCDateTime's UTC conversion, SQLite's datetime
    strings), but once per value, not through a parameter dict per row: for a feed's new
    articles Core's per-row parameter handling was a quarter of the insert's CPU (2.0 -> 1.5
    ms per feed of the 12 real outlet bodies on SQLite). Rows go in multi-row VALUES
    statements, as Core's "insertmanyvalues" sends them."""
    if not rows:
        return []
    mark = _PLACEHOLDERS.get(connection.dialect.paramstyle)
    if mark is None:  # a driver we do not know: Core, which knows them all
        statement = insert_ignoring_conflicts(connection, table).returning(
            *(table.c[name] for name in returning)
        )
        result = connection.execute(statement, [dict(zip(columns, r, strict=True)) for r in rows])
        return [tuple(row) for row in result]
    processors = _bind_processors(table, tuple(columns), connection.dialect)
    converted = [
        tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(row, processors, strict=True)
        )
        for row in rows
    ]
    per_statement = max(1, _PARAMETERS_PER_STATEMENT // len(columns))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(converted), per_statement):
        chunk = converted[start : start + per_statement]
        sql = _insert_new_sql(
            connection.dialect, table.name, tuple(columns), tuple(returning), len(chunk), mark
        )
        parameters = tuple(value for row in chunk for value in row)
        found += [tuple(row) for row in connection.exec_driver_sql(sql, parameters)]
    return found


# Under SQLite's default limit of bound parameters before 3.32 (999), so any build takes it.
_PARAMETERS_PER_STATEMENT = 990


@lru_cache(maxsize=32)
def _bind_processors(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    return tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)


@lru_cache(maxsize=64)
def _insert_new_sql(
    dialect: Dialect,
    table: str,
    columns: tuple[str, ...],
    returning: tuple[str, ...],
    count: int,
    mark: str,
) -> str:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    row = "(" + ", ".join([mark] * len(columns)) + ")"
    values = ", ".join([row] * count)
    back = ", ".join(quote(c) for c in returning)
    return (
        f"INSERT INTO {quote(table)} ({names}) VALUES {values} "
        f"ON CONFLICT DO NOTHING RETURNING {back}"
    )


def update_plain_rows(
    connection: Connection,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """UPDATE table SET columns WHERE key = ... for many rows of plain values, each row
    (*values of `columns`, key), through the driver's executemany (see insert_plain_rows)."""
    if not rows:
        return
    mark = _PLACEHOLDERS.get(connection.dialect.paramstyle)
    if mark is None:
        statement = (
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({c: bindparam(f"_{c}") for c in columns})
        )
        connection.execute(
            statement,
            [
                {**{f"_{c}": v for c, v in zip(columns, row[:-1], strict=True)}, "_key": row[-1]}
                for row in rows
            ],
        )
        return
    quote = connection.dialect.identifier_preparer.quote
    assignments = ", ".join(f"{quote(c)} = {mark}" for c in columns)
    sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = {mark}"
    connection.exec_driver_sql(sql, list(rows))


def driver_rows(connection: Connection, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of a statement built once (a module-level or cached one), compiled once per
    dialect and run as the driver's SQL. Executing the statement itself processes every bind
    parameter through the compiled form on each call: for the story band lookup's UNION of
    448 seeks, a third of the call's CPU beside SQLite's own work. Parameters of plain values
    only (ints, strings): no type conversion is applied."""
    sql, names = _driver_sql(statement, connection.dialect)
    if names is None:  # a named paramstyle (psycopg's pyformat): the dict as it is
        return connection.exec_driver_sql(sql, dict(params)).all()
    return connection.exec_driver_sql(sql, tuple(params[name] for name in names)).all()


@lru_cache(maxsize=64)
def _driver_sql(statement: Any, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    compiled = statement.compile(dialect=dialect)
    names = compiled.positiontup
    return compiled.string, tuple(names) if names else None
