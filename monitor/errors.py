"""The one exception tree of monitor. Library exceptions are mapped onto it at the edges.

    MonitorError                  anything monitor reports to a user
    ├── ConfigError               config.toml is invalid (file: key: what)
    ├── WatchlistError            a watchlist file is invalid; carries every problem found
    ├── InputError                a command's argument or input file is wrong (exit 2)
    │   └── OPMLError             an OPML subscription list cannot be read (stage "opml")
    ├── DatabaseError             the database is misconfigured, or an operation on it failed
    │   ├── DatabaseUnavailable   the database as a whole cannot be used (down, full, read-only,
    │   │                         gone, damaged, not migrated): the work in progress stops
    │   └── TransactionFailed     one transaction failed and was rolled back (a lock held too
    │                             long, a broken constraint): only the work it was for fails
    ├── FetchError                one feed could not be fetched (stage "fetch")
    │   ├── FetchTimeout          no complete answer within the time limit
    │   ├── TooLarge              the body exceeded max_bytes after decompression
    │   ├── TooManyRedirects      a redirect loop or chain longer than the limit
    │   ├── HTTPStatusError       the server answered with an error status
    │   ├── BlockedAddress        the SSRF guard refused a hop into a private network
    │   └── ConnectError          DNS, TCP or TLS failed
    ├── ParseError                the bytes are not a feed we can read (stage "parse")
    └── DeliveryError             a channel did not accept a message (stage "deliver")
        ├── PermanentDeliveryError  retrying cannot help (bad address, 4xx other than 408/429)
        └── PartialDeliveryError  some of a channel's targets (Apprise URLs) accepted it: the
                                  retry goes to the others only

Every error's `str()` is a sentence a user can act on; the stage prefix says where it happened.
The command line exits 2 for ConfigError, WatchlistError and InputError (the input must be
fixed), 1 for the others (something failed while doing what was asked).
Where they apply, errors also carry structured fields, all keyword-only and None when unknown,
so logs, metrics and tests need not parse the sentence: `feed` (the feed's name), `url` (the
feed's URL, or the database's with its password hidden), `channel` (the channel's name),
`status` (an HTTP status or SMTP reply code) and, for DatabaseError, `kind` (a DatabaseKind).
The edges that map library exceptions onto this tree: adapters/http/errors.py (httpx, aiohttp,
sockets), adapters/db/errors.py (SQLAlchemy and its drivers), adapters/channels/email.py
(smtplib) and adapters/channels/webhook.py (httpx, for deliveries).
"""

from __future__ import annotations

from enum import StrEnum


class MonitorError(Exception):
    """Base of every error monitor raises on purpose.

    Raised (as one of its subclasses) whenever monitor can say what went wrong in a sentence.
    The command line prints `monitor: <stage>: <message>` and exits 1; anything else that
    escapes is a bug, and prints a traceback.
    """

    stage = "monitor"


class ConfigError(MonitorError):
    """config.toml (or a command-line value standing in for it) is invalid.

    Raised when the config is loaded, never later, with every problem found as one
    `file: key: what` line in `problems`. The user fixes the lines named; the CLI exits 2.
    """

    stage = "config"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class WatchlistError(MonitorError):
    """A watchlist file is invalid: bad TOML, unknown keys, terms that cannot match.

    Raised by `watchlists check` and on load, with every problem in `problems`. A running
    service keeps the last good version in force; the user fixes the file.
    """

    stage = "watchlist"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputError(MonitorError):
    """An argument names something that does not exist, or an input file cannot be used:
    `--feed nope`, `deliveries retry 99999`, a missing or malformed file."""

    stage = "input"


class OPMLError(InputError):
    """An OPML file given to `feeds import` cannot be read, or is not OPML.

    The message says what is wrong (cannot read, not XML, no <opml> with a <body>); the user
    exports the list again from their reader or fixes the file.
    """

    stage = "opml"


class DatabaseKind(StrEnum):
    """What kind of database failure a DatabaseError is; decides who stops and the advice."""

    UNAVAILABLE = "unavailable"  # cannot connect, the connection dropped, the file cannot be opened
    FULL = "full"  # the disk or quota holding the database is full: free space
    READONLY = "readonly"  # it can be read but not written: permissions, mount, standby server
    CORRUPT = "corrupt"  # the SQLite file is damaged or not a database: restore a backup
    SCHEMA = "schema"  # tables missing or from another version: run `monitor db upgrade`
    LOCKED = "locked"  # another writer held a lock past the timeout; the next try may succeed
    INTEGRITY = "integrity"  # a write broke a constraint (unique key, foreign key, check)
    INVALID = "invalid"  # the database refused a value or a statement: a bug in monitor
    CONFIG = "config"  # the URL, the driver or the migrations cannot be used as configured
    FAILED = "failed"  # anything else the database or SQLAlchemy reported


