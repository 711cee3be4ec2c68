"""Issue 9 in the flows: a story delivered to a watchlist, then a poll later a copy and a
development of it. The copy is suppressed (recorded, never delivered); the development is
delivered as an update of the story, alerted when strong, listed by `stories list` and
explained with its rule. Real SQLite (and PostgreSQL when MONITOR_TEST_DATABASE_URL is set),
articles stored, scored and grouped by the poll's own code."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from delivery_fixtures import alert_matches
from entries import T0
from sqlalchemy import Engine, select

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.digest_store import CreatedDigest
from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.db.schema import digests, feeds, matches, story_decisions
from monitor.cli import main
from monitor.core.developments import Rule
from monitor.core.digest import DigestContent
from monitor.core.explain import Outcome
from monitor.core.identity import content_hash, identity_key
from monitor.core.model import NormalizedEntry
from monitor.core.urls import canonical_url
from monitor.core.watchlist import Watchlist, parse_watchlist
from monitor.flows.digests import record_digest
from monitor.flows.explain import explain_article
from monitor.flows.matching import MatchNewArticles
from monitor.flows.reports import list_stories

WATCHLIST = """
name = "Border desk"
threshold = 4.0
alert_threshold = {alert}
channels = ["local"]

[[terms]]
match = "Cilvegozu"
weight = 5.0
"""

LEDE = (
    "Turkey closed the Cilvegozu border crossing with Syria on Monday after a car bomb killed "
    "two people near the gate, the governor's office said. The crossing is the main route for "
    "aid deliveries into northwestern Syria."
)


@dataclass(frozen=True)
class Item:
    feed: str
    title: str
    text: str
    url: str
    hours: float  # after T0


FIRST = Item("wire", "Turkey closes Cilvegozu border crossing after car bomb", LEDE,
             "https://wire.example/closes", 0)  # fmt: skip
COPY = Item(
    "desk",
    "Car bomb: Turkey shuts Cilvegozu crossing with Syria",
    "ANKARA (AW) - " + LEDE,
    "https://desk.example/shuts",
    3,
)
# A development that stays in the story: a new death toll (an opposite, "reopens", would be
# kept apart by grouping, core.developments.kept_apart: see the last test).
TOLL = Item(
    "wire",
    "Turkey closes Cilvegozu border crossing as car bomb toll rises to five",
    "The death toll from the car bomb at Turkey's Cilvegozu border crossing with Syria rose to "
    "five on Tuesday, the governor's office said. The crossing is the main route for aid "
    "deliveries into northwestern Syria.",
    "https://wire.example/toll",
    4,
)
REOPENS = Item(
    "wire",
    "Turkey reopens Cilvegozu border crossing days after car bomb",
    "Turkey reopened the Cilvegozu border crossing with Syria on Thursday, three days after a "
    "car bomb killed two people near the gate, the governor's office said. The crossing is the "
    "main route for aid deliveries into northwestern Syria.",
    "https://wire.example/reopens",
    4,
)


def poll(engine: Engine, watchlist: Watchlist, items: list[Item], now: datetime) -> dict[str, int]:
    """Store the items as the poll does: one transaction per feed, matched in it."""
    specs = [FeedSpec(name, f"https://{name}.example/rss") for name in ("wire", "desk")]
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, specs, T0)
        rows = {
            name: FeedRow(i, name, "", (), None, None, None, None, 0, None)
            for i, name in connection.execute(select(feeds.c.id, feeds.c.name)).all()
        }
    matching = MatchNewArticles(lambda: [watchlist], story_window=timedelta(days=7))
    ids: dict[str, int] = {}
    for item in items:
        entry = NormalizedEntry(
            identity_key=identity_key(item.url, None, item.title, item.text),
            guid=item.url,
            url=item.url,
            canonical_url=canonical_url(item.url),
            title=item.title,
            text=item.text,
            author=None,
            published_at=T0 + timedelta(hours=item.hours),
            content_hash=content_hash(item.title, item.text),
        )
        with engine.begin() as connection:
            stored = article_store.store_entries(connection, rows[item.feed].id, [entry], now)
            matching(connection, rows[item.feed], stored.new, now)
        ids[item.url] = stored.new[0].article_id
    return ids


def digest(engine: Engine, watchlist: Watchlist, key: str, now: datetime) -> DigestContent:
    return record_digest(
        engine, watchlist, channels=["local"], window_key=key, window_end=now, now=now
    ).content


def watchlist(alert: float = 99.0) -> Watchlist:
    return parse_watchlist(WATCHLIST.format(alert=alert), watchlist_id="border", source="b.toml")


def record_alerts(
    engine: Engine, desk: Watchlist, *, channels: list[str], found_since: datetime, now: datetime
) -> list[CreatedDigest]:
    """Alert the matches stored since `found_since` through the product's one alert path."""
    with engine.connect() as connection:
        ids = connection.execute(
            select(matches.c.id).where(
                matches.c.watchlist_id == desk.id, matches.c.matched_at >= found_since
            )
        ).scalars()
        wanted = list(ids)
    return alert_matches(engine, desk, wanted, now=now, channels=channels)


