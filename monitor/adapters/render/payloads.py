"""Webhook bodies: the generic versioned JSON payload and the Slack, Discord and Microsoft
Teams message formats, within each service's documented limits. The chat formats escape their
markup characters so a feed title cannot ping a channel or forge a link."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib import resources
from typing import Any

from monitor.adapters.render.text import (
    marked,
    one_line,
    safe_href,
    score_text,
    shorten,
    subject,
    utc_iso,
    when,
)
from monitor.core.digest import DigestContent, DigestItem, Snippet
from monitor.core.states import DigestKind

SCHEMA = "monitor.digest/v1"
SCHEMA_FILE = "schemas/digest-v1.schema.json"  # next to this module: the JSON Schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the generic payload, as shipped in the package."""
    text = (
        resources.files(__package__ or "monitor.adapters.render")
        .joinpath(SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


# Service limits, from their incoming-webhook documentation. A digest that would exceed one
# is cut, with "…and N more", never refused.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 40_000
DISCORD_MAX_EMBEDS = 10
DISCORD_CONTENT_CHARS = 2000
DISCORD_TITLE_CHARS = 256
DISCORD_FOOTER_CHARS = 2048
DISCORD_EMBEDS_TOTAL_CHARS = 6000
DISCORD_DESCRIPTION_CHARS = 1000  # well under the 4096 cap, so ten embeds fit in 6000 total
TEAMS_CARD_VERSION = "1.4"
TEAMS_MAX_BYTES = 28 * 1024  # the whole message, as posted
TEAMS_TITLE_CHARS = 400  # a 2,000-character title would crowd the other stories out

WebhookFormatter = Callable[[int, DigestContent], dict[str, Any]]


# ---- generic JSON -------------------------------------------------------------------------


def json_payload(digest_id: int | None, content: DigestContent) -> dict[str, Any]:
    """The generic webhook body, schema "monitor.digest/v1" (README.md "Webhooks")."""
    return {
        "schema": SCHEMA,
        "kind": content.kind.value,
        "digest_id": digest_id,
        "watchlist": {"id": content.watchlist_id, "name": content.watchlist_name},
        "generated_at": utc_iso(content.generated_at),
        "window": {
            "start": utc_iso(content.window_start) if content.window_start else None,
            "end": utc_iso(content.window_end),
        },
        "total": content.total,
        "omitted": content.omitted,
        "stories": [_json_story(item) for item in content.items],
    }


def _json_story(item: DigestItem) -> dict[str, Any]:
    return {
        "title": item.title,
        "url": safe_href(item.url),  # a receiver may link it: only http(s), else null
        "source": item.source,
        "published_at": utc_iso(item.published_at),
        "score": round(item.score, 3),
        "matched_terms": list(item.matched_terms),
        "snippet": item.snippet.text if item.snippet else None,
        "highlights": [list(span) for span in item.snippet.highlights] if item.snippet else [],
        "also_reported_by": list(item.also_reported_by),
        # Each other outlet's copy, to link it; `also_reported_by` is their names.
        "copies": [
            {"source": copy.source, "url": safe_href(copy.url), "title": copy.title}
            for copy in item.copies
        ],
        "story_id": item.story_id,
        "feedback": (
            {"relevant": item.feedback.relevant, "irrelevant": item.feedback.irrelevant}
            if item.feedback
            else None
        ),
        "development_of": _json_development(item),
    }


def _json_development(item: DigestItem) -> dict[str, Any] | None:
    update = item.development_of
    if update is None:
        return None
    return {**update.to_dict(), "url": safe_href(update.url)}


def update_sentence(item: DigestItem) -> str:
    """What follows "Update: " for a development of a story delivered before."""
    new = item.development_of.new_sentence if item.development_of else ""
    return one_line(new or item.title)


# ---- Slack: Block Kit with a plain-text fallback ------------------------------------------


def slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (<!channel> pings everyone, <url|x> forges a link).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, title: str) -> str:
    href = safe_href(url)
    label = slack_escape(one_line(title))
    if href is None:
        return f"*{label}*"
    return f"*{_slack_href(href, label)}*"


def _slack_copies(item: DigestItem) -> str:
    if not item.copies:  # a digest stored before copies were kept: names only
        return slack_escape(", ".join(item.also_reported_by))
    links = []
    for copy in item.copies:
        href = safe_href(copy.url)
        label = slack_escape(one_line(copy.source))
        links.append(_slack_href(href, label) if href else label)
    return ", ".join(links)


def _slack_url(href: str) -> str:
    return href.replace("|", "%7C").replace(">", "%3E")


def shorten_markup(text: str, limit: int) -> str:
    """`shorten`, never leaving a Slack link (`<url|label>`) cut open: a half link would
    show its raw markup."""
    if len(text) <= limit:
        return text
    cut_text = text[: limit - 1]
    opened, closed = cut_text.rfind("<"), cut_text.rfind(">")
    if opened > closed:
        cut_text = cut_text[:opened]
    return cut_text.rstrip() + "…"


def _slack_href(url: str, label: str) -> str:
    return f"<{_slack_url(url)}|{label}>"


def slack_payload(digest_id: int, content: DigestContent) -> dict[str, Any]:
    heading = subject(content)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": shorten(heading, SLACK_HEADER_CHARS)},
        }
    ]
    room = SLACK_MAX_BLOCKS - 2  # the header, and the "and N more" context at the end
    shown = content.items[:room]
    for item in shown:
        lines = [
            _slack_link(item.url, item.title),
            f"{slack_escape(item.source)} · {when(item.published_at)} · "
            f"score {score_text(item.score)}",
        ]
        if (update := item.development_of) is not None:
            before = _slack_link(update.url, update.title).strip("*")
            lines.append(f"*Update:* {slack_escape(update_sentence(item))} (before: {before})")
        if item.snippet:
            lines.append("> " + marked(item.snippet, "*", "*", slack_escape))
        if item.also_reported_by:
            lines.append("_Also reported by:_ " + _slack_copies(item))
        # The feedback links come last and are never cut: a long story gives up its own text.
        links = (
            "\n"
            + f"{_slack_href(item.feedback.relevant, 'Relevant')} · "
            + f"{_slack_href(item.feedback.irrelevant, 'Not relevant')}"
            if item.feedback
            else ""
        )
        text = shorten_markup("\n".join(lines), SLACK_SECTION_CHARS - len(links)) + links
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    more = content.total - len(shown)
    if more or not content.items:
        note = f"…and {more} more" if content.items else "No new stories."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    # `text` is what notifications and clients without Block Kit show.
    return {
        "text": shorten(slack_escape(heading), SLACK_TEXT_CHARS),
        "blocks": blocks,
        "unfurl_links": False,
    }


