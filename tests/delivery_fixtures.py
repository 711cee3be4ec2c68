"""Test helpers for digests and delivery: rows inserted with Core, watchlists, settings, and
real loopback receivers (an SMTP server and a webhook server). Nothing listens beyond
127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from monitor.adapters.db.digest_store import CreatedDigest
from monitor.adapters.db.schema import Article, Delivery, Digest, Feed, Match, Story
from monitor.adapters.db.transactions import write_transaction
from monitor.config import Settings, parse_settings
from monitor.core.watchlist import Term, Watchlist
from monitor.flows.digests import AlertPolicy, alerts_in_transaction

HOSTILE_TITLE = '<script>alert(1)</script> S-400 <img src=x onerror="alert(2)"> & Co'

feeds = Feed.__table__
stories = Story.__table__
articles = Article.__table__
matches = Match.__table__
digests = Digest.__table__
deliveries = Delivery.__table__


def watchlist(
    watchlist_id: str = "s400",
    *,
    name: str = "S-400 air defence system",
    channels: tuple[str, ...] = (),
    **overrides: Any,
) -> Watchlist:
    return Watchlist(
        id=watchlist_id,
        name=name,
        threshold=4.0,
        terms=(Term("S-400", weight=5.0), Term("CAATSA", weight=3.0)),
        channels=channels,
        **overrides,
    )


def settings_for(
    tmp_path: Path, channels: dict[str, Any] | None = None, **delivery: Any
) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
        "channels": channels or {},
        "delivery": {"base_delay": "1s", "max_delay": "10s", "max_attempts": 8, **delivery},
    }
    return parse_settings(data, tmp_path / "config.toml")


def explanation(snippet: str = "Turkey took delivery of the **S-400** system") -> dict[str, Any]:
    return {
        "score": 9.0,
        "terms": [
            {
                "term": "S-400",
                "title_count": 1,
                "body_count": 2,
                "contribution": 7.5,
                "snippets": [snippet],
            },
            {
                "term": "CAATSA",
                "title_count": 0,
                "body_count": 1,
                "contribution": 3.0,
                "snippets": ["sanctions under **CAATSA** loom"],
            },
            {
                "term": "Incirlik",
                "title_count": 0,
                "body_count": 0,
                "contribution": 0.0,
                "snippets": [],
            },
        ],
    }


@dataclass
class Rows:
    """Inserts feeds, stories, articles and matches; remembers ids by name."""

    engine: Engine
    now: datetime
    feed_ids: dict[str, int] = field(default_factory=dict)
    counter: int = 0

    def feed(self, name: str) -> int:
        if name not in self.feed_ids:
            with self.engine.begin() as connection:
                self.feed_ids[name] = connection.execute(
                    feeds.insert()
                    .values(
                        name=name,
                        url=f"https://{name}.example.org/rss",
                        configured_url=f"https://{name}.example.org/rss",
                        tags=[],
                        created_at=self.now,
                    )
                    .returning(feeds.c.id)
                ).scalar_one()
        return self.feed_ids[name]

    def story(self, title: str = "a story") -> int:
        with self.engine.begin() as connection:
            return connection.execute(
                stories.insert()
                .values(title=title, first_seen_at=self.now, last_seen_at=self.now)
                .returning(stories.c.id)
            ).scalar_one()

    def article(
        self,
        outlet: str,
        *,
        title: str | None = None,
        story_id: int | None = None,
        published_at: datetime | None = None,
        url: str | None = None,
    ) -> int:
        self.counter += 1
        n = self.counter
        feed_id = self.feed(outlet)
        with self.engine.begin() as connection:
            return connection.execute(
                articles.insert()
                .values(
                    feed_id=feed_id,
                    identity_key=f"id-{n}",
                    url=url or f"https://{outlet}.example.org/news/{n}",
                    title=title or f"S-400 story number {n}",
                    text="body",
                    published_at=published_at or self.now - timedelta(hours=1),
                    fetched_at=self.now,
                    updated_at=self.now,
                    content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
                    story_id=story_id,
                )
                .returning(articles.c.id)
            ).scalar_one()

    def match(
        self,
        watchlist_id: str,
        outlet: str,
        *,
        score: float = 9.0,
        title: str | None = None,
        story_id: int | None = None,
        published_at: datetime | None = None,
        matched_at: datetime | None = None,
        url: str | None = None,
        explain: dict[str, Any] | None = None,
    ) -> int:
        article_id = self.article(
            outlet, title=title, story_id=story_id, published_at=published_at, url=url
        )
        with self.engine.begin() as connection:
            return connection.execute(
                matches.insert()
                .values(
                    watchlist_id=watchlist_id,
                    article_id=article_id,
                    story_id=story_id,
                    score=score,
                    explanation=explain or explanation(),
                    matched_at=matched_at or self.now,
                )
                .returning(matches.c.id)
            ).scalar_one()


def match_rows(engine: Engine, watchlist_id: str | None = None) -> dict[int, Any]:
    query = select(matches)
    if watchlist_id is not None:
        query = query.where(matches.c.watchlist_id == watchlist_id)
    with engine.connect() as connection:
        return {row.id: row for row in connection.execute(query)}


def alert_matches(
    engine: Engine,
    watchlist: AlertPolicy,
    match_ids: Iterable[int],
    *,
    now: datetime,
    channels: Sequence[str] = ("mail",),
) -> list[CreatedDigest]:
    """What a feed's transaction does once it has stored these matches: the product's one
    alert path (flows.digests.alerts_in_transaction), here in a transaction of its own."""
    wanted = sorted(match_ids)
    with write_transaction(engine, what="alerting in a test") as connection:
        article_ids = connection.execute(
            select(matches.c.article_id).where(matches.c.id.in_(wanted))
        ).scalars()
        return alerts_in_transaction(
            connection, watchlist, channels=channels, article_ids=set(article_ids), now=now
        )


def delivery_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(deliveries).order_by(deliveries.c.id)))


def digest_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(digests).order_by(digests.c.id)))


# ---- receivers on loopback ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(
        secret.encode(), headers["X-Monitor-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers.get("X-Monitor-Signature", ""))


def hook_id(headers: dict[str, str]) -> str:
    """The delivery's id as a receiver sees it: webhook-id, else Idempotency-Key."""
    folded = {k.lower(): v for k, v in headers.items()}
    return folded.get("webhook-id") or folded.get("idempotency-key", "")


