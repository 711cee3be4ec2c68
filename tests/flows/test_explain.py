"""`monitor explain`: the right reason for every case, against a real database (SQLite, and
PostgreSQL when MONITOR_TEST_DATABASE_URL is set), with articles stored, scored and grouped
by the poll's own code, alerts and digests made by the digest flow."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from delivery_fixtures import digest_rows
from entries import T0
from sqlalchemy import Engine, select

from monitor.adapters.db import article_store, feed_store
from monitor.adapters.db.feed_store import FeedRow, FeedSpec
from monitor.adapters.db.schema import feeds
from monitor.cli import main
from monitor.cli.explain import print_text
from monitor.core.explain import Outcome
from monitor.core.identity import content_hash, identity_key
from monitor.core.model import NormalizedEntry
from monitor.core.urls import canonical_url
from monitor.core.watchlist import Watchlist, parse_watchlist
from monitor.flows.digests import record_digest
from monitor.flows.explain import explain_article
from monitor.flows.matching import MatchNewArticles

WATCHLIST = """
name = "Idlib desk"
threshold = 4.0
alert_threshold = 12.0
max_alerts_per_hour = 1
channels = ["local"]
feeds = ["wire", "desk"]
require = [["Idlib", "Syria", "Turkey"]]
exclude = ["football"]

[[terms]]
match = "Idlib"
weight = 5.0

[[terms]]
match = "ceasefire"
weight = 2.0

