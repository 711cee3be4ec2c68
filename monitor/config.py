"""config.toml → validated, typed settings.

Validation happens once, at load: unknown keys, wrong types, bad durations and sizes are all
reported together, each as `FILE: KEY: WHAT`, naming what would be valid. Relative paths are
resolved against the config file's folder. Secrets never live here: channels name the
environment variable that holds them (`password_env`, `secret_env`) and the adapter that
needs the secret reads it when it sends.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.units import MAX_SIZE, format_duration, parse_duration, parse_size
from monitor.errors import ConfigError

DEFAULT_CONFIG = "config.toml"
DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        # `interval = 15` would be 15 seconds to pydantic, and surely meant 15 minutes.
        raise ValueError(f'must be a duration string such as "15m", got {value!r}')
    return parse_duration(value)


def _size(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f'must be a size string such as "10MB", got {value!r}')
    return parse_size(value) if isinstance(value, str) else value


def _header_value(value: Any) -> Any:
    """A value sent in an HTTP header: a newline in it would end the header early."""
    if isinstance(value, str) and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"must be one line of printable text, got {value!r}")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size), Field(gt=0, le=MAX_SIZE)]
HeaderValue = Annotated[str, BeforeValidator(_header_value), Field(min_length=1)]
# A feed or channel name: letters (of any script), digits, "-", "_" and ".", starting with
# a letter or digit.
NAME_PATTERN = r"^[^\W_][\w.\-]*$"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class DatabaseSettings(_Strict):
    url: str = "sqlite:///data/monitor.db"


class PollingSettings(_Strict):
    interval: Duration = timedelta(minutes=15)
    concurrency: int = Field(200, ge=1, le=2000, strict=True)
    per_host: int = Field(2, ge=1, le=100, strict=True)
    timeout: Duration = timedelta(seconds=30)
    max_bytes: Size = 10_000_000
    max_redirects: int = Field(5, ge=0, le=30, strict=True)
    max_backoff: Duration = timedelta(hours=6)
    user_agent: HeaderValue = DEFAULT_USER_AGENT
    lease: Duration = timedelta(minutes=5)
    # Parsing is the CPU-bound stage; it runs in this many worker processes (0: a thread).
    parse_processes: int = Field(2, ge=0, le=64, strict=True)
    # Redirects from public addresses into private networks, and OPML-imported feeds at
    # private addresses, are refused unless this is true (config.toml feeds may point anywhere).
    allow_private_networks: bool = False
    # The newest this many entries of a feed are read; the older ones are counted and noted.
    max_entries: int = Field(500, ge=1, le=100_000, strict=True)
    # Feeds fetched (or being fetched) and not yet stored, and the bytes of their bodies:
    # fetching waits for parsing and storing, so memory does not grow with the feed count.
    # As many as the shipped concurrency: measured (bench/ingest.py) 400 held 15 MB more at
    # the peak for no speed, 150 capped the second poll's requests in flight (116x, not 142x).
    backlog: int = Field(200, ge=1, le=100_000, strict=True)
    backlog_bytes: Size = 64_000_000


def _backfill(value: Any) -> Any:
    # "0" (or 0) turns backfill off; any other value is a duration such as "3d".
    if value in ("0", 0):
        return timedelta(0)
    return _duration(value)


class WatchlistSettings(_Strict):
    dir: Path = Path("watchlists")
    # Stored articles scored against a watchlist that appears, changes or becomes valid
    # again, for its next digest; "0" turns it off.
    backfill: Annotated[timedelta, BeforeValidator(_backfill)] = timedelta(days=3)


class ServerSettings(_Strict):
    listen: str = "127.0.0.1:8080"
    # The address under which this server is reachable by the people reading digests
    # (usually a reverse proxy): set, it puts one-click feedback links into every digest.
    public_url: str = Field("", pattern=r"^(https?://[^\s?#]+)?$")
    feedback_secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    feedback_link_days: int = Field(30, ge=1, le=366, strict=True)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _links_are_signed(self) -> ServerSettings:
        if self.public_url and not self.feedback_secret_env:
            raise ValueError(
                "public_url is set but feedback_secret_env is not: name the environment "
                "variable that holds the secret feedback links are signed with"
            )
        if self.public_url and not self.listen:
            raise ValueError(
                'public_url is set but listen is "": the feedback links need the HTTP server; '
                "set listen, or remove public_url to turn the links off"
            )
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value == "":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f'must be "HOST:PORT" such as "127.0.0.1:8080", or "" for off, got {value!r}'
            )
        return value

    @property
    def host_port(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class RetentionSettings(_Strict):
    days: int = Field(90, ge=1, strict=True)
    batch: int = Field(1000, ge=1, strict=True)


class StorySettings(_Strict):
    window: Duration = timedelta(days=7)


class DeliverySettings(_Strict):
    max_attempts: int = Field(8, ge=1, le=100, strict=True)
    base_delay: Duration = timedelta(seconds=30)
    max_delay: Duration = timedelta(hours=1)
    timeout: Duration = timedelta(seconds=30)
    # Sends in flight in one process: per channel, and in all (also the rows claimed at once).
    per_channel: int = Field(4, ge=1, le=100)
    concurrency: int = Field(16, ge=1, le=500)
    # How long the end of a poll cycle (and `poll --once`) may spend draining the outbox.
    drain_time: Duration = timedelta(minutes=5)
    # How long a claimed outbox row stays with its worker; unset, the slowest send timeout
    # plus a minute. A killed worker's rows wait this long before another worker sends them.
    lease: Duration | None = None


def _outlet_title(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError(f"must be one line of text naming the outlet, got {value!r}")
        return value.strip()
    return value


class FeedSettings(_Strict):
    name: Name
    url: str = Field(pattern=r"^https?://\S+$")
    # The outlet's name as digests show it ("Hürriyet Daily News"); else the feed's <title>.
    title: Annotated[str, BeforeValidator(_outlet_title), Field(max_length=300)] | None = None
    tags: list[str] = Field(default_factory=list)
    interval: Duration | None = None


class FileChannel(_Strict):
    type: Literal["file"]
    path: Path


class EmailChannel(_Strict):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535, strict=True)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    sender_name: str | None = Field(None, max_length=200)  # the From display name
    # Where List-Unsubscribe mail goes (default: the sender).
    unsubscribe: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _login_needs_password(self) -> EmailChannel:
        if self.username and not self.password_env:
            raise ValueError(
                "username is set but password_env is not: name the environment "
                "variable that holds the SMTP password"
            )
        return self


class WebhookChannel(_Strict):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$")
    format: Literal["json", "slack", "discord", "teams"] = "json"
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    headers: dict[HeaderValue, HeaderValue] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=15)

    @field_validator("headers")
    @classmethod
    def _headers_once(cls, headers: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name in headers:
            if name.lower() in seen:
                raise ValueError(
                    f"header {name!r} is also given as {seen[name.lower()]!r}: header names "
                    f"ignore letter case, so give it once"
                )
            seen[name.lower()] = name
        return headers


class AppriseChannel(_Strict):
    type: Literal["apprise"]
    # The variable holding one or more Apprise URLs, space-separated: they carry tokens.
    urls_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: Duration = timedelta(seconds=30)


Channel = Annotated[
    FileChannel | EmailChannel | WebhookChannel | AppriseChannel, Field(discriminator="type")
]


class Settings(_Strict):
    """Everything config.toml says, validated. `config_file` is where it came from."""

    config_file: Path = Path(DEFAULT_CONFIG)
    database: DatabaseSettings = DatabaseSettings()
    polling: PollingSettings = PollingSettings()
    watchlists: WatchlistSettings = WatchlistSettings()
    server: ServerSettings = ServerSettings()
    retention: RetentionSettings = RetentionSettings()
    stories: StorySettings = StorySettings()
    delivery: DeliverySettings = DeliverySettings()
    feeds: list[FeedSettings] = Field(default_factory=list)
    channels: dict[Name, Channel] = Field(default_factory=dict)

    @field_validator("feeds")
    @classmethod
    def _unique_feed_names(cls, feeds: list[FeedSettings]) -> list[FeedSettings]:
        seen: set[str] = set()
        for feed in feeds:
            if feed.name in seen:
                raise ValueError(f"feed name {feed.name!r} is used twice; names must be unique")
            seen.add(feed.name)
        return feeds

    @model_validator(mode="after")
    def _lease_outlasts_sends(self) -> Settings:
        lease = self.delivery.lease
        if lease is None:
            return self
        # A lease that ends while its send is still running lets a second worker send the
        # same row at the same time: a duplicate the receiver may not be able to drop.
        slowest = max(send_timeouts(self))
        if lease <= slowest:
            raise ValueError(
                f"delivery.lease ({format_duration(lease)}) must be longer than the slowest "
                f"send timeout ({format_duration(slowest)}): raise it or lower that timeout"
            )
        return self

    @property
    def base_dir(self) -> Path:
        return self.config_file.parent

    def resolve(self, path: Path) -> Path:
        """A path from the config, resolved against the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def watchlist_dir(self) -> Path:
        return self.resolve(self.watchlists.dir)


