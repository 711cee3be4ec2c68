"""Plain data shared by the pure core and the shell: no I/O, no library types.

The feed's wire shape (feedparser's dicts) never leaks past adapters/feed_parse.py: every
entry leaves it as a `NormalizedEntry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.core.scoring import Score


@dataclass(frozen=True, slots=True)
class NormalizedEntry:
    """One feed entry as monitor stores it. Times are aware UTC."""

    identity_key: str  # per feed: guid, else canonical link, else hash of title+text
    guid: str | None
    url: str | None  # absolute, resolved against the feed
    canonical_url: str | None
    title: str  # plain text
    text: str  # plain text: content if present, else summary
    author: str | None
    published_at: datetime
    content_hash: str  # sha256 hex of the folded title and text, for exact copies
    # Title and text in the matcher's match form (core.matcher.article_match_form), made
    # where the entry is parsed, off the database writer; None: the store makes it.
    match_text: str | None = None
    # The words the semantic model reads (core.semantic_features.article_features), made
    # where the entry is parsed, for the same reason; None: whoever scores it makes them.
    semantic_features: bytes | None = None
    # The story signature (core.dedup MinHash, as stored) and its LSH band hashes, made in
    # the parse worker too; None: the story store computes them.
    story_signature: bytes | None = None
    story_bands: tuple[int, ...] | None = None
    # The watchlists the entry matches, with their scores, when a parse worker scored it
    # (adapters/worker_scoring.py); `scored_with` names the watchlists in force it was
    # scored against, None: the writer scores it.
    scored_with: str | None = None
    matches: tuple[tuple[str, Score], ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a fetched feed document said, normalized."""

    title: str | None
    link: str | None
    ttl_seconds: int | None  # RSS <ttl>, converted from minutes
    entries: list[NormalizedEntry] = field(default_factory=list)
    bozo_reason: str | None = None  # feedparser read it, but it was not well-formed
    format: str | None = None  # feedparser's name for it: "rss20", "atom10", "rss10"...
    dropped: int = 0  # entries with no title, no text and no http(s) link: nothing to store
    skipped: int = 0  # older entries beyond [polling] max_entries, not read

    def newest(self, limit: int) -> ParsedFeed:
        """The feed with only its `limit` newest entries, the rest counted as skipped."""
        if len(self.entries) <= limit:
            return self
        ranked = sorted(range(len(self.entries)), key=lambda i: (self.entries[i].published_at, -i))
        keep = sorted(ranked[-limit:])
        return replace(
            self,
            entries=[self.entries[i] for i in keep],
            skipped=self.skipped + len(self.entries) - limit,
        )

    def notes(self) -> list[str]:
        """What a reader of `feeds list` should know about a feed that was read."""
        notes = []
        if self.bozo_reason:
            notes.append(f"read despite errors: {self.bozo_reason}")
        if self.skipped:
            total = len(self.entries) + self.dropped + self.skipped
            notes.append(
                f"kept the newest {len(self.entries) + self.dropped} of {total} entries "
                "([polling] max_entries)"
            )
        if self.dropped:
            noun = "entry" if self.dropped == 1 else "entries"
            notes.append(f"{self.dropped} {noun} with no title, text or link skipped")
        return notes