def test_a_copy_stays_suppressed_and_a_development_is_delivered_as_an_update(
    engine: Engine,
) -> None:
    desk = watchlist()
    ids = poll(engine, desk, [FIRST], T0)
    first = digest(engine, desk, "w1", T0 + timedelta(hours=1))
    assert [i.title for i in first.items] == [FIRST.title]
    ids |= poll(engine, desk, [COPY, TOLL], T0 + timedelta(hours=5))
    # Before the digest, explain tells what it would decide, and writes nothing.
    pending = explain_article(engine, str(ids[TOLL.url]), [desk])
    assert pending is not None
    (verdict,) = pending.watchlists
    assert verdict.outcome is Outcome.PENDING
    assert verdict.update is not None and not verdict.update.stored
    assert verdict.update.kind == "development"
    second = digest(engine, desk, "w2", T0 + timedelta(hours=6))

    # Both joined the delivered story; only the reopening is news.
    stories = {s["id"]: s for s in list_stories(engine)}
    assert len(stories) == 1
    assert [i.title for i in second.items] == [TOLL.title]
    update = second.items[0].development_of
    assert update is not None
    assert update.title == FIRST.title and update.url == FIRST.url
    assert update.story_id == second.items[0].story_id
    assert "five" in update.new_sentence
    with engine.connect() as connection:
        first_digest = connection.execute(
            select(digests.c.id).where(digests.c.window_key == "w1")
        ).scalar_one()
        copy_row = connection.execute(
            select(matches.c.duplicate_of_match_id, matches.c.id).where(
                matches.c.article_id == ids[COPY.url]
            )
        ).one()
        kinds = dict(
            connection.execute(select(story_decisions.c.match_id, story_decisions.c.kind)).all()
        )
    assert update.digest_id == first_digest
    assert copy_row.duplicate_of_match_id == update.match_id
    assert sorted(kinds.values()) == ["copy", "development"]

    # `stories list` shows the development; explain says which rule decided each.
    (story,) = stories.values()
    assert [d["title"] for d in story["developments"]] == [TOLL.title]
    copy = explain_article(engine, str(ids[COPY.url]), [desk])
    assert copy is not None
    (verdict,) = copy.watchlists
    assert verdict.outcome is Outcome.COPY_OF_DELIVERED
    assert verdict.update is not None and verdict.update.kind == "copy"
    assert f"rule {verdict.update.rule}" in verdict.detail
    news = explain_article(engine, str(ids[TOLL.url]), [desk])
    assert news is not None
    (verdict,) = news.watchlists
    assert verdict.outcome is Outcome.DELIVERED
    assert verdict.update is not None and verdict.update.kind == "development"
    assert "a development (rule" in verdict.detail

    # A third poll: another outlet's copy of the reopening is a copy of the update.
    late = Item("desk", "Cilvegozu car bomb toll rises to five, Turkey says", TOLL.text,
                "https://desk.example/toll", 7)  # fmt: skip
    poll(engine, desk, [late], T0 + timedelta(hours=8))
    assert digest(engine, desk, "w3", T0 + timedelta(hours=9)).items == ()


def test_a_strong_development_is_alerted_and_a_pending_copy_is_explained_before_the_digest(
    engine: Engine,
) -> None:
    desk = watchlist(alert=5.0)
    poll(engine, desk, [FIRST], T0)
    assert len(record_alerts(engine, desk, channels=["local"], found_since=T0, now=T0)) == 1
    later = T0 + timedelta(hours=5)
    ids = poll(engine, desk, [COPY, TOLL], later)
    alerts = record_alerts(engine, desk, channels=["local"], found_since=later, now=later)
    assert [a.content.items[0].title for a in alerts] == [TOLL.title]
    assert alerts[0].content.items[0].development_of is not None

    # The alert run decided the strong copy too, and explain shows that decision.
    report = explain_article(engine, str(ids[COPY.url]), [desk])
    assert report is not None
    (verdict,) = report.watchlists
    assert verdict.outcome is Outcome.COPY_OF_DELIVERED
    assert verdict.update is not None and verdict.update.stored
    assert verdict.update.kind == "copy"
    # The digest repeats neither the alerted story nor its alerted update, nor the copy.
    assert digest(engine, desk, "w1", later + timedelta(hours=1)).items == ()


