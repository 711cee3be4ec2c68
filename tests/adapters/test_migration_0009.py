"""Migration 0009 converts the story signatures already stored, on SQLite and PostgreSQL: the
rows of an older release keep finding their stories, and a downgrade gives the older release
signatures it can read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, select

from monitor.adapters.db import story_store
from monitor.adapters.db.engine import migrations_dir
from monitor.adapters.db.schema import articles, feeds, stories, story_bands
from monitor.core import dedup

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WIRE = (
    "Turkey says S-400 talks with Russia continue",
    "Ankara is still negotiating a second batch of S-400 missiles with Moscow, officials said.",
)
RETITLED = (
    "Turkey: S-400 talks with Russia continue",
    "Ankara is still negotiating a second batch of S-400 missiles with Moscow, officials said.",
)


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def at_0008(engine: Engine) -> Iterator[Engine]:
    """The database downgraded to 0008; at head again afterwards, whatever the test did (the
    PostgreSQL one is shared by the session)."""
    _migrate(engine, "0008", down=True)
    try:
        yield engine
    finally:
        _migrate(engine, "head")


def _store_as_0008(engine: Engine) -> tuple[int, int]:
    """An article with a story and a 32-bit signature, and a pruned one, as 0008 stored them."""
    full = dedup.minhash(*WIRE).astype("<u4").tobytes()
    with engine.begin() as connection:
        feed_id = connection.execute(
            insert(feeds)
            .values(name="wire", url="https://w.example/rss", configured_url="x", created_at=NOW)
            .returning(feeds.c.id)
        ).scalar_one()
        story_id = connection.execute(
            insert(stories)
            .values(title=WIRE[0], first_seen_at=NOW, last_seen_at=NOW)
            .returning(stories.c.id)
        ).scalar_one()
        row = {"feed_id": feed_id, "published_at": NOW, "fetched_at": NOW, "updated_at": NOW}
        kept, pruned = connection.execute(
            insert(articles).returning(articles.c.id, sort_by_parameter_order=True),
            [
                {**row, "identity_key": "a", "title": WIRE[0], "text": WIRE[1],
                 "content_hash": "h1", "story_id": story_id, "signature": full, "pruned_at": None},
                {**row, "identity_key": "b", "title": "Gone", "text": None,
                 "content_hash": "h2", "story_id": None, "signature": full, "pruned_at": NOW},
            ],
        ).scalars().all()  # fmt: skip
        bands = story_store.stored_band_hashes(dedup.band_hashes(dedup.minhash(*WIRE)))
        created = int(NOW.timestamp())
        connection.execute(
            insert(story_bands),
            [{"band_hash": b, "created": created, "article_id": kept} for b in bands],
        )
    return kept, pruned


def _signatures(engine: Engine) -> dict[int, bytes | None]:
    with engine.connect() as connection:
        rows = connection.execute(select(articles.c.id, articles.c.signature))
        return {row.id: row.signature for row in rows}


def test_upgrade_cuts_stored_signatures_to_what_new_code_stores(at_0008: Engine) -> None:
    engine = at_0008
    kept, pruned = _store_as_0008(engine)
    _migrate(engine, "head")
    signatures = _signatures(engine)
    # Exactly what the parse workers now store for the same article, for the pruned row too.
    assert signatures[kept] == dedup.signature_to_bytes(dedup.minhash(*WIRE))
    assert signatures[pruned] == dedup.signature_to_bytes(dedup.minhash(*WIRE))
    # The converted row is still a story's candidate: a re-headlined copy joins its story.
    copy = story_store.NewArticle(kept + 100, *RETITLED, None, "h3", NOW)
    with engine.begin() as connection:
        (story_id,) = connection.execute(
            select(articles.c.story_id).where(articles.c.id == kept)
        ).one()
        found = story_store.find_story(connection, copy, since=NOW - timedelta(days=2))
    assert found == story_id


def test_downgrade_gives_the_older_release_full_signatures(at_0008: Engine) -> None:
    engine = at_0008
    kept, pruned = _store_as_0008(engine)
    _migrate(engine, "head")
    _migrate(engine, "0008", down=True)
    signatures = _signatures(engine)
    assert signatures[kept] == dedup.minhash(*WIRE).astype("<u4").tobytes()
    assert signatures[pruned] is None  # no text to make it from
