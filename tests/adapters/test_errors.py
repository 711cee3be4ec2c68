"""The exception tree: its docstring drawing is true, its fields are optional and keyword-only,
and every exception an adapter can see is mapped onto it (httpx, aiohttp and sockets by the
HTTP edge, SQLAlchemy and its drivers by the database edge, smtplib by the email channel).

The mapping tests enumerate the libraries' classes at run time, so a class a new library
version adds is tested without anyone listing it; `instance_of` fails loudly when it cannot
build one, rather than skipping it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pickle
import pkgutil
import re
import smtplib
import socket
import sqlite3
import ssl
from collections.abc import Iterable
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy.exc as sa
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from sqlalchemy import create_engine
from yarl import URL

import monitor
import monitor.errors as errors
from monitor.adapters.channels.email import map_smtp_error
from monitor.adapters.db.errors import DATABASE_EXCEPTIONS, database_errors, map_database_error
from monitor.adapters.http import FetchLimits
from monitor.adapters.http.errors import TRANSPORT_EXCEPTIONS, transport_error
from monitor.config import EmailChannel
from monitor.errors import (
    DatabaseError,
    DatabaseKind,
    DatabaseUnavailable,
    DeliveryError,
    FetchError,
    HTTPStatusError,
    MonitorError,
    ParseError,
    TransactionFailed,
)

# --- the tree in the docstring ---------------------------------------------------------------

_TREE_LINE = re.compile(r"^    (?P<prefix>(?:[│ ]   |[├└]── )*)(?P<name>[A-Z]\w*)(?:\s|$)")


def drawn_tree(docstring: str) -> dict[str, str | None]:
    """{class name: parent name} as the docstring draws them; continuation lines (a prefix
    that does not end in a branch) are text, not classes."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in docstring.splitlines():
        found = _TREE_LINE.match(line)
        if not found:
            continue
        prefix = found["prefix"]
        if prefix and not prefix.endswith("── "):
            continue
        depth = len(prefix) // 4
        if depth > len(path):
            raise AssertionError(f"tree line deeper than its parent: {line!r}")
        del path[depth:]
        parents[found["name"]] = path[-1] if path else None
        path.append(found["name"])
    return parents


def defined_exceptions() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def test_the_drawn_tree_is_the_real_tree() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    defined = defined_exceptions()
    assert set(drawn) == set(defined), "draw every class of monitor/errors.py, and only those"
    for name, parent in drawn.items():
        base = defined[name].__bases__[0]
        expected = "Exception" if parent is None else parent
        assert base.__name__ == expected, f"{name} is drawn under {parent}, derives from {base}"


def test_the_other_classes_of_the_module_are_named_in_its_docstring() -> None:
    others = [
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and value.__module__ == errors.__name__
        and not issubclass(value, BaseException)
    ]
    assert others == ["DatabaseKind"]
    assert all(name in (errors.__doc__ or "") for name in others)


def test_every_error_class_of_monitor_lives_in_the_tree() -> None:
    """One tree: no module defines a MonitorError of its own (OPMLError moved here)."""
    for module in pkgutil.walk_packages(monitor.__path__, "monitor."):
        if module.name != "monitor.__main__":  # it runs the CLI when imported
            importlib.import_module(module.name)
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in subclasses(MonitorError)
        if cls.__module__ != errors.__name__
    ]
    assert strays == []


def test_every_class_says_when_it_is_raised() -> None:
    for name, cls in defined_exceptions().items():
        assert cls.__doc__ and len(cls.__doc__.split()) >= 8, name


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", [defined_exceptions()[name] for name in sorted(defined_exceptions())]
)
def test_the_message_alone_still_builds_every_error(cls: type[MonitorError]) -> None:
    error = cls("what went wrong")
    assert str(error) == "what went wrong"
    for field in ("feed", "url", "channel", "status", "kind"):
        assert getattr(error, field, None) is None


def test_fields_are_keyword_only_and_survive_a_process_boundary() -> None:
    """ParseErrors come back from the parser processes pickled."""
    with pytest.raises(TypeError):
        FetchError("x", 404)  # type: ignore[misc]
    samples: list[MonitorError] = [
        HTTPStatusError("gone", status=410, url="https://a.example/feed", feed="a"),
        ParseError("empty", url="https://a.example/feed", feed="a"),
        DeliveryError("later", channel="desk", status=451),
        DatabaseUnavailable("full", kind=DatabaseKind.FULL, feed="a", url="sqlite:///x.db"),
    ]
    for error in samples:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert vars(copy) == vars(error)
    assert DatabaseKind.FULL == "full"  # a StrEnum: JSON and logs show the plain word


