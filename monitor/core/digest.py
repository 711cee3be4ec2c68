"""What a digest or an immediate alert holds: pure decisions on plain data.

Given a watchlist's pending matches (gathered by the shell with their article, outlet and
story), this module decides which story each match stands for, which stories are shown and in
what order, which later copies are only "also reported by", and which strong matches get an
immediate alert within the hourly budget. It never reads the clock, the database or the
environment: `now` and everything stored are parameters, and the result is a value the shell
applies in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.core.folding import fold
from monitor.core.scoring import MARK_CLOSE, MARK_OPEN

# DigestKind lives with the schema; the enum module has no I/O, so the core may depend on it.
from monitor.core.states import DigestKind

ALERT_BUDGET_WINDOW = timedelta(hours=1)
_MARKED = re.compile(re.escape(MARK_OPEN) + r"(.+?)" + re.escape(MARK_CLOSE), flags=re.DOTALL)
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

    @property
    def story_key(self) -> tuple[str, int]:
        # Without a story (clustering off or not yet run) each match is a story of its own.
        return ("story", self.story_id) if self.story_id is not None else ("match", self.match_id)


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
    also_reported_by: tuple[str, ...]


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

    @property
    def omitted(self) -> int:
        return self.total - len(self.items)

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
        )


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """What creating a digest does: the stories it shows and every match it takes."""

    items: tuple[DigestItem, ...]  # at most max_items, best first
    total: int  # stories that qualified; total - len(items) are "and N more"
    consumed: tuple[int, ...]  # every candidate: assigned to this digest, shown or not
    # A copy of a story that another match represents, now or in an earlier digest or alert:
    # match id -> the representing match id. Recorded, never delivered on its own.
    duplicates: Mapping[int, int] = field(default_factory=dict)

    def content(
        self,
        *,
        kind: DigestKind,
        watchlist_id: str,
        watchlist_name: str,
        generated_at: datetime,
        window_start: datetime | None,
        window_end: datetime,
    ) -> DigestContent:
        return DigestContent(
            kind=kind,
            watchlist_id=watchlist_id,
            watchlist_name=watchlist_name,
            generated_at=generated_at,
            window_start=window_start,
            window_end=window_end,
            items=self.items,
            total=self.total,
        )


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """Which strong matches are alerted now, one alert per story, within the hourly budget."""

    alerts: tuple[DigestItem, ...]  # highest score first
    deferred: tuple[int, ...]  # match ids over the budget: they wait for the digest


def _rank_key(item: DigestItem) -> tuple[float, float, int]:
    # Best score first; among equals the newer story, then the older match id, so the order
    # never depends on how the database happened to return rows.
    return (-item.score, -item.published_at.timestamp(), item.match_id)


def _best_copy(group: Sequence[Candidate]) -> Candidate:
    # The copy that represents a story: the best score; ties go to the earliest report.
    return min(group, key=lambda c: (-c.score, c.published_at, c.match_id))


def _group_by_story(candidates: Iterable[Candidate]) -> dict[tuple[str, int], list[Candidate]]:
    groups: dict[tuple[str, int], list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.story_key, []).append(candidate)
    return groups


def plan_digest(
    candidates: Sequence[Candidate],
    *,
    delivered_stories: Mapping[int, int],
    story_outlets: Mapping[int, Collection[str]],
    max_items: int,
    repeat_alerts: bool,
) -> DigestPlan:
    """Decide a digest from the watchlist's pending matches.

    `delivered_stories` maps a story id to the match that already carried it for this
    watchlist (in an earlier digest, or an alert); `story_outlets` lists every outlet known
    to have carried each story. A story shows once, as its best copy; a story delivered
    earlier is not shown again and its new copies point at the match that carried it; an
    alerted story shows again only with `repeat_alerts`.
    """
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    shown: list[DigestItem] = []
    duplicates: dict[int, int] = {}
    for group in _group_by_story(candidates).values():
        story_id = group[0].story_id
        earlier = delivered_stories.get(story_id) if story_id is not None else None
        in_group = {c.match_id: c for c in group}
        if earlier is not None and earlier not in in_group:
            # Delivered in an earlier digest or alert: these are late copies.
            duplicates.update((c.match_id, earlier) for c in group)
            continue
        alerted = [c for c in group if c.alerted]
        if earlier is not None:
            representative = in_group[earlier]
        elif alerted:
            representative = _best_copy(alerted)
        else:
            representative = _best_copy(group)
        duplicates.update(
            (c.match_id, representative.match_id)
            for c in group
            if c.match_id != representative.match_id
        )
        if (alerted or earlier is not None) and not repeat_alerts:
            continue
        outlets = {c.source for c in group}
        if story_id is not None:
            outlets.update(story_outlets.get(story_id, ()))
        shown.append(digest_item(representative, outlets))
    shown.sort(key=_rank_key)
    return DigestPlan(
        items=tuple(shown[:max_items]),
        total=len(shown),
        consumed=tuple(sorted(c.match_id for c in candidates)),
        duplicates=duplicates,
    )


def should_send(content: DigestContent, *, send_empty: bool) -> bool:
    """An empty digest is recorded (it closes the window) but sent only on request."""
    return content.total > 0 or send_empty


def plan_alerts(
    candidates: Sequence[Candidate],
    *,
    alert_threshold: float | None,
    max_per_hour: int,
    recent_alerts: Iterable[datetime],
    now: datetime,
    delivered_stories: Collection[int],
    story_outlets: Mapping[int, Collection[str]],
) -> AlertPlan:
    """Pick the matches at or above `alert_threshold` that are alerted now.

    One alert per story (its best copy), never for a story already delivered to this
    watchlist, at most `max_per_hour` alerts in any hour counting `recent_alerts` (the times
    of alerts already sent); the strongest go first and the rest wait for the digest.
    """
    if alert_threshold is None:
        return AlertPlan(alerts=(), deferred=())
    strong = [
        c
        for c in candidates
        if c.score >= alert_threshold
        and not c.alerted
        and (c.story_id is None or c.story_id not in delivered_stories)
    ]
    groups = _group_by_story(strong)
    best = sorted(
        (_best_copy(group) for group in groups.values()),
        key=lambda c: (-c.score, c.published_at, c.match_id),
    )
    since = now - ALERT_BUDGET_WINDOW
    used = sum(1 for sent in recent_alerts if since < sent <= now)
    budget = max(0, max_per_hour - used)
    chosen = best[:budget]
    alerts = []
    for candidate in chosen:
        group = groups[candidate.story_key]
        outlets = {c.source for c in group}
        if candidate.story_id is not None:
            outlets.update(story_outlets.get(candidate.story_id, ()))
        alerts.append(digest_item(candidate, outlets))
    chosen_keys = {c.story_key for c in chosen}
    deferred = tuple(sorted(c.match_id for c in strong if c.story_key not in chosen_keys))
    return AlertPlan(alerts=tuple(alerts), deferred=deferred)


def alert_window_key(item: DigestItem) -> str:
    """The unique key of an alert: one alert per story (or per match without a story)."""
    return f"story:{item.story_id}" if item.story_id is not None else f"match:{item.match_id}"


def digest_item(candidate: Candidate, outlets: Iterable[str]) -> DigestItem:
    """The reader's view of one match; `outlets` are every outlet that carried its story."""
    terms = matched_terms(candidate.explanation)
    return DigestItem(
        match_id=candidate.match_id,
        story_id=candidate.story_id,
        title=candidate.title,
        url=candidate.url,
        source=candidate.source,
        published_at=candidate.published_at,
        score=candidate.score,
        matched_terms=terms,
        snippet=best_snippet(candidate.explanation, terms),
        also_reported_by=tuple(sorted(set(outlets) - {candidate.source}, key=str.casefold)),
    )


