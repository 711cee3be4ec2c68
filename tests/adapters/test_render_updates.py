"""A development of a story delivered before reads as "Update: ..." with a link to what was
sent earlier, in every rendering: text, HTML (email and file channel), Slack, Discord, Teams
and the generic JSON payload; feed text in the mark is escaped like the rest."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fixed_time import NOW

from monitor.adapters.render import render_html, render_text, webhook_payload
from monitor.core.digest import DigestContent, DigestItem
from monitor.core.digest.model import DevelopmentOf
from monitor.core.states import DigestKind

NEW = "Turkey reopened the Cilvegozu crossing on Thursday, the governor said."
EARLIER = "Turkey closes Cilvegozu border crossing after car bomb"


def update(**overrides: object) -> DigestContent:
    mark = DevelopmentOf(
        story_id=7,
        match_id=41,
        article_id=410,
        title=EARLIER,
        url="https://news.example.org/closes",
        digest_id=12,
        new_sentence=NEW,
        rule="opposite-event",
    )
    values: dict[str, object] = {"development_of": mark}
    values.update(overrides)
    item = DigestItem(
        match_id=42,
        story_id=7,
        title="Turkey reopens Cilvegozu crossing",
        url="https://news.example.org/reopens",
        source="al-monitor",
        published_at=NOW - timedelta(hours=1),
        score=14.0,
        matched_terms=("Cilvegozu",),
        snippet=None,
        also_reported_by=(),
        **values,  # type: ignore[arg-type]
    )
    return DigestContent(
        kind=DigestKind.DIGEST,
        watchlist_id="border",
        watchlist_name="Border",
        generated_at=NOW,
        window_start=None,
        window_end=NOW,
        items=(item,),
        total=1,
    )


def rendered(fmt: str, content: DigestContent) -> str:
    if fmt == "text":
        return render_text(content)
    if fmt == "html":
        return render_html(content)
    return json.dumps(webhook_payload(fmt, 1, content), ensure_ascii=False)


FORMATS = ["text", "html", "slack", "discord", "teams", "json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_update_shows_its_new_sentence_and_what_came_before(fmt: str) -> None:
    out = rendered(fmt, update())
    assert "reopened the Cilvegozu crossing on Thursday" in out
    assert "https://news.example.org/closes" in out
    assert "Cilvegozu border crossing after car bomb" in out
    if fmt != "json":
        assert "Update:" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_story_seen_for_the_first_time_is_no_update(fmt: str) -> None:
    out = rendered(fmt, update(development_of=None))
    assert "Update:" not in out
    assert "news.example.org/closes" not in out


def test_the_json_payload_carries_development_of() -> None:
    story = webhook_payload("json", 1, update())["stories"][0]
    assert story["development_of"] == {
        "story_id": 7,
        "match_id": 41,
        "article_id": 410,
        "title": EARLIER,
        "url": "https://news.example.org/closes",
        "digest_id": 12,
        "new_sentence": NEW,
        "rule": "opposite-event",
    }
    plain = webhook_payload("json", 1, update(development_of=None))["stories"][0]
    assert plain["development_of"] is None


def test_feed_text_in_the_mark_is_escaped_and_bad_links_dropped() -> None:
    hostile = DevelopmentOf(
        story_id=7, match_id=41, article_id=None, title='<img src=x onerror="alert(1)">',
        url="javascript:alert(2)", digest_id=None, new_sentence="<script>alert(3)</script>",
        rule="new-event",
    )  # fmt: skip
    html = render_html(update(development_of=hostile))
    assert "<script>alert(3)" not in html and "<img src=x" not in html
    assert "javascript:" not in html
    assert (
        webhook_payload("json", 1, update(development_of=hostile))["stories"][0]["development_of"][
            "url"
        ]
        is None
    )
    slack = json.dumps(webhook_payload("slack", 1, update(development_of=hostile)))
    assert "<script>" not in slack
