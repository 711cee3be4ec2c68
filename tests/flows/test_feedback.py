"""flows/feedback: labels from the command line and from links, the labels in force, the
evaluation set `monitor score` reads, and the links minted into a digest as it is sent. On
SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from entries import T0, add_feed, entry
from sqlalchemy import Engine

from monitor.adapters.db import article_store
from monitor.adapters.files.articles import read_articles
from monitor.config import parse_settings
from monitor.core.digest import DigestContent, DigestItem
from monitor.core.feedback_tokens import FeedbackClaim, verify_token
from monitor.core.states import DigestKind, FeedbackLabel
from monitor.errors import ConfigError, InputError
from monitor.flows.feedback import (
    export_labels,
    list_labels,
    record_cli_label,
    record_link_label,
    with_feedback_links,
)

SECRET = "flows-feedback-secret-0123456789"


def _stored(engine: Engine, n: int = 3) -> list[int]:
    feed_id = add_feed(engine)
    entries = [entry(i, text=f"Body of story {i} about the S-400.") for i in range(n)]
    with engine.begin() as c:
        return [s.article_id for s in article_store.store_entries(c, feed_id, entries, T0).new]


def _label(engine: Engine, reference: str, watchlist: str, label: str, minutes: int = 0) -> None:
    record_cli_label(
        engine,
        reference,
        watchlist_id=watchlist,
        label=FeedbackLabel(label),
        who="ana",
        note=None,
        now=T0 + timedelta(minutes=minutes),
    )


def test_an_article_is_labelled_by_its_id_or_any_form_of_its_url(engine: Engine) -> None:
    first, second, _ = _stored(engine)
    _label(engine, str(first), "s400", "relevant")
    _label(engine, "https://EXAMPLE.org/1?utm_source=mail#top", "s400", "irrelevant", 1)
    rows = [row.as_dict() for row in list_labels(engine, watchlist_id="s400", since=None)]
    assert [(r["article_id"], r["label"], r["title"]) for r in rows] == [
        (first, "relevant", "Story 0"),
        (second, "irrelevant", "Story 1"),
    ]


def test_an_unknown_article_says_so(engine: Engine) -> None:
    _stored(engine, 1)
    for reference in ("99999", "https://example.org/never-stored"):
        with pytest.raises(InputError, match=r"no stored article (is|with id)"):
            _label(engine, reference, "s400", "relevant")


def test_the_export_is_an_evaluation_set_monitor_score_reads(
    engine: Engine, tmp_path: Path
) -> None:
    a, b, c = _stored(engine)
    _label(engine, str(a), "s400", "relevant")
    _label(engine, str(a), "caatsa", "irrelevant", 1)
    _label(engine, str(b), "s400", "relevant", 2)
    _label(engine, str(b), "s400", "irrelevant", 3)  # changed its mind: the newest wins
    lines = export_labels(engine, watchlist_id=None)
    assert [(line["id"], line["relevant"], line["irrelevant"]) for line in lines] == [
        (str(a), ["s400"], ["caatsa"]),
        (str(b), [], ["s400"]),
    ]
    assert str(c) not in {line["id"] for line in lines}  # never labelled
    assert [line["id"] for line in export_labels(engine, watchlist_id="caatsa")] == [str(a)]

    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    articles = read_articles(path)
    assert [(x.id, x.title, x.url) for x in articles] == [
        (str(a), "Story 0", "https://example.org/0"),
        (str(b), "Story 1", "https://example.org/1"),
    ]
    assert "S-400" in articles[0].text


def test_a_link_stores_its_label_once(engine: Engine) -> None:
    (a,) = _stored(engine, 1)
    claim = FeedbackClaim("s400", a, FeedbackLabel.IRRELEVANT, T0 + timedelta(days=1), "tok")
    assert record_link_label(engine, claim, T0) is not None
    assert record_link_label(engine, claim, T0 + timedelta(minutes=1)) is None
    [row] = list_labels(engine, watchlist_id=None, since=None)
    assert (row.label.who, row.label.label) == ("link", "irrelevant")


def _toml(server: str) -> dict[str, object]:
    return tomllib.loads(server)


CONTENT = DigestContent(
    kind=DigestKind.DIGEST,
    watchlist_id="s400",
    watchlist_name="S-400",
    generated_at=T0,
    window_start=None,
    window_end=T0,
    total=2,
    items=tuple(
        DigestItem(
            match_id=n,
            story_id=None,
            title=f"Story {n}",
            url=None,
            source="wire",
            published_at=T0,
            score=5.0,
            matched_terms=("S-400",),
            snippet=None,
            also_reported_by=(),
            article_id=article_id,
        )
        for n, article_id in ((1, 41), (2, None))
    ),
)
LINKS_ON = (
    '[server]\npublic_url = "https://monitor.example.org/"\n'
    'feedback_secret_env = "FB_SECRET"\nfeedback_link_days = 7\n'
)


def test_links_name_the_article_and_label_and_expire_after_the_configured_days(
    tmp_path: Path,
) -> None:
    settings = parse_settings(_toml(LINKS_ON), tmp_path / "config.toml")
    linked = with_feedback_links(settings, CONTENT, T0, {"FB_SECRET": SECRET})
    first, old = linked.items
    assert old.feedback is None  # a payload frozen before article ids were kept
    assert first.feedback is not None
    for url, label in (
        (first.feedback.relevant, FeedbackLabel.RELEVANT),
        (first.feedback.irrelevant, FeedbackLabel.IRRELEVANT),
    ):
        assert url.startswith("https://monitor.example.org/feedback/")
        claim = verify_token(SECRET.encode(), url.rsplit("/", 1)[1], T0)
        assert (claim.watchlist_id, claim.article_id, claim.label) == ("s400", 41, label)
        assert claim.expires_at == T0 + timedelta(days=7)
    relevant, irrelevant = (first.feedback.relevant, first.feedback.irrelevant)
    assert relevant.rsplit("/", 1)[1].split(".")[0] != irrelevant.rsplit("/", 1)[1].split(".")[0]
    again = with_feedback_links(settings, CONTENT, T0, {"FB_SECRET": SECRET}).items[0]
    assert again.feedback is not None and again.feedback.relevant != relevant  # fresh token ids


def test_without_public_url_there_are_no_links_and_a_missing_secret_is_a_config_error(
    tmp_path: Path,
) -> None:
    off = parse_settings({}, tmp_path / "config.toml")
    assert with_feedback_links(off, CONTENT, T0, {}) is CONTENT
    on = parse_settings(_toml(LINKS_ON), tmp_path / "config.toml")
    with pytest.raises(ConfigError, match="FB_SECRET is not set"):
        with_feedback_links(on, CONTENT, T0, {})
    with pytest.raises(ConfigError, match="fewer than 16 bytes"):
        with_feedback_links(on, CONTENT, T0, {"FB_SECRET": "short"})
