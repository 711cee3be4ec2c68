"""What a digest or an immediate alert holds: pure decisions on plain data.

Given a watchlist's pending matches (gathered by the shell with their article, outlet and
story), this module decides which story each match stands for, which stories are shown and in
what order, which later copies are only "also reported by", and which strong matches get an
immediate alert within the hourly budget. It never reads the clock, the database or the
environment: `now` and everything stored are parameters, and the result is a value the shell
applies in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.core.digest.model import Candidate, Copy, DigestContent, DigestItem
from monitor.core.digest.snippets import best_snippet, matched_terms
from monitor.core.states import DigestKind

ALERT_BUDGET_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """What creating a digest does: the stories it shows and every match it takes."""

    items: tuple[DigestItem, ...]  # at most max_items, best first
    total: int  # stories that qualified; total - len(items) are "and N more"
    consumed: tuple[int, ...]  # every candidate: assigned to this digest, shown or not
    # A copy of a story that another match represents, now or in an earlier digest or alert:
    # match id -> the representing match id. Recorded, never delivered on its own.
    duplicates: Mapping[int, int] = field(default_factory=dict)
    rest: tuple[DigestItem, ...] = ()  # the "and N more", ranked

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
            rest=self.rest,
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
    story_outlets: Mapping[int, Collection[Copy | str]],
    max_items: int,
    repeat_alerts: bool,
) -> DigestPlan:
    """Decide a digest from the watchlist's pending matches.

    `delivered_stories` maps a story id to the match that already carried it for this
    watchlist (in an earlier digest, or an alert); `story_outlets` lists every copy known
    of each story (a bare name: an outlet whose copy is not known). A story shows once, as
    its best copy; a story delivered earlier is not shown again and its new copies point at
    the match that carried it; an alerted story shows again only with `repeat_alerts`. The
    stories beyond `max_items` are kept, ranked, as `rest`.
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
        outlets: list[Copy | str] = [_copy_of(c) for c in group]
        if story_id is not None:
            outlets.extend(story_outlets.get(story_id, ()))
        shown.append(digest_item(representative, outlets))
    shown.sort(key=_rank_key)
    return DigestPlan(
        items=tuple(shown[:max_items]),
        rest=tuple(shown[max_items:]),
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
    story_outlets: Mapping[int, Collection[Copy | str]],
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
        outlets: list[Copy | str] = [_copy_of(c) for c in group]
        if candidate.story_id is not None:
            outlets.extend(story_outlets.get(candidate.story_id, ()))
        alerts.append(digest_item(candidate, outlets))
    chosen_keys = {c.story_key for c in chosen}
    deferred = tuple(sorted(c.match_id for c in strong if c.story_key not in chosen_keys))
    return AlertPlan(alerts=tuple(alerts), deferred=deferred)


def alert_window_key(item: DigestItem) -> str:
    """The unique key of an alert: one alert per story (or per match without a story)."""
    return f"story:{item.story_id}" if item.story_id is not None else f"match:{item.match_id}"


def _copy_of(candidate: Candidate) -> Copy:
    return Copy(candidate.source, candidate.url, candidate.title)


def other_copies(source: str, outlets: Iterable[Copy | str]) -> tuple[Copy, ...]:
    """One copy per outlet other than `source`, sorted by outlet name; where an outlet has
    several, the one with a link, then the first by title and URL, so the choice is stable."""
    best: dict[str, Copy] = {}
    for outlet in outlets:
        copy = Copy(outlet, None, "") if isinstance(outlet, str) else outlet
        if copy.source == source:
            continue
        known = best.get(copy.source)
        if known is None or _preference(copy) < _preference(known):
            best[copy.source] = copy
    return tuple(sorted(best.values(), key=lambda c: (c.source.casefold(), c.source)))


def _preference(copy: Copy) -> tuple[bool, str, str]:
    return (copy.url is None, copy.title, copy.url or "")


def digest_item(candidate: Candidate, outlets: Iterable[Copy | str]) -> DigestItem:
    """The reader's view of one match; `outlets` are the copies of its story (or bare outlet
    names where the copy is not known), its own outlet's among them or not."""
    terms = matched_terms(candidate.explanation)
    copies = other_copies(candidate.source, outlets)
    return DigestItem(
        match_id=candidate.match_id,
        story_id=candidate.story_id,
        title=candidate.title,
        url=candidate.url,
        source=candidate.source,
        published_at=candidate.published_at,
        score=candidate.score,
        matched_terms=terms,
        snippet=best_snippet(candidate.explanation, terms, title=candidate.title),
        also_reported_by=tuple(c.source for c in copies),
        copies=copies,
    )