# --- building instances of library classes ----------------------------------------------------


def subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found = {root}
    for sub in root.__subclasses__():
        found |= subclasses(sub)
    return found


def _request_info() -> RequestInfo:
    url = URL("https://feeds.example/rss")
    return RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)


def _connection_key() -> ConnectionKey:
    return ConnectionKey("feeds.example", 443, True, True, None, None, None)


_REQUEST = httpx.Request("GET", "https://feeds.example/rss")

# Arguments by parameter name, for constructors that need more than a message.
_ARGUMENTS: dict[str, Any] = {
    "message": "something failed",
    "msg": b"something failed",
    "code": 451,
    "recipients": {"desk@example.org": (550, b"no such user")},
    "sender": "monitor@example.org",
    "request": _REQUEST,
    "response": httpx.Response(503, request=_REQUEST),
    "request_info": _request_info(),
    "history": (),
    "connection_key": _connection_key(),
    "os_error": ConnectionRefusedError(111, "Connection refused"),
    "certificate_error": ssl.SSLCertVerificationError("certificate verify failed"),
    "url": "https://feeds.example/rss",
    "description": "bad URL",
    "expected": b"\x00" * 32,
    "got": b"\x01" * 32,
    "host": "feeds.example",
    "port": 443,
    "path": "/run/feeds.sock",
    "hdr": "X-Bad",
    "line": "x" * 100,
    "partial": b"",
    "statement": "INSERT INTO articles (title) VALUES (?)",
    "params": ("a title",),
    "orig": Exception("something failed"),
    "cycles": set(),
    "edges": set(),
    "tname": "articles",
    "cname": "feed_id",
    "target": object(),
    "compiler": object(),
    "element_type": type,
}

# C types whose constructors take more than a message.
_SPECIAL: dict[type[BaseException], BaseException] = {
    UnicodeDecodeError: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    UnicodeEncodeError: UnicodeEncodeError("idna", "x" * 70, 0, 70, "label too long"),
    UnicodeTranslateError: UnicodeTranslateError("x", 0, 1, "cannot translate"),
}


