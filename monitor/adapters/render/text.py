"""Formatting shared by every rendering: times, scores, subjects, safe links and snippets
with their hits marked. Feed text is untrusted: HTML escapes it before marking the hits."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from markupsafe import Markup, escape

from monitor.core.digest import DigestContent, Snippet
from monitor.core.states import DigestKind


def utc_iso(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, as every JSON document of monitor writes times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def score_text(value: float) -> str:
    return f"{value:.1f}"


def one_line(text: str) -> str:
    """Feed titles may carry newlines and tabs; headers and list items must not."""
    return " ".join(text.split())


def plural(count: int) -> str:
    return "1 new story" if count == 1 else f"{count or 'no'} new stories"


def subject(content: DigestContent) -> str:
    """The email subject and heading: "S-400 air defence system: 7 new stories"."""
    name = one_line(content.watchlist_name)
    if content.kind is DigestKind.ALERT and content.items:
        return shorten(f"Alert · {name}: {one_line(content.items[0].title)}", 160)
    return f"{name}: {plural(content.total)}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_href(url: str | None) -> str | None:
    """Only http(s) links are linked: a feed can put javascript: or data: in a link."""
    if url and re.match(r"^https?://[^\s]+$", url, flags=re.IGNORECASE):
        return url
    return None


def marked_html(snippet: Snippet) -> Markup:
    """The snippet escaped, then each hit wrapped in <mark>: the only markup we add."""
    mark = Markup('<mark style="background-color:#fff3a3;color:#1f2328;padding:0 1px;">{}</mark>')
    return Markup("").join(
        mark.format(piece) if hit else escape(piece) for piece, hit in snippet.segments()
    )


def marked(snippet: Snippet, open_mark: str, close_mark: str, quote: Callable[[str], str]) -> str:
    """The snippet on one line with each hit between the marks; `quote` escapes feed text."""
    return one_line(
        "".join(
            f"{open_mark}{quote(piece)}{close_mark}" if hit else quote(piece)
            for piece, hit in snippet.segments()
        )
    )


def marked_text(snippet: Snippet) -> str:
    return marked(snippet, "*", "*", lambda piece: piece)