# ---- Discord: execute-webhook body with embeds --------------------------------------------

_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()#<:@-])")


def discord_escape(text: str) -> str:
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def _discord_copies(item: DigestItem) -> str:
    if not item.copies:
        return discord_escape(", ".join(item.also_reported_by))
    links = []
    for copy in item.copies:
        href = safe_href(copy.url)
        label = discord_escape(one_line(copy.source))
        # A masked link; the angle brackets keep Discord from unfurling every copy.
        links.append(f"[{label}](<{_discord_url(href)}>)" if href else label)
    return ", ".join(links)


def _discord_url(href: str) -> str:
    return href.replace("(", "%28").replace(")", "%29").replace(">", "%3E")


def _discord_description(parts: list[str]) -> str:
    """The embed's description within its limit; when the outlets' links do not fit, the
    outlets are named without links rather than cut mid-link."""
    text = "\n".join(parts)
    if len(text) <= DISCORD_DESCRIPTION_CHARS or len(parts) < 2:
        return shorten(text, DISCORD_DESCRIPTION_CHARS)
    return shorten("\n".join([*parts[:-1], _unlinked(parts[-1])]), DISCORD_DESCRIPTION_CHARS)


def _unlinked(line: str) -> str:
    return re.sub(r"\[((?:[^\]\\]|\\.)*)\]\(<[^>]*>\)", r"\1", line)


def discord_payload(digest_id: int, content: DigestContent) -> dict[str, Any]:
    heading = subject(content)
    embeds: list[dict[str, Any]] = []
    budget = DISCORD_EMBEDS_TOTAL_CHARS
    for item in content.items[:DISCORD_MAX_EMBEDS]:
        parts = []
        if (update := item.development_of) is not None:
            before = discord_escape(one_line(update.title))
            href = safe_href(update.url)
            parts.append(
                f"**Update:** {discord_escape(update_sentence(item))}\n"
                + (f"Before: [{before}](<{href}>)" if href else f"Before: {before}")
            )
        if item.snippet:
            parts.append(marked(item.snippet, "**", "**", discord_escape))
        if item.also_reported_by:
            parts.append("*Also reported by:* " + _discord_copies(item))
        embed: dict[str, Any] = {
            "title": shorten(one_line(item.title), DISCORD_TITLE_CHARS),
            "timestamp": utc_iso(item.published_at),
            "footer": {"text": shorten(f"{item.source} · score {score_text(item.score)}", 200)},
            "color": 0xB42318 if content.kind is DigestKind.ALERT else 0x1F4E79,
        }
        description = _discord_description(parts)
        if description:  # Discord refuses an empty description
            embed["description"] = description
        href = safe_href(item.url)
        if href:
            embed["url"] = href
        size = len(embed["title"]) + len(description) + len(embed["footer"]["text"])
        if item.feedback:
            value = (
                f"[Relevant]({item.feedback.relevant}) · [Not relevant]({item.feedback.irrelevant})"
            )
            embed["fields"] = [{"name": "Feedback", "value": value}]
            size += len("Feedback") + len(value)
        if size > budget:
            break
        budget -= size
        embeds.append(embed)
    text = f"**{discord_escape(heading)}**"
    more = content.total - len(embeds)
    if not content.items:
        text += "\nNo new stories."
    elif more:
        text += f"\n…and {more} more"
    return {
        "content": shorten(text, DISCORD_CONTENT_CHARS),
        "embeds": embeds,
        "allowed_mentions": {"parse": []},  # feed text never pings anyone
    }