def instance_of(cls: type[BaseException]) -> BaseException:
    """An instance of `cls` built the way its code would: a message, or arguments by name.
    Classes whose constructor wants internal objects (ORM states, compilers) are built
    without running it, with the message as their args: the edges read types and text."""
    if cls in _SPECIAL:
        return _SPECIAL[cls]
    try:
        parameters = inspect.signature(cls).parameters.values()
    except ValueError:  # a C type without a signature: they all take a message
        return cls("something failed")
    required = [
        p
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not required:
        try:
            return cls("something failed")
        except TypeError:
            return cls()
    if all(p.name in _ARGUMENTS for p in required):
        args = [_ARGUMENTS[p.name] for p in required if p.kind != p.KEYWORD_ONLY]
        kwargs = {p.name: _ARGUMENTS[p.name] for p in required if p.kind == p.KEYWORD_ONLY}
        return cls(*args, **kwargs)
    if cls.__module__.startswith("sqlalchemy.orm"):
        bare = cls.__new__(cls)
        BaseException.__init__(bare, "something failed")
        return bare
    raise AssertionError(
        f"cannot build {cls.__module__}.{cls.__qualname__}({[p.name for p in required]}): "
        "teach _ARGUMENTS its parameters, then check the edge maps it"
    )


def check_all(
    classes: Iterable[type[BaseException]], map_one: Any, expected: type[MonitorError]
) -> list[str]:
    """The classes the edge does not turn into a non-empty `expected`, with what it did."""
    problems = []
    for cls in sorted(set(classes), key=lambda c: (c.__module__, c.__qualname__)):
        name = f"{cls.__module__}.{cls.__qualname__}"
        try:
            mapped = map_one(instance_of(cls))
        except Exception as exc:  # the test's report, not a hidden failure
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(mapped, expected) or not str(mapped).strip():
            problems.append(f"{name} -> {type(mapped).__name__}: {mapped!r}")
    return problems


# --- the HTTP edge ----------------------------------------------------------------------------


# Where a request's exceptions come from. OSError's subclasses from elsewhere (jinja2's
# TemplateNotFound, urllib's errors) are loaded in this process but never raised by a fetch.
_HTTP_STACK = {"builtins", "ssl", "socket", "asyncio", "httpx", "httpcore", "aiohttp", "anyio"}


def test_every_transport_exception_becomes_a_fetch_error() -> None:
    classes: set[type[BaseException]] = set(TRANSPORT_EXCEPTIONS)
    for root in (*TRANSPORT_EXCEPTIONS, httpx.HTTPError, aiohttp.ClientError):
        classes |= {c for c in subclasses(root) if c.__module__.split(".")[0] in _HTTP_STACK}
    url = httpx.URL("https://feeds.example/rss")
    limits = FetchLimits(timeout=2)
    assert check_all(classes, lambda exc: transport_error(exc, url, limits), FetchError) == []
    assert len(classes) > 60  # the enumeration found the libraries' trees


# --- the email edge ---------------------------------------------------------------------------


def test_every_smtp_exception_becomes_a_delivery_error() -> None:
    config = EmailChannel.model_validate(
        {"type": "email", "host": "127.0.0.1", "port": 25, "security": "none"}
        | {"sender": "monitor@example.org", "to": ["desk@example.org"]}
    )
    classes = subclasses(smtplib.SMTPException) | subclasses(ssl.SSLError)
    classes |= {TimeoutError, socket.gaierror, ConnectionRefusedError, OSError, ValueError}

    def mapped(exc: BaseException) -> DeliveryError:
        error = map_smtp_error(exc, config, "analysts")
        assert str(error).startswith("channel analysts: SMTP 127.0.0.1:25")
        return error

    assert check_all(classes, mapped, DeliveryError) == []


# --- the database edge ------------------------------------------------------------------------


def sqlalchemy_classes() -> set[type[BaseException]]:
    """Every exception class sqlalchemy.exc exports, and every subclass loaded (the ORM's,
    the dialects'). Warnings are left out: SQLAlchemy warns them, it never raises them (only
    pytest's "warnings are errors" would)."""
    # Loaded for their subclasses: the dialects' emulated DBAPI errors, the ORM's errors.
    for name in ("sqlalchemy.orm", "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql"):
        importlib.import_module(name)
    with contextlib.suppress(ImportError):  # its DBAPI emulation needs no asyncpg to import
        importlib.import_module("sqlalchemy.dialects.postgresql.asyncpg")

    exported = [
        value
        for value in vars(sa).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and not issubclass(value, Warning)
    ]
    found: set[type[BaseException]] = set()
    for cls in exported:
        found |= {sub for sub in subclasses(cls) if not issubclass(sub, Warning)}
    return found


def test_every_sqlalchemy_exception_becomes_a_database_error() -> None:
    classes = sqlalchemy_classes()
    unlisted = [cls for cls in classes if not issubclass(cls, DATABASE_EXCEPTIONS)]
    assert unlisted == [], "database_errors() would let these through"

    def through_the_edge(exc: BaseException) -> DatabaseError:
        with pytest.raises(DatabaseError) as raised, database_errors(what="storing articles"):
            raise exc
        assert raised.value.__cause__ is exc
        assert raised.value.kind is not None
        return raised.value

    assert check_all(classes, through_the_edge, DatabaseError) == []
    assert len(classes) > 50


def test_every_driver_exception_becomes_a_database_error_wrapped_or_bare() -> None:
    drivers = subclasses(sqlite3.Error)
    try:
        import psycopg

        drivers |= subclasses(psycopg.Error)
    except ImportError:  # PostgreSQL support is an extra
        pass

    def wrapped(exc: BaseException) -> DatabaseError:
        return map_database_error(sa.DBAPIError.instance("SELECT 1", {}, exc, Exception))

    assert check_all(drivers, wrapped, DatabaseError) == []
    # Bare: only from code on a raw DBAPI connection, which monitor has only for SQLite.
    assert check_all(subclasses(sqlite3.Error), map_database_error, DatabaseError) == []


def test_what_the_edge_does_not_own_passes_through() -> None:
    ours = TransactionFailed("already ours", kind=DatabaseKind.LOCKED)
    with pytest.raises(TransactionFailed) as raised, database_errors(what="x"):
        raise ours
    assert raised.value is ours
    with pytest.raises(ValueError), database_errors(what="x"):
        raise ValueError("a bug elsewhere is not a database error")


def test_the_url_in_a_message_never_shows_the_password() -> None:
    engine = create_engine("postgresql+psycopg://monitor:s3cret@db.example/monitor")
    exc = sa.OperationalError("SELECT 1", {}, Exception("connection refused"))
    error = map_database_error(exc, what="claiming due feeds", engine=engine)
    assert "s3cret" not in str(error) and error.url and "s3cret" not in error.url
    engine.dispose()
    assert str(error).startswith(
        "claiming due feeds: cannot reach the database postgresql+psycopg://monitor:***@"
    )