class DatabaseError(MonitorError):
    """The database is misconfigured, or an operation on it failed.

    Raised as itself for set-up problems (an invalid URL, a missing driver, migrations not
    found, another `monitor run` holding a SQLite file) and as a subclass when an operation
    fails. The message names the operation and what to check; `kind` classifies it, `feed`
    names the feed the operation was for, `url` the database (password hidden).
    """

    stage = "database"

    def __init__(
        self,
        message: str,
        *,
        kind: DatabaseKind | None = None,
        feed: str | None = None,
        url: str | None = None,
    ) -> None:
        self.kind = kind
        self.feed = feed
        self.url = url
        super().__init__(message)


class DatabaseUnavailable(DatabaseError):
    """The database as a whole cannot be used: every further operation would fail the same way.

    Raised when the server cannot be reached or dropped the connection, the disk is full, the
    file system or server is read-only, the SQLite file is gone, damaged or cannot be opened,
    or the tables are not migrated. Whatever is running stops (a poll cycle ends, leaving
    feeds for the next one); the user acts on the message (free space, start the server,
    run `monitor db upgrade`) and polls again.
    """


class TransactionFailed(DatabaseError):
    """One transaction failed and was rolled back; the database itself still works.

    Raised when a lock was held past the busy timeout, a write broke a constraint, or the
    database refused a value or statement. Only the work the transaction was for fails (in a
    poll: that one feed, which records the error and is retried with backoff). If the same
    error repeats for the same feed, it is a bug worth reporting with the message.
    """


class FetchError(MonitorError):
    """One feed could not be fetched: no usable HTTP answer, or an answer over a limit.

    Raised by the fetcher; the poll records it on the feed's row (`feeds list` shows it) and
    retries with backoff. The message says what to check: the URL, the server, the limits.
    """

    stage = "fetch"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        feed: str | None = None,
    ) -> None:
        self.status = status
        self.url = url
        self.feed = feed
        super().__init__(message)


class FetchTimeout(FetchError):
    """No complete answer within [polling] timeout: a slow or hanging server. Retried later;
    raise the timeout only for a feed known to be slow."""


class TooLarge(FetchError):
    """The body exceeded [polling] max_bytes after decompression (or a gzip bomb). Raise the
    limit if the feed is genuinely that large."""


class TooManyRedirects(FetchError):
    """A redirect loop, or a chain longer than the limit. Point the feed at the final URL."""


class HTTPStatusError(FetchError):
    """The server answered with an error status (`status`); 429 and 503 honour Retry-After,
    410 stops the feed. Check the URL, or wait for the server."""


class BlockedAddress(FetchError):
    """The SSRF guard refused a hop: a redirect from a public address into this machine's
    networks (loopback, private, link-local, CGNAT, cloud metadata), or an imported feed URL
    pointing there. Set `[polling] allow_private_networks = true` if the feed is meant to."""


class ConnectError(FetchError):
    """DNS, TCP or TLS failed before any answer: check the host name, the port, the server's
    certificate, or the network."""


class ParseError(MonitorError):
    """The bytes are not a feed we can read: empty, HTML, not XML, or the parser crashed.

    Raised after a successful fetch; the poll records it on the feed's row and retries with
    backoff. Raised too for input files of `score` and `watchlists suggest` that cannot be
    read. For a feed: check that the URL points at the feed itself, not at a web page.
    """

    stage = "parse"

    def __init__(
        self, message: str = "", *, url: str | None = None, feed: str | None = None
    ) -> None:
        self.url = url
        self.feed = feed
        super().__init__(message)


class DeliveryError(MonitorError):
    """A channel did not accept a message, for now: the outbox retries it with backoff.

    `channel` names the channel and `status` the HTTP status or SMTP reply when there was one.
    After the last attempt the delivery is dead-lettered (`deliveries list`); the user checks
    the channel's settings in config.toml and `monitor deliveries retry ID`.
    """

    stage = "deliver"

    def __init__(
        self, message: str, *, channel: str | None = None, status: int | None = None
    ) -> None:
        self.channel = channel
        self.status = status
        super().__init__(message)


class PartialDeliveryError(DeliveryError):
    """Some of the channel's targets (the URLs of an Apprise channel) accepted the message and
    others did not. `delivered` names those that did (opaque keys, no secrets): the outbox
    keeps them with the row, and the retry sends only to the others."""

    def __init__(
        self,
        message: str,
        *,
        delivered: frozenset[str] = frozenset(),
        channel: str | None = None,
        status: int | None = None,
    ) -> None:
        self.delivered = delivered
        super().__init__(message, channel=channel, status=status)


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: a refused address or login, a 4xx other than 408/429, a missing
    folder. The delivery is dead-lettered at once; fix the channel's config and retry it."""
