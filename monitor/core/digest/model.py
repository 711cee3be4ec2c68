"""The digest model: what one digest or immediate alert holds, and the payload frozen into
its row (`to_dict` / `from_dict`, versioned by PAYLOAD_VERSION). Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

# DigestKind lives with the schema; the enum module has no I/O, so the core may depend on it.
from monitor.core.states import DigestKind

PAYLOAD_VERSION = 1  # of the frozen digest payload stored with each digest row


@dataclass(frozen=True, slots=True)
class Snippet:
    """A short passage of the article with the hits marked as character ranges of `text`."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()  # sorted, non-overlapping, within text

    def segments(self) -> list[tuple[str, bool]]:
        """The text cut into (piece, is_hit) runs, for renderers that mark hits."""
        pieces: list[tuple[str, bool]] = []
        position = 0
        for start, end in self.highlights:
            if start > position:
                pieces.append((self.text[position:start], False))
            pieces.append((self.text[start:end], True))
            position = end
        if position < len(self.text):
            pieces.append((self.text[position:], False))
        return pieces


@dataclass(frozen=True, slots=True)
class Copy:
    """Another outlet's copy of a story: who carried it, and where a reader finds it."""

    source: str  # the outlet's name
    url: str | None
    title: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One stored match that no digest has taken yet, with what a reader needs to see of it."""

    match_id: int
    story_id: int | None
    score: float
    explanation: Mapping[str, Any]
    title: str
    url: str | None
    source: str  # the outlet: the feed's name
    published_at: datetime
    alerted: bool = False  # an immediate alert already carried it
    article_id: int | None = None  # the copy shown; feedback links name it
    text: str = ""  # the article's stored text: what the copy-or-development decision reads

    @property
    def story_key(self) -> tuple[str, int]:
        # Without a story (clustering off or not yet run) each match is a story of its own.
        return ("story", self.story_id) if self.story_id is not None else ("match", self.match_id)


@dataclass(frozen=True, slots=True)
class FeedbackLinks:
    """The one-click "relevant" / "not relevant" links of one item, minted per send."""

    relevant: str
    irrelevant: str


@dataclass(frozen=True, slots=True)
class DevelopmentOf:
    """What a development updates: its story and the item of it the reader was sent last
    (`match_id`, `article_id`, `title`, `url`, and the digest or alert that carried it), with
    the sentence that is new and the rule (core.developments.Rule) that decided."""

    story_id: int
    match_id: int
    article_id: int | None
    title: str
    url: str | None
    digest_id: int | None
    new_sentence: str
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "match_id": self.match_id,
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url,
            "digest_id": self.digest_id,
            "new_sentence": self.new_sentence,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DevelopmentOf:
        return cls(
            story_id=int(data["story_id"]),
            match_id=int(data["match_id"]),
            article_id=data.get("article_id"),
            title=data["title"],
            url=data.get("url"),
            digest_id=data.get("digest_id"),
            new_sentence=data.get("new_sentence", ""),
            rule=data.get("rule", ""),
        )


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One story as a reader sees it: its best copy, and the other outlets that carried it."""

    match_id: int
    story_id: int | None
    title: str
    url: str | None
    source: str
    published_at: datetime
    score: float
    matched_terms: tuple[str, ...]
    snippet: Snippet | None
    also_reported_by: tuple[str, ...]  # the outlets of `copies`, kept for v1 receivers
    article_id: int | None = None  # None in payloads frozen before feedback existed
    # Not frozen into the payload: links carry expiring tokens, minted when a digest is sent.
    feedback: FeedbackLinks | None = None
    # Set when the item is a development of a story delivered before: shown as "Update: ...".
    development_of: DevelopmentOf | None = None
    copies: tuple[Copy, ...] = ()  # one per other outlet, sorted by outlet name


@dataclass(frozen=True, slots=True)
class DigestContent:
    """The rendered-ready content of one digest or alert; frozen into the digest row."""

    kind: DigestKind
    watchlist_id: str
    watchlist_name: str
    generated_at: datetime
    window_start: datetime | None
    window_end: datetime
    items: tuple[DigestItem, ...]
    total: int  # stories in it: the shown items plus the "and N more"
    # The "and N more" themselves, ranked: kept so that the file channel and `monitor digest
    # show` can list every story while messages stay within max_items.
    rest: tuple[DigestItem, ...] = ()

    @property
    def omitted(self) -> int:
        return self.total - len(self.items)

    def complete(self) -> DigestContent:
        """The same digest showing every story, the "and N more" included, for renderings
        with no size limit (the file channel, `monitor digest show`). A digest stored before
        the rest was kept shows what it has, with "and N more" for the others."""
        return replace(self, items=self.items + self.rest, rest=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PAYLOAD_VERSION,
            "kind": self.kind.value,
            "watchlist_id": self.watchlist_id,
            "watchlist_name": self.watchlist_name,
            "generated_at": self.generated_at.isoformat(),
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat(),
            "total": self.total,
            "items": [_item_to_dict(item) for item in self.items],
            "rest": [_item_to_dict(item) for item in self.rest],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DigestContent:
        return cls(
            kind=DigestKind(data["kind"]),
            watchlist_id=data["watchlist_id"],
            watchlist_name=data["watchlist_name"],
            generated_at=datetime.fromisoformat(data["generated_at"]),
            window_start=(
                datetime.fromisoformat(data["window_start"]) if data["window_start"] else None
            ),
            window_end=datetime.fromisoformat(data["window_end"]),
            total=int(data["total"]),
            items=tuple(_item_from_dict(item) for item in data["items"]),
            rest=tuple(_item_from_dict(item) for item in data.get("rest", ())),
        )


def _item_to_dict(item: DigestItem) -> dict[str, Any]:
    return {
        "match_id": item.match_id,
        "story_id": item.story_id,
        "title": item.title,
        "url": item.url,
        "source": item.source,
        "published_at": item.published_at.isoformat(),
        "score": item.score,
        "matched_terms": list(item.matched_terms),
        "snippet": (
            {"text": item.snippet.text, "highlights": [list(s) for s in item.snippet.highlights]}
            if item.snippet
            else None
        ),
        "also_reported_by": list(item.also_reported_by),
        "article_id": item.article_id,
        "development_of": item.development_of.to_dict() if item.development_of else None,
        "copies": [{"source": c.source, "url": c.url, "title": c.title} for c in item.copies],
    }


def _item_from_dict(data: Mapping[str, Any]) -> DigestItem:
    snippet = data.get("snippet")
    return DigestItem(
        match_id=int(data["match_id"]),
        story_id=data.get("story_id"),
        title=data["title"],
        url=data.get("url"),
        source=data["source"],
        published_at=datetime.fromisoformat(data["published_at"]),
        score=float(data["score"]),
        matched_terms=tuple(data.get("matched_terms", ())),
        snippet=(
            Snippet(snippet["text"], tuple((s[0], s[1]) for s in snippet["highlights"]))
            if snippet
            else None
        ),
        also_reported_by=tuple(data.get("also_reported_by", ())),
        article_id=data.get("article_id"),
        # Payloads frozen before developments existed have no key: they were not updates.
        development_of=(
            DevelopmentOf.from_dict(data["development_of"]) if data.get("development_of") else None
        ),
        copies=tuple(
            Copy(c["source"], c.get("url"), c.get("title", "")) for c in data.get("copies", ())
        ),
    )