[[terms]]
match = "drone"
weight = 1.0
"""


@dataclass(frozen=True)
class Item:
    name: str
    feed: str
    title: str
    text: str
    url: str


FIRST_POLL = [
    Item(
        "delivered",
        "wire",
        "Idlib talks resume in Ankara",
        "Delegations met on Tuesday to discuss Idlib and the road ahead for the province.",
        "https://news.example/idlib-talks",
    ),
    Item(
        "alert",
        "wire",
        "Idlib ceasefire collapses as Idlib shelling resumes",
        "Idlib was shelled overnight. The ceasefire in Idlib is over, the ceasefire monitors say.",
        "https://news.example/idlib-ceasefire-collapses",
    ),
    Item(
        "rate_limited",
        "desk",
        "Idlib: ceasefire monitors count Idlib casualties",
        "In Idlib, counting goes on; Idlib hospitals are full, with a ceasefire nowhere in sight.",
        "https://desk.example/idlib-casualties",
    ),
    Item(
        "below_threshold",
        "wire",
        "Drone seen over northern Syria",
        "Residents filmed a drone above the hills of northern Syria on Monday evening.",
        "https://news.example/drone-syria",
    ),
    Item(
        "vetoed",
        "wire",
        "Idlib football club wins the cup",
        "The Idlib side lifted the trophy after a penalty shoot-out in a packed stadium.",
        "https://news.example/idlib-football",
    ),
    Item(
        "missing_group",
        "desk",
        "Ceasefire agreed in Gaza",
        "A ceasefire was agreed late on Sunday; the ceasefire starts at dawn, a drone strike ends.",
        "https://desk.example/gaza-ceasefire",
    ),
    Item(
        "not_covered",
        "sports",
        "Idlib reporters cover the region",
        "Our Idlib correspondents report daily from Idlib.",
        "https://sports.example/idlib-reporters",
    ),
]
# After the digest: another outlet's copy of the delivered story (the same canonical URL).
COPY = Item(
    "copy_of_delivered",
    "desk",
    "Idlib talks resume in Ankara (update)",
    "Delegations met on Tuesday to discuss Idlib and the road ahead for the province.",
    "https://news.example/idlib-talks?utm_source=desk",
)


def normalized(item: Item) -> NormalizedEntry:
    return NormalizedEntry(
        identity_key=identity_key(item.url, None, item.title, item.text),
        guid=item.url,
        url=item.url,
        canonical_url=canonical_url(item.url),
        title=item.title,
        text=item.text,
        author=None,
        published_at=T0,
        content_hash=content_hash(item.title, item.text),
    )


def feed_rows(engine: Engine) -> dict[str, FeedRow]:
    specs = [FeedSpec(name, f"https://{name}.example/rss") for name in ("wire", "desk", "sports")]
    with engine.begin() as connection:
        feed_store.sync_feeds(connection, specs, T0)
        rows = connection.execute(select(feeds.c.id, feeds.c.name)).all()
    return {name: FeedRow(i, name, "", (), None, None, None, None, 0, None) for i, name in rows}


def poll(
    engine: Engine,
    watchlist: Watchlist,
    items: list[Item],
    now: datetime,
    *,
    alert_to: Sequence[str] | None = None,
) -> dict[str, int]:
    """Store the items as the poll does: one transaction per feed, matched in it, and with
    `alert_to`, alerted in it to those channels (the transactional outbox)."""
    rows = feed_rows(engine)
    matching = MatchNewArticles(
        lambda: [watchlist],
        story_window=timedelta(days=7),
        alert_channels=None if alert_to is None else (lambda _: alert_to),
    )
    ids: dict[str, int] = {}
    for feed_name in dict.fromkeys(item.feed for item in items):
        mine = [item for item in items if item.feed == feed_name]
        with engine.begin() as connection:
            entries = [normalized(i) for i in mine]
            stored = article_store.store_entries(connection, rows[feed_name].id, entries, now)
            matching(connection, rows[feed_name], stored.new, now)
        by_url = {s.entry.url: s.article_id for s in stored.new}
        ids.update((item.name, by_url[item.url]) for item in mine)
    return ids


@pytest.fixture
def traced(engine: Engine) -> tuple[Engine, Watchlist, dict[str, int]]:
    watchlist = parse_watchlist(WATCHLIST, watchlist_id="idlib", source="idlib.toml")
    ids = poll(engine, watchlist, FIRST_POLL, T0, alert_to=["local"])
    alerts = digest_rows(engine)
    # The budget is one an hour: the second strong story waits.
    assert [a.kind for a in alerts] == ["alert"]
    record_digest(
        engine,
        watchlist,
        channels=["local"],
        window_key="w1",
        window_end=T0 + timedelta(hours=1),
        now=T0 + timedelta(hours=1),
    )
    ids.update(poll(engine, watchlist, [COPY], T0 + timedelta(hours=2)))
    return engine, watchlist, ids


CASES = [
    ("delivered", Outcome.DELIVERED, "in digest"),
    ("alert", Outcome.ALERTED, "alerted in alert"),
    ("rate_limited", Outcome.RATE_LIMITED, "max_alerts_per_hour"),
    ("below_threshold", Outcome.BELOW_THRESHOLD, "below threshold 4"),
    ("vetoed", Outcome.VETOED, "exclude 'football'"),
    ("missing_group", Outcome.MISSING_GROUP, "Idlib or Syria or Turkey"),
    ("copy_of_delivered", Outcome.COPY_OF_DELIVERED, "its story was delivered in digest"),
    ("not_covered", Outcome.NOT_COVERED, "`feeds`"),
]


@pytest.mark.parametrize(("name", "outcome", "words"), CASES, ids=[c[0] for c in CASES])
def test_explain_gives_the_reason(
    traced: tuple[Engine, Watchlist, dict[str, int]], name: str, outcome: Outcome, words: str
) -> None:
    engine, watchlist, ids = traced
    report = explain_article(engine, str(ids[name]), [watchlist])
    assert report is not None
    (verdict,) = report.watchlists
    assert verdict.outcome is outcome, verdict.detail
    assert words in verdict.detail
    if outcome in (Outcome.DELIVERED, Outcome.RATE_LIMITED, Outcome.COPY_OF_DELIVERED):
        assert verdict.digest is not None and verdict.digest.kind == "digest"
        assert verdict.digest.deliveries == (("local", "pending"),)
    if outcome is Outcome.ALERTED:
        assert verdict.alert is not None and verdict.alert.kind == "alert"
    if outcome is not Outcome.NOT_COVERED:
        assert verdict.explanation is not None and verdict.explanation["threshold"] == 4.0


def test_a_copy_is_found_by_its_canonical_url_and_joins_by_exact_signal(
    traced: tuple[Engine, Watchlist, dict[str, int]],
) -> None:
    engine, watchlist, ids = traced
    # Tracking parameters, fragment and host case do not matter.
    report = explain_article(
        engine, "https://NEWS.example/idlib-talks?utm_campaign=x#top", [watchlist]
    )
    assert report is not None
    assert report.article.article_id == ids["delivered"]
    assert report.also_found == (ids["copy_of_delivered"],)
    copy = explain_article(engine, str(ids["copy_of_delivered"]), [watchlist])
    assert copy is not None
    assert copy.identity.decision == "new"
    assert copy.identity.same_as == ((ids["delivered"], "wire", "url"),)
    assert copy.story.how == "same_url" and copy.story.with_article == ids["delivered"]
    assert copy.story_size == 2
    first = explain_article(engine, str(ids["delivered"]), [watchlist])
    assert first is not None and first.story.how == "opened"


def test_a_story_joined_by_similarity_names_the_article(engine: Engine) -> None:
    watchlist = parse_watchlist(WATCHLIST, watchlist_id="idlib", source="idlib.toml")
    text = (
        "Delegations from Turkey and Russia met in Sochi on Tuesday to discuss the future of "
        "Idlib province, where a fragile ceasefire has held since March, officials said."
    )
    original = Item("a", "wire", "Turkey and Russia meet on Idlib", text, "https://a.example/1")
    rewrite = Item(
        "b",
        "desk",
        "Turkey, Russia meet on Idlib",
        text + " More talks are planned.",
        "https://b.example/2",
    )
    ids = poll(engine, watchlist, [original], T0)
    ids.update(poll(engine, watchlist, [rewrite], T0 + timedelta(minutes=5)))
    report = explain_article(engine, str(ids["b"]), [watchlist])
    assert report is not None
    assert report.story.how == "similar" and report.story.with_article == ids["a"]
    assert report.story.similarity is not None and report.story.similarity >= 0.34


def test_unknown_url_says_so_and_exits_1(
    traced: tuple[Engine, Watchlist, dict[str, int]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, watchlist, _ids = traced
    assert explain_article(engine, "https://nowhere.example/x", [watchlist]) is None
    assert explain_article(engine, "999999", [watchlist]) is None
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n')
    assert main(["--config", str(config), "explain", "https://nowhere.example/x"]) == 1
    assert "no stored article is 'https://nowhere.example/x'" in capsys.readouterr().err


def test_explain_cli_text_and_json(traced: tuple[Engine, Watchlist, dict[str, int]]) -> None:
    engine, watchlist, ids = traced
    report = explain_article(engine, str(ids["alert"]), [watchlist])
    assert report is not None
    out = io.StringIO()
    print_text(report, out)
    text = out.getvalue()
    assert f"article {ids['alert']}: Idlib ceasefire collapses" in text
    assert "feed wire:" in text and "identity: new" in text
    assert "watchlist idlib: alerted" in text and "Idlib: +" in text
    document = report.as_dict()
    assert document["watchlists"][0]["outcome"] == "alerted"
    assert document["feed"]["name"] == "wire"
    assert document["story"]["how"] == "opened"
