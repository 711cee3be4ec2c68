"""The one map from SQLAlchemy's (and its drivers') exceptions to monitor.errors.

`with database_errors(what="storing articles", feed=name, engine=engine):` turns anything
SQLAlchemy raises inside into a DatabaseError with a message a user can act on, the original
kept as `__cause__`. Each exception is described by the first entry of _RULES that fits it,
most specific first: a rule names exception types and, optionally, signs in the driver's
error (a PostgreSQL SQLSTATE prefix, a SQLite result code name, words of the message), because
one driver class such as OperationalError covers both "the disk is full" and "the table is
locked", and those call for different advice and different reactions:

    DatabaseUnavailable  the database as a whole is unusable (down, full, read-only, gone,
                         damaged, not migrated): callers stop what they are doing
    TransactionFailed    this one transaction failed (locked, a constraint, a refused value):
                         callers fail the one piece of work it was for and carry on

Never opens a connection; only describes failures of the ones callers opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy import exc as sa
from sqlalchemy.engine import make_url

from monitor.errors import DatabaseError, DatabaseKind, DatabaseUnavailable, TransactionFailed

# Everything the map describes. Driver errors normally reach us wrapped in sa.DBAPIError; bare
# ones are listed for code on a raw DBAPI connection (SQLite's, and the emulated errors of
# asyncpg-style dialects, which derive from EmulatedDBAPIException).
_BARE_DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, sa.EmulatedDBAPIException)
DATABASE_EXCEPTIONS: tuple[type[Exception], ...] = (sa.SQLAlchemyError, *_BARE_DRIVER_ERRORS)

_DETAIL_LIMIT = 300  # characters of the driver's message kept; the rest is SQL and noise


@dataclass(frozen=True, slots=True)
class _Context:
    """What the failed operation was, for the message."""

    what: str | None
    feed: str | None
    url: str | None

    @property
    def doing(self) -> str:
        if self.what and self.feed:
            return f"{self.what} of feed {self.feed}: "
        if self.what:
            return f"{self.what}: "
        if self.feed:
            return f"feed {self.feed}: "
        return ""

    @property
    def database(self) -> str:
        return f"the database {self.url}" if self.url else "the database"

    def error(self, cls: type[DatabaseError], kind: DatabaseKind, sentence: str) -> DatabaseError:
        return cls(f"{self.doing}{sentence}", kind=kind, feed=self.feed, url=self.url)


@contextmanager
def database_errors(
    *,
    what: str | None = None,
    feed: str | None = None,
    engine: Engine | None = None,
    url: str | None = None,
) -> Iterator[None]:
    """Map database exceptions raised inside to DatabaseError (see map_database_error).

    Put it outside `engine.begin()`, so failures to connect and to commit are mapped too.
    Our own errors (a DatabaseError, anything else from monitor) pass through unchanged.
    """
    try:
        yield
    except DATABASE_EXCEPTIONS as exc:
        raise map_database_error(exc, what=what, feed=feed, engine=engine, url=url) from exc


def map_database_error(
    exc: BaseException,
    *,
    what: str | None = None,
    feed: str | None = None,
    engine: Engine | None = None,
    url: str | None = None,
) -> DatabaseError:
    """The DatabaseError for `exc`: `what` was being done (a phrase such as "storing
    articles"), for `feed` if one, on the database of `engine` (or `url`)."""
    context = _Context(what, feed, _display_url(engine, url))
    if isinstance(exc, _BARE_DRIVER_ERRORS):
        # Wrapped the way SQLAlchemy wraps them (by class name: IntegrityError and so on),
        # so one set of rules reads both.
        exc = sa.DBAPIError.instance(None, None, exc, Exception)
    for types, signs, build in _RULES:
        if isinstance(exc, types) and (signs is None or signs.found_in(exc)):
            return build(context, exc)
    return _failed(context, exc)


# --- reading an exception ------------------------------------------------------------------


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's own exception: SQLAlchemy keeps it as `.orig`."""
    return exc.orig if isinstance(exc, sa.DBAPIError) else None


def _detail(exc: BaseException) -> str:
    """The driver's message on one line, without the SQL and parameters SQLAlchemy appends
    (they can hold whole articles) and never raising: this runs while reporting a failure."""
    source: BaseException = exc
    if isinstance(exc, sa.StatementError) and exc.orig is not None:
        source = exc.orig  # DBAPIError and bind failures: the cause without the SQL
    try:
        if isinstance(source, sa.SQLAlchemyError):
            # _message() leaves out the "Background on this error" link; with no args it
            # would print "()".
            text = source._message() if source.args else ""
        else:
            text = str(source)
    except Exception:  # a broken __str__ must not hide the error being reported
        text = ""
    text = " ".join(text.split()) or type(source).__name__
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _display_url(engine: Engine | None, url: str | None) -> str | None:
    if engine is not None:
        return engine.url.render_as_string(hide_password=True)
    if url is None:
        return None
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown by the error about it, not here
        return None


@dataclass(frozen=True, slots=True)
class _Signs:
    """Marks of one failure in the driver's exception; any one of them is enough."""

    sqlstates: tuple[str, ...] = ()  # PostgreSQL SQLSTATE codes, or their two-letter classes
    sqlite: tuple[str, ...] = ()  # SQLite result code names; extended names start with them
    words: tuple[str, ...] = ()  # lower-case words of the message (injected or old drivers)
    disconnect: bool = False  # SQLAlchemy itself found the connection dead

    def found_in(self, exc: BaseException) -> bool:
        if self.disconnect and getattr(exc, "connection_invalidated", False):
            return True
        driver = _driver_error(exc)
        if driver is None:
            return False
        sqlstate = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(self.sqlstates):
            return True
        name = getattr(driver, "sqlite_errorname", None)
        if isinstance(name, str) and name.startswith(self.sqlite):
            return True
        return any(word in _detail(driver).lower() for word in self.words)


# --- the sentences -------------------------------------------------------------------------

_Build = Callable[[_Context, BaseException], DatabaseError]


def _full(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.FULL,
        f"the disk holding {ctx.database} is full ({_detail(exc)}); free some space, then "
        "poll again",
    )


def _moved(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        f"the file of {ctx.database} was moved or deleted while in use ({_detail(exc)}); "
        "put it back, or restart monitor to start a new one",
    )


def _readonly(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.READONLY,
        f"{ctx.database} cannot be written ({_detail(exc)}); check that its file and folder "
        "are writable and not on a read-only file system, or that the server is not a "
        "read-only standby",
    )


def _cannot_open(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        f"cannot open {ctx.database} ({_detail(exc)}); check that its folder exists and is "
        "writable, and [database] url",
    )


def _disk_io(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        f"disk I/O error on {ctx.database} ({_detail(exc)}); was its file deleted or moved, "
        "or is the disk failing? See the system log",
    )


def _corrupt(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.CORRUPT,
        f"{ctx.database} is damaged or not a monitor database ({_detail(exc)}); restore it "
        "from a backup, or point [database] url at another file",
    )


def _unreachable(ctx: _Context, exc: BaseException) -> DatabaseError:
    # "cannot reach the database URL: reason" is the sentence users already grep for.
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.UNAVAILABLE,
        f"cannot reach {ctx.database}: {_detail(exc)}; check that the server is running and "
        "[database] url (or $MONITOR_DATABASE_URL)",
    )