# ---- Microsoft Teams: an Adaptive Card in a message envelope ------------------------------


def _runs(snippet: Snippet) -> list[dict[str, Any]]:
    # TextRuns are never read as Markdown, so feed text needs no escaping and cannot forge a
    # link; hits are bold and highlighted.
    return [
        {"type": "TextRun", "text": piece, "weight": "Bolder", "highlight": True}
        if hit
        else {"type": "TextRun", "text": piece}
        for piece, hit in snippet.segments()
    ]


def _teams_copies(item: DigestItem) -> dict[str, Any]:
    """ "Also reported by:" with each outlet's name opening its copy."""
    small = {"isSubtle": True, "size": "Small"}
    if not item.copies:
        return _text_block("Also reported by: " + ", ".join(item.also_reported_by), **small)
    inlines: list[dict[str, Any]] = [{"type": "TextRun", "text": "Also reported by: ", **small}]
    for n, copy in enumerate(item.copies):
        run: dict[str, Any] = {"type": "TextRun", "text": one_line(copy.source), **small}
        href = safe_href(copy.url)
        if href:
            run["selectAction"] = {"type": "Action.OpenUrl", "url": href}
        if n:
            inlines.append({"type": "TextRun", "text": ", ", **small})
        inlines.append(run)
    return {"type": "RichTextBlock", "inlines": inlines}


def _text_block(text: str, **options: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **options}]}


def encoded_size(payload: Mapping[str, Any]) -> int:
    """Bytes of the body as the webhook channel posts it (compact UTF-8 JSON)."""
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def cut(content: DigestContent, shown: int) -> DigestContent:
    """The same digest showing only its first `shown` items: the rest become "and N more"."""
    return replace(content, items=content.items[: max(0, shown)])


def teams_payload(digest_id: int, content: DigestContent) -> dict[str, Any]:
    """An Adaptive Card (1.4) as Teams Workflows webhooks and incoming webhooks accept it,
    within Teams' 28 KB per message: the lowest-ranked stories are cut ("…and N more").

    Not the legacy Office 365 connector MessageCard, which Microsoft is retiring. Feed text
    goes into RichTextBlock TextRuns, which Teams never reads as Markdown.
    """
    shown = len(content.items)
    payload = _teams_card(content)
    while shown > 0 and encoded_size(payload) > TEAMS_MAX_BYTES:
        # Cards grow about linearly with their stories: jump close, then step.
        ratio = TEAMS_MAX_BYTES / encoded_size(payload)
        shown = min(shown - 1, max(0, int(shown * ratio)))
        payload = _teams_card(cut(content, shown))
    return payload


def _teams_card(content: DigestContent) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text_block(subject(content), size="Large", weight="Bolder"),
    ]
    for item in content.items:
        title: dict[str, Any] = {
            "type": "TextRun",
            "text": shorten(one_line(item.title), TEAMS_TITLE_CHARS),
            "weight": "Bolder",
        }
        href = safe_href(item.url)
        if href:
            title["selectAction"] = {"type": "Action.OpenUrl", "url": href}
        items: list[dict[str, Any]] = [
            {"type": "RichTextBlock", "inlines": [title]},
            _text_block(
                f"{item.source} · {when(item.published_at)} · score {score_text(item.score)}",
                isSubtle=True,
            ),
        ]
        if (update := item.development_of) is not None:
            items.append(_text_block("Update: " + update_sentence(item), weight="Bolder"))
            before: dict[str, Any] = {
                "type": "TextRun",
                "text": "Before: " + one_line(update.title),
            }
            if (before_href := safe_href(update.url)) is not None:
                before["selectAction"] = {"type": "Action.OpenUrl", "url": before_href}
            items.append({"type": "RichTextBlock", "inlines": [before]})
        if item.snippet:
            items.append({"type": "RichTextBlock", "inlines": _runs(item.snippet)})
        if item.also_reported_by:
            items.append(_teams_copies(item))
        if item.feedback:
            items.append(
                {
                    "type": "ActionSet",
                    "actions": [
                        {"type": "Action.OpenUrl", "title": title, "url": url}
                        for title, url in (
                            ("Relevant", item.feedback.relevant),
                            ("Not relevant", item.feedback.irrelevant),
                        )
                    ],
                }
            )
        body.append({"type": "Container", "separator": True, "items": items})
    if content.omitted or not content.items:
        note = f"…and {content.omitted} more" if content.items else "No new stories."
        body.append(_text_block(note, isSubtle=True))
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": TEAMS_CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


WEBHOOK_FORMATS: Mapping[str, WebhookFormatter] = {
    "json": json_payload,
    "slack": slack_payload,
    "discord": discord_payload,
    "teams": teams_payload,
}


def webhook_payload(fmt: str, digest_id: int, content: DigestContent) -> dict[str, Any]:
    try:
        formatter = WEBHOOK_FORMATS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown webhook format {fmt!r}; use one of {sorted(WEBHOOK_FORMATS)}"
        ) from None
    return formatter(digest_id, content)
