"""Rendered digests against golden files, and feed markup never reaching HTML unescaped.

Set MONITOR_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change, then
review the diff.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fixed_time import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.channels.email import build_email
from monitor.adapters.db.schema import DigestKind
from monitor.adapters.render import (
    SCHEMA,
    WEBHOOK_FORMATS,
    discord_payload,
    render_html,
    render_text,
    safe_href,
    subject,
    webhook_payload,
)
from monitor.config import EmailChannel
from monitor.core.digest import Copy, DigestContent, DigestItem, Snippet

GOLDEN = Path(__file__).parent / "golden"


def item(n: int, title: str, **overrides: Any) -> DigestItem:
    values: dict[str, Any] = {
        "match_id": n,
        "story_id": 100 + n,
        "title": title,
        "url": f"https://news.example.org/{n}",
        "source": "al-monitor",
        "published_at": NOW - timedelta(hours=n),
        "score": 20.0 - n,
        "matched_terms": ("S-400", "CAATSA"),
        "snippet": Snippet(
            "Ankara took delivery of the S-400 despite CAATSA", ((28, 33), (42, 48))
        ),
        "also_reported_by": ("hurriyet", "reuters"),
        "copies": (
            Copy("hurriyet", f"https://hurriyet.example/{n}?a=1&b=2", "Turkey's S-400 batch"),
            Copy("reuters", f"https://reuters.example/{n}", "Turkey gets S-400 units"),
        ),
    }
    values.update(overrides)
    return DigestItem(**values)


def sample_digest() -> DigestContent:
    hostile_snippet = '<b>bold</b> S-400 <img src=x onerror="alert(3)"> &amp; more'
    items = (
        item(1, "Turkey receives second S-400 batch"),
        item(
            2,
            '<script>alert(1)</script> S-400 <img src=x onerror="alert(2)">',
            url="javascript:alert(1)",
            source="evil<feed>",
            snippet=Snippet(hostile_snippet, ((12, 17),)),
            also_reported_by=("<b>x</b>", "@everyone <!channel>"),
            copies=(
                Copy("<b>x</b>", "javascript:alert(4)", '<img src=x onerror="alert(5)">'),
                Copy("@everyone <!channel>", "https://ev.example/a|b>c(d)", "<!here>"),
            ),
        ),
        item(
            3,
            "US weighs CAATSA\nsanctions",
            url=None,
            snippet=None,
            also_reported_by=(),
            copies=(),
        ),
    )
    return DigestContent(
        kind=DigestKind.DIGEST,
        watchlist_id="s400",
        watchlist_name="S-400 air defence system",
        generated_at=NOW,
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        items=items,
        total=7,
    )


def sample_alert() -> DigestContent:
    return DigestContent(
        kind=DigestKind.ALERT,
        watchlist_id="s400",
        watchlist_name="S-400 air defence system",
        generated_at=NOW,
        window_start=None,
        window_end=NOW,
        items=(item(1, "Turkey activates S-400 radars"),),
        total=1,
    )


def empty_digest() -> DigestContent:
    return DigestContent(
        DigestKind.DIGEST, "s400", "S-400 air defence system", NOW, None, NOW, (), 0
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MONITOR_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with MONITOR_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# ---- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [("digest", sample_digest()), ("alert", sample_alert()), ("empty", empty_digest())],
)
def test_text_and_html_match_their_golden_files(name: str, content: DigestContent) -> None:
    check_golden(f"{name}.txt", render_text(content))
    check_golden(f"{name}.html", render_html(content))


@pytest.mark.parametrize("fmt", sorted(WEBHOOK_FORMATS))
def test_webhook_formats_match_their_golden_files(fmt: str) -> None:
    check_golden(f"webhook-{fmt}.json", as_json(webhook_payload(fmt, 42, sample_digest())))


def scrub_email(raw: bytes) -> str:
    """The message with what changes on every send replaced by placeholders."""
    text = raw.decode("ascii")
    boundaries = set(re.findall(r'boundary="([^"]+)"', text))
    for number, boundary in enumerate(sorted(boundaries)):
        text = text.replace(boundary, f"BOUNDARY-{number}")
    text = re.sub(r"^Date: .*$", "Date: <scrubbed>", text, flags=re.MULTILINE)
    return re.sub(r"^Message-ID: .*$", "Message-ID: <scrubbed>", text, flags=re.MULTILINE)


def email_channel() -> EmailChannel:
    return EmailChannel(
        type="email",
        host="127.0.0.1",
        security="none",
        sender="monitor@example.org",
        to=["desk@example.org", "analyst@example.org"],
    )


def test_the_email_matches_its_golden_file_with_changing_headers_scrubbed() -> None:
    message = Outgoing(7, 42, "analysts", "monitor-key-1", sample_digest())
    mail = build_email(email_channel(), message, SenderDeps(clock=lambda: NOW))
    assert mail["Message-ID"] == "<monitor-key-1@example.org>"
    assert mail["Subject"] == "S-400 air defence system: 7 new stories"
    check_golden("digest.eml", scrub_email(mail.as_bytes()))


# ---- escaping -----------------------------------------------------------------------------


def test_nothing_from_a_feed_reaches_the_html_unescaped() -> None:
    html = render_html(sample_digest())
    for raw in ("<script", "<img", "<b>", 'onerror="', "javascript:"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil&lt;feed&gt;" in html
    assert "&amp;amp; more" in html  # feed text that looks like an entity stays text
    # The only markup in snippets is ours: the hit, marked.
    assert re.search(r"<mark [^>]*>S-400</mark>", html)
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert re.search(r"(?i)(src|href)=\"(?!https?://)", html) is None


def test_the_plain_text_keeps_the_text_as_written() -> None:
    text = render_text(sample_digest())
    assert "<script>alert(1)</script>" in text  # plain text is never read as markup
    assert "*S-400*" in text
    assert "US weighs CAATSA sanctions" in text  # titles are one line
    assert "…and 4 more stories." in text


def test_subjects() -> None:
    assert subject(sample_digest()) == "S-400 air defence system: 7 new stories"
    assert subject(empty_digest()) == "S-400 air defence system: no new stories"
    assert (
        subject(sample_alert()) == "Alert · S-400 air defence system: Turkey activates S-400 radars"
    )
    one = DigestContent(DigestKind.DIGEST, "w", "W\nX", NOW, None, NOW, (item(1, "t"),), 1)
    assert subject(one) == "W X: 1 new story"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a", "https://example.org/a"),
        ("HTTP://example.org", "HTTP://example.org"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//example.org", None),
        (None, None),
        ("https://exa mple.org", None),
    ],
)
def test_only_http_links_are_linked(url: str | None, expected: str | None) -> None:
    assert safe_href(url) == expected


def test_the_json_payload_is_versioned_and_complete() -> None:
    payload = webhook_payload("json", 42, sample_digest())
    assert payload["schema"] == SCHEMA == "monitor.digest/v1"
    assert payload["digest_id"] == 42
    assert payload["watchlist"] == {"id": "s400", "name": "S-400 air defence system"}
    assert payload["generated_at"] == "2026-11-21T12:00:00Z"
    assert (payload["total"], payload["omitted"]) == (7, 4)
    story = payload["stories"][0]
    assert set(story) >= {
        "title",
        "url",
        "source",
        "published_at",
        "score",
        "matched_terms",
        "snippet",
        "also_reported_by",
    }
    assert story["snippet"][28:33] == "S-400"
    assert story["highlights"] == [[28, 33], [42, 48]]
    assert payload["stories"][1]["url"] is None  # javascript: is not a link anyone should follow


def test_chat_formats_cannot_ping_or_forge_links() -> None:
    slack = json.dumps(webhook_payload("slack", 1, sample_digest()))
    assert "<!channel>" not in slack and "<script>" not in slack
    assert "javascript:" not in slack
    discord = webhook_payload("discord", 1, sample_digest())
    assert discord["allowed_mentions"] == {"parse": []}
    assert "javascript:" not in json.dumps(discord)
    teams = webhook_payload("teams", 1, sample_digest())
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert "javascript:" not in json.dumps(teams)


def test_chat_formats_stay_within_the_services_limits() -> None:
    many = DigestContent(
        DigestKind.DIGEST,
        "w",
        "W" * 300,
        NOW,
        None,
        NOW,
        tuple(item(i, "T" * 400, snippet=Snippet("x" * 5000)) for i in range(60)),
        80,
    )
    slack = webhook_payload("slack", 1, many)
    assert len(slack["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in slack["blocks"] if b["type"] == "section")
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    discord = webhook_payload("discord", 1, many)
    assert len(discord["embeds"]) <= 10
    assert len(discord["content"]) <= 2000
    total = sum(
        len(e["title"]) + len(e["description"]) + len(e["footer"]["text"])
        for e in discord["embeds"]
    )
    assert total <= 6000
    assert all(len(e["title"]) <= 256 for e in discord["embeds"])


def test_the_email_is_multipart_alternative_with_both_parts() -> None:
    message = Outgoing(7, 42, "analysts", "monitor-key-1", sample_digest())
    mail = build_email(email_channel(), message, SenderDeps(clock=lambda: NOW))
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert "<script>alert(1)</script>" in plain.get_content()
    assert "<script" not in html.get_content()


feed_text = st.text(alphabet=st.sampled_from(list("<>&\"'/=ab S-400\n;:")), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(title=feed_text, source=feed_text, before=feed_text, hit=feed_text, after=feed_text)
def test_feed_text_never_adds_markup(
    title: str, source: str, before: str, hit: str, after: str
) -> None:
    """Whatever a feed says, the HTML has exactly the tags of the same digest with harmless
    text: feed text never contributes a "<"."""

    def digest(t: str, s: str, b: str, h: str, a: str) -> DigestContent:
        snippet = Snippet(b + h + a, ((len(b), len(b) + len(h)),))
        shown = item(1, t, source=s, snippet=snippet, also_reported_by=(s,), url=None)
        return DigestContent(DigestKind.DIGEST, "w", t, NOW, None, NOW, (shown,), 1)

    harmless = ["x" * len(text) for text in (title, source, before, hit, after)]
    html = render_html(digest(title, source, before, hit, after))
    assert html.count("<") == render_html(digest(*harmless)).count("<")


def test_discord_names_the_outlets_without_links_when_the_links_do_not_fit() -> None:
    long_links = tuple(
        Copy(f"outlet {k}", f"https://outlet{k}.example/" + "x" * 150, "copy") for k in range(5)
    )
    snippet = Snippet("S-400 " + "and more " * 100, ((0, 5),))
    content = replace(sample_alert(), items=(item(1, "S-400", snippet=snippet, copies=long_links),))
    (embed,) = discord_payload(1, content)["embeds"]
    # The outlets are all still named, none cut mid-link, within the description's limit.
    assert len(embed["description"]) <= 1000
    assert embed["description"].endswith(
        "*Also reported by:* outlet 0, outlet 1, outlet 2, outlet 3, outlet 4"
    )
    short = replace(content, items=(item(1, "S-400", copies=long_links[:1]),))
    (linked,) = discord_payload(1, short)["embeds"]
    assert "[outlet 0](<https://outlet0.example/" in linked["description"]