def test_repeated_alerts_show_the_update_mark_again(engine: Engine) -> None:
    desk = parse_watchlist(
        WATCHLIST.format(alert=5.0).replace(
            'channels = ["local"]', 'channels = ["local"]\nrepeat_alerts_in_digest = true'
        ),
        watchlist_id="border",
        source="b.toml",
    )
    poll(engine, desk, [FIRST], T0)
    record_alerts(engine, desk, channels=["local"], found_since=T0, now=T0)
    later = T0 + timedelta(hours=5)
    poll(engine, desk, [TOLL], later)
    record_alerts(engine, desk, channels=["local"], found_since=later, now=later)
    shown = digest(engine, desk, "w1", later + timedelta(hours=1)).items
    marks = {i.title: i.development_of is not None for i in shown}
    assert marks == {FIRST.title: False, TOLL.title: True}


def test_a_reopening_is_a_story_of_its_own_and_delivered(engine: Engine) -> None:
    """Grouping keeps a templated opposite apart (closes / reopens): the reopening is a new
    story, delivered as one, while a copy of the closure still joins the closure's story."""
    desk = watchlist()
    poll(engine, desk, [FIRST], T0)
    digest(engine, desk, "w1", T0 + timedelta(hours=1))
    poll(engine, desk, [COPY, REOPENS], T0 + timedelta(hours=5))
    shown = digest(engine, desk, "w2", T0 + timedelta(hours=6)).items
    assert [(i.title, i.development_of) for i in shown] == [(REOPENS.title, None)]
    assert len(list_stories(engine)) == 2


def test_stories_list_prints_the_developments_in_order(
    sqlite_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = watchlist()
    poll(sqlite_engine, desk, [FIRST], T0)
    digest(sqlite_engine, desk, "w1", T0 + timedelta(hours=1))
    poll(sqlite_engine, desk, [TOLL], T0 + timedelta(hours=5))
    digest(sqlite_engine, desk, "w2", T0 + timedelta(hours=6))
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{sqlite_engine.url}"\n', encoding="utf-8")
    assert main(["--config", str(config), "stories", "list", "--since", "36500d"]) == 0
    out = capsys.readouterr().out
    assert "1 development" in out
    assert TOLL.title in out.split("1 development", 1)[1]
    assert main(["--config", str(config), "stories", "list", "--since", "36500d",
                 "--format", "json"]) == 0  # fmt: skip
    (story,) = json.loads(capsys.readouterr().out)
    assert [d["title"] for d in story["developments"]] == [TOLL.title]
    assert story["developments"][0]["rule"] in {rule.value for rule in Rule}


def background(count: int) -> list[Item]:
    """Unrelated reports, each a story of its own, so the window's word statistics know
    which words are rare (made-up words: no two of them near-copies)."""
    rng = random.Random(7)

    def words(k: int) -> str:
        return " ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(k))

    return [
        Item("wire", words(6).capitalize(), words(20) + ".", f"https://wire.example/bg-{n}", -1)
        for n in range(count)
    ]


# The closure re-headlined, headline only: too re-worded for grouping to join its story.
SHUT = Item("desk", "Car bomb shuts Turkey's Cilvegozu border crossing", "",
            "https://desk.example/cilvegozu-shut", 3)  # fmt: skip


def test_a_copy_grouping_missed_is_recognised_at_delivery_as_a_late_copy(engine: Engine) -> None:
    desk = watchlist()
    poll(engine, desk, [*background(40), FIRST], T0)
    assert [i.title for i in digest(engine, desk, "w1", T0 + timedelta(hours=1)).items] == [
        FIRST.title
    ]
    ids = poll(engine, desk, [SHUT, TOLL], T0 + timedelta(hours=5))
    stories = {s["title"]: s["id"] for s in list_stories(engine) if "Cilvegozu" in s["title"]}
    assert stories[SHUT.title] != stories[FIRST.title]  # grouping kept it apart
    # Before the digest, explain says what it will decide, and writes nothing.
    pending = explain_article(engine, str(ids[SHUT.url]), [desk])
    assert pending is not None
    (verdict,) = pending.watchlists
    assert verdict.update is not None and not verdict.update.stored
    assert (verdict.update.kind, verdict.update.rule) == ("copy", "late-copy")

    # Only the toll is news; the re-headlined closure is recorded as a copy of what was sent.
    second = digest(engine, desk, "w2", T0 + timedelta(hours=6))
    assert [i.title for i in second.items] == [TOLL.title]
    with engine.connect() as connection:
        decision = connection.execute(
            select(story_decisions.c.story_id, story_decisions.c.rule, story_decisions.c.kind)
            .join(matches, matches.c.id == story_decisions.c.match_id)
            .where(matches.c.article_id == ids[SHUT.url])
        ).one()
    assert tuple(decision) == (stories[FIRST.title], Rule.LATE_COPY.value, "copy")
    report = explain_article(engine, str(ids[SHUT.url]), [desk])
    assert report is not None
    (verdict,) = report.watchlists
    assert verdict.outcome is Outcome.COPY_OF_DELIVERED
    assert "late-copy" in verdict.detail
