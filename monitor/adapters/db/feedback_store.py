"""Feedback labels in the database: record one, read the current ones or the whole history.

Takes a Connection and never commits (flows/ own the transactions). Every label is a row;
the current label is the newest row per (watchlist, story), or per (watchlist, article) for
an article that has no story, so relabelling keeps the history and the last word wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from monitor.adapters.db.dialect import insert_ignoring_conflicts
from monitor.adapters.db.schema import articles, feedback
from monitor.core.states import FeedbackLabel
from monitor.errors import InputError


@dataclass(frozen=True)
class Label:
    watchlist_id: str
    article_id: int
    story_id: int | None
    label: str  # a core.states.FeedbackLabel value
    who: str
    note: str | None
    labelled_at: datetime


def record_label(
    conn: Connection,
    *,
    watchlist_id: str,
    article_id: int,
    label: str,
    who: str,
    note: str | None,
    at: datetime,
    token_id: str | None = None,
) -> Label | None:
    """Store a label for the article's story; None when `token_id` already stored one.

    Raises InputError for a label that is not a FeedbackLabel or an article that is not
    stored. The story is the article's story now: a label speaks for every copy of it.
    """
    try:
        value = FeedbackLabel(label)
    except ValueError:
        choices = ", ".join(m.value for m in FeedbackLabel)
        raise InputError(f"label {label!r} is not one of {choices}") from None
    story_id = conn.execute(
        select(articles.c.story_id).where(articles.c.id == article_id)
    ).one_or_none()
    if story_id is None:
        raise InputError(f"no stored article with id {article_id}")
    stored = Label(watchlist_id, article_id, story_id[0], value.value, who, note, at)
    row = {
        "watchlist_id": watchlist_id,
        "article_id": article_id,
        "story_id": stored.story_id,
        "label": stored.label,
        "who": who,
        "note": note,
        "labelled_at": at,
        "token_id": token_id,
    }
    if token_id is None:
        conn.execute(feedback.insert(), [row])
        return stored
    # ON CONFLICT DO NOTHING rather than look-then-insert: two presses of the same link
    # racing on two workers still store one row.
    statement = insert_ignoring_conflicts(conn, feedback).values(row).returning(feedback.c.id)
    return stored if conn.execute(statement).one_or_none() is not None else None


def label_history(
    conn: Connection, *, watchlist_id: str | None = None, since: datetime | None = None
) -> list[Label]:
    """Every label stored (at or after `since`), oldest first."""
    return [_label(r) for r in _rows(conn, watchlist_id, since)]


def current_labels(
    conn: Connection, *, watchlist_id: str | None = None, since: datetime | None = None
) -> list[Label]:
    """The label in force per (watchlist, story), oldest first; `since` keeps those given at
    or after it. A newer label replaces an older one even when the older is within `since`."""
    newest: dict[tuple[Any, ...], Label] = {}
    for label in map(_label, _rows(conn, watchlist_id, None)):
        newest[_subject(label)] = label  # rows come oldest first, so the last one wins
    kept: Iterable[Label] = newest.values()
    if since is not None:
        kept = (label for label in kept if label.labelled_at >= since)
    return sorted(kept, key=lambda label: label.labelled_at)


def _subject(label: Label) -> tuple[Any, ...]:
    if label.story_id is not None:
        return (label.watchlist_id, "story", label.story_id)
    return (label.watchlist_id, "article", label.article_id)


def _rows(conn: Connection, watchlist_id: str | None, since: datetime | None) -> list[Row[Any]]:
    query = select(feedback).order_by(feedback.c.labelled_at, feedback.c.id)
    if watchlist_id is not None:
        query = query.where(feedback.c.watchlist_id == watchlist_id)
    if since is not None:
        query = query.where(feedback.c.labelled_at >= since)
    return list(conn.execute(query))


def _label(row: Row[Any]) -> Label:
    return Label(
        row.watchlist_id,
        row.article_id,
        row.story_id,
        row.label,
        row.who,
        row.note,
        row.labelled_at,
    )