class InFlight:
    """Requests being answered right now, and the most there ever were (shareable)."""

    def __init__(self) -> None:
        self.current = 0
        self.most = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.current += 1
            self.most = max(self.most, self.current)

    def leave(self) -> None:
        with self._lock:
            self.current -= 1


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that answers from a script of statuses.

    `statuses` are used one per request (then 200 forever); "hang" never answers. Requests
    whose webhook-id (or Idempotency-Key) was already accepted are answered 200 and not
    accepted again, as the payload documentation asks receivers to do. `delay` seconds pass
    before each answer; `gauge` (and `shared`, which several receivers may share) count the
    requests being answered.
    """

    def __init__(
        self,
        statuses: list[int | str] | None = None,
        *,
        delay: float = 0.0,
        shared: InFlight | None = None,
        check: Callable[[bytes], int | None] | None = None,
    ) -> None:
        self.script = list(statuses or [])
        self.check = check  # the receiver's own rules: a status to refuse the body with
        self.delay = delay
        self.gauge = InFlight()
        self.shared = shared or InFlight()  # counts several receivers together
        self.requests: list[Received] = []
        self.accepted: list[Received] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The answer goes out as two writes (headers, body): with Nagle on, each waits
            # for the client's delayed ACK, 40 ms per request that no real receiver adds.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                receiver.gauge.enter()
                receiver.shared.enter()
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (or was killed) before the answer
                finally:
                    receiver.gauge.leave()
                    receiver.shared.leave()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender was killed mid-request: as any HTTP server, drop the
                    # incomplete request (it is neither answered nor accepted, and its id
                    # stays free for the retry that carries the whole body).
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items()}
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    step = receiver.script.pop(0) if receiver.script else 200
                if step == "hang":
                    receiver._release.wait(10)
                    return
                status = int(step)
                refused = receiver.check(body) if receiver.check and status < 300 else None
                status = refused or status
                received = Received(status, headers, body)
                with receiver._lock:
                    receiver.requests.append(received)
                    key = self.headers.get("webhook-id") or self.headers.get("Idempotency-Key", "")
                    if 200 <= status < 300 and key not in receiver._seen:
                        receiver._seen.add(key)
                        receiver.accepted.append(received)
                payload = b'{"ok": true}' if status < 300 else b"try again later"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A sender that gives up or is killed mid-request is part of several tests: quiet.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        # A short poll interval: shutdown() waits up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.received = threading.Event()
        self.refuse = refuse or {}  # recipient -> the SMTP reply that refuses it

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.received.set()
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(
    mailbox: Mailbox,
    *,
    users: dict[str, str] | None = None,
    **controller_options: Any,
) -> Iterator[int]:
    """aiosmtpd on 127.0.0.1 and a free port; with `users`, AUTH LOGIN/PLAIN against them."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and users is not None
            and users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    port = free_port()
    options: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": port,
        "server_hostname": "mail.test",  # no getfqdn() lookup
        **controller_options,
    }
    if users is not None:
        options.update(authenticator=authenticate, auth_require_tls=False)
    controller = Controller(mailbox, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
