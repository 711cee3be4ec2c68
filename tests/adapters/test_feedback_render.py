"""Feedback links in every rendering of a digest: email HTML and text (the file channel's
too), the generic JSON payload (valid against its schema), Slack, Discord and Teams, each
within its service's limits; and none of them when the digest carries no links."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest
from jsonschema import Draft202012Validator
from test_payload_limits import big_digest

from monitor.adapters.render import (
    discord_payload,
    json_payload,
    render_html,
    render_text,
    slack_payload,
    teams_payload,
)
from monitor.adapters.render.payloads import (
    DISCORD_EMBEDS_TOTAL_CHARS,
    TEAMS_MAX_BYTES,
    encoded_size,
    json_schema,
)
from monitor.core.digest import DigestContent
from monitor.core.feedback_tokens import link_digest
from monitor.core.states import DigestKind

SECRET = b"render-feedback-secret-012345678"
PUBLIC = "https://monitor.example.org"


def linked(content: DigestContent) -> DigestContent:
    numbers = itertools.count()
    with_ids = replace(
        content,
        items=tuple(replace(item, article_id=1000 + n) for n, item in enumerate(content.items)),
    )
    return link_digest(
        with_ids,
        secret=SECRET,
        public_url=PUBLIC,
        expires_at=with_ids.generated_at,
        new_token_id=lambda: f"id{next(numbers)}",
    )


DIGEST = linked(big_digest())
FIRST = DIGEST.items[0].feedback
ALERT = replace(DIGEST, kind=DigestKind.ALERT, items=DIGEST.items[:1], total=1)
assert FIRST is not None


def test_email_html_and_text_carry_both_links_of_every_story() -> None:
    html, text = render_html(DIGEST), render_text(DIGEST)
    for item in DIGEST.items:
        assert item.feedback is not None
        assert f'<a href="{item.feedback.relevant}"' in html
        assert f'<a href="{item.feedback.irrelevant}"' in html
        assert f"   Not relevant: {item.feedback.irrelevant}\n" in text
    assert html.count(">Not relevant</a>") == len(DIGEST.items)
    assert "<script" not in html


def test_without_links_nothing_is_added() -> None:
    plain = big_digest()
    assert "/feedback/" not in render_html(plain) + render_text(plain)
    assert all(story["feedback"] is None for story in json_payload(1, plain)["stories"])
    for payload in (slack_payload(1, plain), discord_payload(1, plain), teams_payload(1, plain)):
        assert "/feedback/" not in json.dumps(payload)


@pytest.mark.parametrize("content", [DIGEST, ALERT], ids=["digest", "alert"])
def test_the_json_payload_carries_the_links_and_stays_valid(content: DigestContent) -> None:
    payload = json.loads(json.dumps(json_payload(7, content)))
    validator = Draft202012Validator(json_schema())
    assert [e.message for e in validator.iter_errors(payload)] == []
    assert payload["stories"][0]["feedback"] == {
        "relevant": FIRST.relevant,
        "irrelevant": FIRST.irrelevant,
    }


def test_slack_links_both_labels_in_each_story() -> None:
    sections = [b for b in slack_payload(7, DIGEST)["blocks"] if b["type"] == "section"]
    assert sections
    first = sections[0]["text"]["text"]
    assert f"<{FIRST.relevant}|Relevant> · <{FIRST.irrelevant}|Not relevant>" in first


def test_discord_gives_the_links_a_field_within_the_size_budget() -> None:
    payload = discord_payload(7, DIGEST)
    embeds = payload["embeds"]
    assert embeds and all(len(e["fields"]) == 1 for e in embeds)
    assert f"[Not relevant]({FIRST.irrelevant})" in embeds[0]["fields"][0]["value"]
    size = sum(
        len(e["title"])
        + len(e.get("description", ""))
        + len(e["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"]) for f in e["fields"])
        for e in embeds
    )
    assert size <= DISCORD_EMBEDS_TOTAL_CHARS


def test_teams_shows_two_buttons_per_story_within_28_kb() -> None:
    payload = teams_payload(7, DIGEST)
    assert encoded_size(payload) <= TEAMS_MAX_BYTES
    body = payload["attachments"][0]["content"]["body"]
    actions = [
        element["actions"]
        for container in body
        if container["type"] == "Container"
        for element in container["items"]
        if element["type"] == "ActionSet"
    ]
    assert actions
    assert [(a["title"], a["url"]) for a in actions[0]] == [
        ("Relevant", FIRST.relevant),
        ("Not relevant", FIRST.irrelevant),
    ]