def _term_entries(explanation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = explanation.get("terms", [])
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _hits(entry: Mapping[str, Any]) -> int:
    counts = (entry.get("title_count", 0), entry.get("body_count", 0), entry.get("count", 0))
    return sum(c for c in counts if isinstance(c, int))


def _contribution(entry: Mapping[str, Any]) -> float:
    value = entry.get("contribution", 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def matched_terms(explanation: Mapping[str, Any]) -> tuple[str, ...]:
    """The terms that matched, strongest contribution first."""
    found = [
        e
        for e in _term_entries(explanation)
        if isinstance(e.get("term"), str) and (_hits(e) > 0 or _contribution(e) > 0)
    ]
    found.sort(key=lambda e: (-_contribution(e), str(e["term"]).casefold()))
    unique: dict[str, None] = dict.fromkeys(str(e["term"]) for e in found)
    return tuple(unique)


def best_snippet(explanation: Mapping[str, Any], terms: Sequence[str]) -> Snippet | None:
    """The first snippet of the strongest term, with the hits of every matched term marked."""
    by_term = {str(e.get("term")): e for e in _term_entries(explanation)}
    for term in terms:
        snippets = by_term[term].get("snippets") or []
        for raw in snippets if isinstance(snippets, list) else []:
            snippet = _snippet_from(raw, terms)
            if snippet is not None:
                return snippet
    return None


def _snippet_from(raw: Any, terms: Sequence[str]) -> Snippet | None:
    """A snippet from the explanation: scoring's "…**hit**…" strings, or text with offsets."""
    if isinstance(raw, str):
        text, spans = unmark(raw)
        if not spans:
            spans = find_hits(text, terms)
    elif isinstance(raw, Mapping) and isinstance(raw.get("text"), str):
        text = raw["text"]
        spans = _valid_spans(raw.get("highlights"), len(text))
    else:
        return None
    return Snippet(text=text, highlights=spans) if text.strip() else None


def unmark(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Scoring's marked snippet ("the **S-400** deal") as plain text and hit ranges."""
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    position = 0
    for found in _MARKED.finditer(marked):
        before = marked[position : found.start()]
        text.append(before)
        length += len(before)
        hit = found.group(1)
        spans.append((length, length + len(hit)))
        text.append(hit)
        length += len(hit)
        position = found.end()
    text.append(marked[position:])
    return "".join(text), _merge(spans)


def _valid_spans(given: Any, length: int) -> tuple[tuple[int, int], ...]:
    spans = []
    for span in given if isinstance(given, list | tuple) else []:
        if (
            isinstance(span, list | tuple)
            and len(span) == 2
            and all(isinstance(v, int) for v in span)
            and 0 <= span[0] < span[1] <= length
        ):
            spans.append((span[0], span[1]))
    return _merge(spans)


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def find_hits(text: str, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Where `terms` occur in `text` as whole words, compared folded (İdlib = idlib).

    A fallback for snippets that come without offsets; spans are in the original text.
    """
    folded = fold(text)
    spans = []
    for term in terms:
        needle = fold(term).text.strip()
        if not needle:
            continue
        # Whole words, but a plain suffix or an apostrophe suffix still counts (S-400s, İdlib'de).
        pattern = r"(?<!\w)" + re.escape(needle) + r"(?:'\w+|e?s)?(?!\w)"
        for found in re.finditer(pattern, folded.text):
            spans.append(folded.original_span(found.start(), found.end()))
    return _merge(spans)


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
    )