def send_timeouts(settings: Settings) -> list[timedelta]:
    """`[delivery] timeout` and every channel's own `timeout`: the limits a send may take."""
    timeouts = [settings.delivery.timeout]
    timeouts += [c.timeout for c in settings.channels.values() if hasattr(c, "timeout")]
    return timeouts


def _where(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for position, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif position == 2 and loc[0] == "channels":
            continue  # pydantic's discriminator tag: not a key the user wrote
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _message(error: Any, model_fields: dict[str, list[str]]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return 'channel "type" must be one of "file", "email", "webhook", "apprise"'
    if kind == "literal_error":
        return f"must be {error['ctx']['expected']}, got {error['input']!r}"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(str(error["loc"][-1]), "")
        return f"invalid value {error['input']!r}{hint}"
    message: str = error["msg"]
    message = message.removeprefix("Value error, ")
    if kind in {
        "int_parsing",
        "int_type",
        "string_type",
        "float_type",
        "list_type",
        "dict_type",
        "bool_type",
        "timedelta_type",
        "int_from_float",
    }:
        message = f"{message.lower()}, got {error['input']!r}"
    return message


_PATTERN_HINTS = {
    "url": ": must be an http:// or https:// URL",
    "name": ": use letters, digits, '-', '_' and '.', starting with a letter or digit",
    "sender": ": must be an email address",
    "password_env": ": must be the name of an environment variable, e.g. MONITOR_SMTP_PASSWORD",
    "secret_env": ": must be the name of an environment variable, e.g. MONITOR_WEBHOOK_SECRET",
    "feedback_secret_env": ": must be the name of an environment variable, "
    "e.g. MONITOR_FEEDBACK_SECRET",
    "public_url": ": must be an http:// or https:// URL without query or fragment",
    "urls_env": ": must be the name of an environment variable, e.g. MONITOR_APPRISE_URLS",
}


def _valid_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """The keys that would have been valid where an unknown key was found."""
    if loc[0] == "channels" and len(loc) == 4:
        channel: dict[str, type[BaseModel]] = {
            "file": FileChannel,
            "email": EmailChannel,
            "webhook": WebhookChannel,
            "apprise": AppriseChannel,
        }
        model_of_type = channel.get(str(loc[2]))
        return sorted(model_of_type.model_fields) if model_of_type else None
    current: Any = model
    for item in loc[:-1]:
        if isinstance(item, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(item)
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    """Validate a parsed config document; raise ConfigError listing every problem."""
    if "config_file" in data:  # our own bookkeeping field, not a key users may write
        raise ConfigError(f"{path}: config_file: unknown key")
    try:
        return Settings.model_validate({**data, "config_file": path})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = f"{path}: {_where(loc)}: {_message(error, {})}"
            if error["type"] == "extra_forbidden":
                valid = _valid_keys(Settings, loc)
                if valid:
                    keys = ", ".join(k for k in valid if k != "config_file")
                    line += f"; valid keys here: {keys}"
            problems.append(line)
        raise ConfigError(problems) from None


def config_path(explicit: str | os.PathLike[str] | None, environ: dict[str, str]) -> Path:
    """--config wins, then $MONITOR_CONFIG, then ./config.toml."""
    return Path(explicit or environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG)


def load_settings(
    explicit: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read and validate the config file; `$MONITOR_DATABASE_URL` overrides [database] url."""
    env = dict(os.environ if environ is None else environ)
    path = config_path(explicit, env).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8): is this config.toml?"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; --config takes the config file") from None
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (use --config PATH or $MONITOR_CONFIG)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    settings = parse_settings(data, path)
    where = f"{path}: database.url"
    if env.get("MONITOR_DATABASE_URL"):
        where = "$MONITOR_DATABASE_URL"
        settings = settings.model_copy(
            update={"database": DatabaseSettings(url=env["MONITOR_DATABASE_URL"])}
        )
    check_database_url(settings.database.url, where)
    return settings


_DATABASE_HINT = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def check_database_url(url: str, where: str) -> None:
    """A database URL monitor can open, with its driver installed; ConfigError otherwise."""
    from sqlalchemy.engine import make_url  # only commands that open a database get here

    shown = url.split("@")[-1] if "@" in url else url  # no password in the message
    try:
        parsed = make_url(url)
        _ = parsed.port  # a non-numeric port only fails when it is read
    except Exception:
        raise ConfigError(f"{where}: cannot parse {shown!r}: {_DATABASE_HINT}") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "pysqlite":
        return
    if backend == "postgresql" and driver == "psycopg":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(
                f"{where}: PostgreSQL needs the psycopg driver: pip install 'monitor[postgres]'"
            )
        return
    if backend == "postgresql":
        raise ConfigError(
            f"{where}: driver {parsed.drivername!r} is not supported: "
            "write postgresql+psycopg://USER@HOST/DB (and pip install 'monitor[postgres]')"
        )
    raise ConfigError(f"{where}: {backend!r} databases are not supported: {_DATABASE_HINT}")


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL, with a relative SQLite path resolved against the config folder."""
    url = settings.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        relative = url[len(prefix) :]
        return prefix + str(settings.resolve(Path(relative)))
    return url