def _schema(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        DatabaseUnavailable,
        DatabaseKind.SCHEMA,
        f"the tables of {ctx.database} do not match this version of monitor "
        f"({_detail(exc)}); run `monitor db upgrade`",
    )


def _locked(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.LOCKED,
        f"{ctx.database} stayed locked by another writer past the timeout ({_detail(exc)}); "
        "is another monitor process, or a backup, writing to it? (SQLite is for one worker)",
    )


def _pool_exhausted(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.LOCKED,
        f"no free connection to {ctx.database} within the pool timeout ({_detail(exc)})",
    )


def _integrity(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.INTEGRITY,
        f"the write breaks a constraint of {ctx.database} and was rolled back "
        f"({_detail(exc)}); if this repeats, report it with this message",
    )


def _refused_value(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.INVALID,
        f"{ctx.database} refused a value or statement ({_detail(exc)}); this is a bug in "
        "monitor, please report it with this message",
    )


def _unbindable(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.INVALID,
        f"a value could not be sent to {ctx.database} ({_detail(exc)}); this is a bug in "
        "monitor, please report it with this message",
    )


def _no_driver(ctx: _Context, exc: BaseException) -> DatabaseError:
    driver = _driver_name(ctx.url) or "this database URL"
    return ctx.error(
        DatabaseError,
        DatabaseKind.CONFIG,
        f"no driver for {driver}: for PostgreSQL install monitor[postgres] and use "
        f"postgresql+psycopg://...; ({_detail(exc)})",
    )


