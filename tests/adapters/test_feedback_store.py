"""adapters/db/feedback_store: labels, their history and one-click replays, on SQLite and (when
configured) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entries import T0, add_feed, entry
from sqlalchemy import Engine, insert, update

from monitor.adapters.db import article_store, feedback_store
from monitor.adapters.db.schema import articles, stories
from monitor.errors import InputError


def _articles(engine: Engine, n: int) -> list[int]:
    feed_id = add_feed(engine)
    with engine.begin() as c:
        stored = article_store.store_entries(c, feed_id, [entry(i) for i in range(n)], T0)
    return [s.article_id for s in stored.new]


def _same_story(engine: Engine, *article_ids: int) -> int:
    with engine.begin() as c:
        story_id = c.execute(
            insert(stories)
            .values(title="s", first_seen_at=T0, last_seen_at=T0)
            .returning(stories.c.id)
        ).scalar_one()
        c.execute(update(articles).where(articles.c.id.in_(article_ids)).values(story_id=story_id))
    return int(story_id)


def _label(
    engine: Engine,
    article_id: int,
    label: str,
    minutes: int,
    *,
    watchlist: str = "s400",
    who: str = "ana",
    note: str | None = None,
    token_id: str | None = None,
) -> feedback_store.Label | None:
    with engine.begin() as c:
        return feedback_store.record_label(
            c,
            watchlist_id=watchlist,
            article_id=article_id,
            label=label,
            who=who,
            note=note,
            at=T0 + timedelta(minutes=minutes),
            token_id=token_id,
        )


def test_the_newest_label_of_a_story_is_current_and_the_history_keeps_both(
    engine: Engine,
) -> None:
    first, copy = _articles(engine, 2)
    story = _same_story(engine, first, copy)
    _label(engine, first, "relevant", 1)
    _label(engine, copy, "irrelevant", 2, who="bo", note="a copy about cars")
    with engine.connect() as c:
        current = feedback_store.current_labels(c)
        history = feedback_store.label_history(c)
    assert [(lb.article_id, lb.story_id, lb.label, lb.who, lb.note) for lb in current] == [
        (copy, story, "irrelevant", "bo", "a copy about cars")
    ]
    assert [lb.label for lb in history] == ["relevant", "irrelevant"]
    assert current[0].labelled_at == T0 + timedelta(minutes=2)


def test_articles_without_a_story_are_labelled_each_on_their_own(engine: Engine) -> None:
    a, b = _articles(engine, 2)
    _label(engine, a, "relevant", 1)
    _label(engine, b, "irrelevant", 2)
    _label(engine, a, "irrelevant", 3)
    with engine.connect() as c:
        current = feedback_store.current_labels(c)
    assert [(lb.article_id, lb.label) for lb in current] == [(b, "irrelevant"), (a, "irrelevant")]


def test_watchlists_keep_their_own_labels_and_since_filters(engine: Engine) -> None:
    (a,) = _articles(engine, 1)
    _label(engine, a, "relevant", 1, watchlist="s400")
    _label(engine, a, "irrelevant", 60, watchlist="caatsa")
    with engine.connect() as c:
        s400 = feedback_store.current_labels(c, watchlist_id="s400")
        recent = feedback_store.current_labels(c, since=T0 + timedelta(minutes=30))
        recent_history = feedback_store.label_history(c, since=T0 + timedelta(minutes=30))
        caatsa_history = feedback_store.label_history(c, watchlist_id="caatsa")
    assert [(lb.watchlist_id, lb.label) for lb in s400] == [("s400", "relevant")]
    assert [lb.watchlist_id for lb in recent] == ["caatsa"]
    assert [lb.watchlist_id for lb in recent_history] == ["caatsa"]
    assert [lb.label for lb in caatsa_history] == ["irrelevant"]


def test_a_label_older_than_since_is_not_revived_by_an_older_one(engine: Engine) -> None:
    (a,) = _articles(engine, 1)
    _label(engine, a, "relevant", 40)
    _label(engine, a, "irrelevant", 10 * 60)
    with engine.connect() as c:
        current = feedback_store.current_labels(c, since=T0 + timedelta(minutes=30))
    assert [lb.label for lb in current] == ["irrelevant"]


def test_a_replayed_token_stores_nothing(engine: Engine) -> None:
    (a,) = _articles(engine, 1)
    first = _label(engine, a, "irrelevant", 1, token_id="tok-1")
    again = _label(engine, a, "relevant", 2, token_id="tok-1")
    other = _label(engine, a, "relevant", 3, token_id="tok-2")
    assert first is not None and first.label == "irrelevant"
    assert again is None
    assert other is not None
    with engine.connect() as c:
        assert [lb.label for lb in feedback_store.label_history(c)] == ["irrelevant", "relevant"]


def test_an_unknown_article_or_label_is_an_input_error(engine: Engine) -> None:
    (a,) = _articles(engine, 1)
    with pytest.raises(InputError, match="no stored article with id 999"):
        _label(engine, 999, "relevant", 1)
    with pytest.raises(InputError, match="'meh' is not one of relevant, irrelevant"):
        _label(engine, a, "meh", 1)
    with engine.connect() as c:
        assert feedback_store.label_history(c) == []
