"""Feedback labels: recorded from the command line or a one-click link, listed, exported as an
evaluation set; and the links themselves, minted into each digest as it is sent.

The only code that opens transactions for labels. Tokens are core.feedback_tokens' business;
the secret is read from the environment variable `[server] feedback_secret_env` names, when
it is needed, never stored.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from monitor.adapters.db import feedback_store
from monitor.adapters.db.errors import database_errors
from monitor.adapters.db.feedback_store import Label, LabelledArticle
from monitor.adapters.db.transactions import write_transaction
from monitor.config import Settings
from monitor.core.digest import DigestContent
from monitor.core.feedback_tokens import (
    MIN_SECRET_BYTES,
    FeedbackClaim,
    link_digest,
    verify_token,
)
from monitor.core.states import FeedbackLabel
from monitor.errors import ConfigError, InputError
from monitor.flows.explain import resolve_reference

TOKEN_ID_BYTES = 12  # 96 random bits: never guessed, never repeated


def feedback_secret(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The secret links are signed with; None when links are off (no `public_url`)."""
    server = settings.server
    if not server.public_url or server.feedback_secret_env is None:
        return None
    value = (os.environ if environ is None else environ).get(server.feedback_secret_env, "")
    if len(value.encode()) < MIN_SECRET_BYTES:
        state = "is not set" if not value else f"holds fewer than {MIN_SECRET_BYTES} bytes"
        raise ConfigError(
            f"{settings.config_file}: server.feedback_secret_env: the environment variable "
            f"{server.feedback_secret_env} {state}; put a long random secret in it "
            "(e.g. `openssl rand -base64 32`) or remove server.public_url to turn links off"
        )
    return value.encode()


def new_token_id() -> str:
    return secrets.token_urlsafe(TOKEN_ID_BYTES)


def with_feedback_links(
    settings: Settings,
    content: DigestContent,
    now: datetime,
    environ: Mapping[str, str] | None = None,
) -> DigestContent:
    """`content` with fresh one-click links when `[server] public_url` is set; as it is
    otherwise. ConfigError when links are on and the secret is missing."""
    secret = feedback_secret(settings, environ)
    if secret is None:
        return content
    return link_digest(
        content,
        secret=secret,
        public_url=settings.server.public_url,
        expires_at=now + timedelta(days=settings.server.feedback_link_days),
        new_token_id=new_token_id,
    )


def record_link_label(engine: Engine, claim: FeedbackClaim, now: datetime) -> Label | None:
    """Store what a verified link asks for; None when its token was used already.
    InputError when the article is no longer stored."""
    with write_transaction(engine, what="record a feedback label") as connection:
        return feedback_store.record_label(
            connection,
            watchlist_id=claim.watchlist_id,
            article_id=claim.article_id,
            label=claim.label.value,
            who="link",
            note=None,
            at=now,
            token_id=claim.token_id,
        )


def link_article(engine: Engine, claim: FeedbackClaim) -> LabelledArticle | None:
    """The article a link is about, for its confirmation page."""
    what = "read a feedback link's article"
    with database_errors(what=what, engine=engine), engine.connect() as connection:
        found = feedback_store.labelled_articles(connection, [claim.article_id])
        connection.rollback()
    return found.get(claim.article_id)


def record_cli_label(
    engine: Engine,
    reference: str,
    *,
    watchlist_id: str,
    label: FeedbackLabel,
    who: str,
    note: str | None,
    now: datetime,
) -> tuple[Label, LabelledArticle]:
    """`monitor feedback URL|ARTICLE_ID`: label the article `reference` names (the first
    stored copy, when a URL names several). InputError when it names none."""
    with database_errors(what="find the article", engine=engine):
        ids = resolve_reference(engine, reference)
    if not ids:
        raise InputError(f"no stored article is {reference!r} (give an article id or its URL)")
    with write_transaction(engine, what="record a feedback label") as connection:
        stored = feedback_store.record_label(
            connection,
            watchlist_id=watchlist_id,
            article_id=ids[0],
            label=label.value,
            who=who,
            note=note,
            at=now,
        )
        article = feedback_store.labelled_articles(connection, [ids[0]])[ids[0]]
    assert stored is not None  # only a token can be replayed
    return stored, article


@dataclass(frozen=True, slots=True)
class LabelRow:
    label: Label
    article: LabelledArticle | None

    def as_dict(self) -> dict[str, Any]:
        lb = self.label
        return {
            "watchlist": lb.watchlist_id,
            "article_id": lb.article_id,
            "story_id": lb.story_id,
            "label": lb.label,
            "who": lb.who,
            "note": lb.note,
            "labelled_at": lb.labelled_at,
            "title": self.article.title if self.article else None,
            "url": self.article.url if self.article else None,
        }


def list_labels(
    engine: Engine, *, watchlist_id: str | None, since: datetime | None
) -> list[LabelRow]:
    """The labels in force (newest per watchlist and story), oldest first."""
    what = "list feedback labels"
    with database_errors(what=what, engine=engine), engine.connect() as connection:
        labels = feedback_store.current_labels(connection, watchlist_id=watchlist_id, since=since)
        found = feedback_store.labelled_articles(connection, (lb.article_id for lb in labels))
        connection.rollback()
    return [LabelRow(lb, found.get(lb.article_id)) for lb in labels]


def export_labels(engine: Engine, *, watchlist_id: str | None) -> list[dict[str, Any]]:
    """The labelled articles as `monitor score` reads a .jsonl file, one object per article:
    `id`, `title`, `summary` (the stored text), `url`, and `relevant` / `irrelevant`, the
    watchlists whose label in force says so. Articles in article id order."""
    by_article: dict[int, dict[str, list[str]]] = {}
    rows = list_labels(engine, watchlist_id=watchlist_id, since=None)
    for row in rows:
        verdicts = by_article.setdefault(row.label.article_id, {"relevant": [], "irrelevant": []})
        verdicts[row.label.label].append(row.label.watchlist_id)
    articles = {row.label.article_id: row.article for row in rows}
    lines = []
    for article_id in sorted(by_article):
        article = articles[article_id]
        lines.append(
            {
                "id": str(article_id),
                "title": article.title if article else "",
                "summary": (article.text or "") if article else "",
                "url": article.url if article else None,
                "relevant": sorted(by_article[article_id]["relevant"]),
                "irrelevant": sorted(by_article[article_id]["irrelevant"]),
            }
        )
    return lines


class LinkFeedback:
    """What the daemon's /feedback pages need: verify a link, look at it, store its label.

    The database calls block; the HTTP layer runs them off the event loop.
    """

    def __init__(self, engine: Engine, secret: bytes, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.secret = secret
        self.clock = clock

    def verify(self, token: str) -> FeedbackClaim:
        """The claim of a genuine, unexpired link; core.feedback_tokens.TokenError otherwise."""
        return verify_token(self.secret, token, self.clock())

    def used(self, claim: FeedbackClaim) -> bool:
        what = "look a feedback link up"
        with database_errors(what=what, engine=self.engine), self.engine.connect() as connection:
            used = feedback_store.token_used(connection, claim.token_id)
            connection.rollback()
        return used

    def article(self, claim: FeedbackClaim) -> LabelledArticle | None:
        return link_article(self.engine, claim)

    def record(self, claim: FeedbackClaim) -> Label | None:
        return record_link_label(self.engine, claim, self.clock())