def _driver_name(url: str | None) -> str | None:
    try:
        return make_url(url).drivername if url else None
    except Exception:
        return None


def _failed(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed, DatabaseKind.FAILED, f"the database reported: {_detail(exc)}"
    )


def _internal(ctx: _Context, exc: BaseException) -> DatabaseError:
    return ctx.error(
        TransactionFailed,
        DatabaseKind.FAILED,
        f"SQLAlchemy reported {type(exc).__name__}: {_detail(exc)}; this is a bug in "
        "monitor, please report it with this message",
    )


_DRIVER = sa.DBAPIError  # what the driver raised, as SQLAlchemy wrapped it

_Rule = tuple[type[BaseException] | tuple[type[BaseException], ...], _Signs | None, _Build]

# Most specific first. SQLite names are sqlite3's `sqlite_errorname`s (extended codes start
# with the primary name: SQLITE_IOERR_WRITE); SQLSTATEs are PostgreSQL's appendix A.
_RULES: tuple[_Rule, ...] = (
    (
        _DRIVER,
        _Signs(
            sqlstates=("53100",),  # disk_full
            sqlite=("SQLITE_FULL",),
            words=("database or disk is full", "no space left on device", "disk quota exceeded"),
        ),
        _full,
    ),
    (_DRIVER, _Signs(sqlite=("SQLITE_READONLY_DBMOVED",)), _moved),
    (
        _DRIVER,
        _Signs(
            sqlstates=("25006",),  # read_only_sql_transaction: a hot standby
            sqlite=("SQLITE_READONLY",),
            words=("readonly database", "read-only file system", "read-only transaction"),
        ),
        _readonly,
    ),
    (
        _DRIVER,
        _Signs(sqlite=("SQLITE_CANTOPEN",), words=("unable to open database file",)),
        _cannot_open,
    ),
    (_DRIVER, _Signs(sqlite=("SQLITE_IOERR",), words=("disk i/o error",)), _disk_io),
    (
        _DRIVER,
        _Signs(
            sqlite=("SQLITE_CORRUPT", "SQLITE_NOTADB"),
            words=("database disk image is malformed", "file is not a database"),
        ),
        _corrupt,
    ),
    (
        _DRIVER,
        _Signs(
            # connection_exception, invalid_authorization, invalid_catalog_name (no such
            # database), admin_shutdown, crash_shutdown, cannot_connect_now,
            # too_many_connections
            sqlstates=("08", "28", "3D000", "57P01", "57P02", "57P03", "53300"),
            words=(
                "connection refused",
                "could not connect",
                "connection failed",
                "server closed the connection",
                "connection is closed",
                "connection already closed",
                "terminating connection",
                "could not translate host name",
                "the database system is",
            ),
            disconnect=True,
        ),
        _unreachable,
    ),
    (sa.DisconnectionError, None, _unreachable),
    (
        _DRIVER,
        _Signs(
            sqlstates=("42P01", "42703"),  # undefined_table, undefined_column
            words=("no such table", "no such column", "has no column named"),
        ),
        _schema,
    ),
    (sa.NoSuchTableError, None, _schema),
    (
        _DRIVER,
        _Signs(
            # lock_not_available, deadlock_detected, serialization_failure
            sqlstates=("55P03", "40P01", "40001"),
            sqlite=("SQLITE_BUSY", "SQLITE_LOCKED"),
            words=("database is locked", "database table is locked"),
        ),
        _locked,
    ),
    (sa.TimeoutError, None, _pool_exhausted),
    (sa.IntegrityError, None, _integrity),
    ((sa.DataError, sa.ProgrammingError), None, _refused_value),
    (_DRIVER, None, _failed),
    # A statement that never reached the driver: a value its column type cannot bind.
    (sa.StatementError, None, _unbindable),
    (sa.NoSuchModuleError, None, _no_driver),
    (sa.SQLAlchemyError, None, _internal),
)
