"""What a digest or an immediate alert holds: pure decisions on plain data.

Given a watchlist's pending matches (gathered by the shell with their article, outlet and
story), this module decides which story each match stands for, which stories are shown and in
what order, which later copies are only "also reported by", which matches of a story already
delivered are developments (core.digest.updates), and which strong matches get an immediate
alert within the hourly budget. It never reads the clock, the database or the
environment: `now` and everything stored are parameters, and the result is a value the shell
applies in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.core.developments import Kind, WindowTerms
from monitor.core.digest.model import Candidate, Copy, DevelopmentOf, DigestContent, DigestItem
from monitor.core.digest.snippets import best_snippet, matched_terms
from monitor.core.digest.updates import (
    LateCopies,
    StoryHistory,
    UpdateDecision,
    after_updates,
    decide_updates,
    delivered_now,
    development_of,
)
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
    # Copy or development, for every pending match of a story delivered before.
    decisions: tuple[UpdateDecision, ...] = ()
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
    decisions: tuple[UpdateDecision, ...] = ()  # strong matches of stories delivered before


def _rank_key(item: DigestItem) -> tuple[float, float, int]:
    # Best score first; among equals the newer story, then the older match id, so the order
    # never depends on how the database happened to return rows.
    return (-item.score, -item.published_at.timestamp(), item.match_id)


def _best_copy(group: Sequence[Candidate]) -> Candidate:
    # The copy that represents a story: the best score; ties go to the earliest report.
    return min(group, key=lambda c: (-c.score, c.published_at, c.match_id))


def _group_by_story(candidates: Iterable[Candidate]) -> list[list[Candidate]]:
    """The candidates by story, earliest report first: the order new stories are checked
    for late copies in, so which of two copies is delivered never depends on row order."""
    groups: dict[tuple[str, int], list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.story_key, []).append(candidate)
    return sorted(groups.values(), key=lambda g: min((c.published_at, c.match_id) for c in g))


def _updates_first(
    groups: Sequence[list[Candidate]], histories: Mapping[int, StoryHistory]
) -> list[list[Candidate]]:
    """The groups of stories delivered before, then the new stories, each part in its
    order. A development and a copy of it that grouping put into a story of its own arrive
    in one poll; the new story is checked for late copies against the story as it will be
    once its development is sent, whichever of the two was published first, so the reader
    gets the development once and not also as a new story."""

    def new(group: list[Candidate]) -> bool:
        story_id = group[0].story_id
        history = histories.get(story_id) if story_id is not None else None
        return history is None or not history.delivered

    return sorted(groups, key=new)  # stable: each part keeps its order


def _late_copy(
    late: LateCopies, representative: Candidate, group: Sequence[Candidate]
) -> list[UpdateDecision]:
    """A new story's decisions when it only repeats a story delivered lately (each of its
    candidates a copy of what was delivered), else none, and the story counts as delivered
    for the stories checked after it."""
    decision = late.decide(representative) if representative.story_id is not None else None
    if decision is None:
        if representative.story_id is not None:
            late.add(delivered_now(representative, group))
        return []
    return [replace(decision, match_id=c.match_id) for c in group]


def plan_digest(
    candidates: Sequence[Candidate],
    *,
    histories: Mapping[int, StoryHistory],
    window: WindowTerms,
    story_outlets: Mapping[int, Collection[Copy | str]],
    max_items: int,
    repeat_alerts: bool,
    recent: Sequence[StoryHistory] = (),
) -> DigestPlan:
    """Decide a digest from the watchlist's pending matches.

    `histories` holds, for each story this watchlist was already sent (in an earlier digest,
    or an alert), the delivered items and the copies suppressed against them; `window` the
    term statistics the copy-or-development decision weighs novel words with;
    `story_outlets` every copy known of each story (a bare name: an outlet whose copy is not
    known). A new story shows once,
    as its best copy. A pending match of a story delivered before is decided by
    core.developments: a copy points at what it repeats and is never shown; a development
    shows as its own item, an update of the earlier story. A new story that only repeats
    one of `recent` (the stories the watchlist was sent lately), a story shown earlier in
    this digest or a development decided in it (`_updates_first`), is a late copy of it
    (`LateCopies`): recorded, never shown. An alerted item shows again only with
    `repeat_alerts`. The stories beyond `max_items` are kept, ranked, as `rest`.
    """
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    shown: list[DigestItem] = []
    duplicates: dict[int, int] = {}
    decisions: list[UpdateDecision] = []
    late = LateCopies(recent, window)
    for group in _updates_first(_group_by_story(candidates), histories):
        story_id = group[0].story_id
        history = histories.get(story_id) if story_id is not None else None
        outlets: list[Copy | str] = (
            list(story_outlets.get(story_id, ())) if story_id is not None else []
        )
        if history is not None and history.delivered:
            decided, items = _updates(group, history, window, outlets, repeat_alerts)
            late.add(after_updates(history, group, decided))
            decisions.extend(decided)
            duplicates.update((d.match_id, d.against) for d in decided if d.kind is Kind.COPY)
            shown.extend(items)
            continue
        alerted = [c for c in group if c.alerted]
        representative = _best_copy(alerted) if alerted else _best_copy(group)
        if not alerted:
            copies = _late_copy(late, representative, group)
            if copies:
                decisions.extend(copies)
                duplicates.update((d.match_id, d.against) for d in copies)
                continue
        duplicates.update(
            (c.match_id, representative.match_id)
            for c in group
            if c.match_id != representative.match_id and not c.alerted
        )
        if alerted and not repeat_alerts:
            continue
        shown.append(digest_item(representative, [*outlets, *map(_copy_of, group)]))
    shown.sort(key=_rank_key)
    return DigestPlan(
        items=tuple(shown[:max_items]),
        rest=tuple(shown[max_items:]),
        total=len(shown),
        consumed=tuple(sorted(c.match_id for c in candidates)),
        duplicates=duplicates,
        decisions=tuple(sorted(decisions, key=lambda d: d.match_id)),
    )


def _updates(
    group: Sequence[Candidate],
    history: StoryHistory,
    window: WindowTerms,
    outlets: Sequence[Copy | str],
    repeat_alerts: bool,
) -> tuple[list[UpdateDecision], list[DigestItem]]:
    """The pending matches of a story already delivered: decisions, and the items shown."""
    delivered = history.delivered_ids()
    # An alerted match was delivered by its alert, whatever the history says.
    fresh = [c for c in group if c.match_id not in delivered and not c.alerted]
    decided = decide_updates(fresh, history, window) if fresh else []
    by_id = {c.match_id: c for c in group}
    repeated = {d.against: _copy_of(by_id[d.match_id]) for d in decided if d.kind is Kind.COPY}
    items = [
        digest_item(
            by_id[d.match_id],
            [_copy_of(by_id[d.match_id]), *(c for m, c in repeated.items() if m == d.match_id)],
            development_of=development_of(d, history),
        )
        for d in decided
        if d.kind is Kind.DEVELOPMENT
    ]
    if repeat_alerts:
        # Alerted in this window: shown again as what the alert was, an update when the
        # story had been delivered before it.
        originals: list[Candidate] = []
        for candidate in (c for c in group if c.alerted):
            before = tuple(
                k
                for k in history.delivered
                if (k.published_at, k.match_id) < (candidate.published_at, candidate.match_id)
            )
            if before:
                update = decide_updates(
                    [candidate], StoryHistory(history.story_id, before, history.copies), window
                )[0]
                mark = development_of(update, StoryHistory(history.story_id, before))
                items.append(digest_item(candidate, [_copy_of(candidate)], development_of=mark))
            else:
                originals.append(candidate)
        if originals:
            # Alerts that came before anything else was delivered: the story itself, once.
            best = _best_copy(originals)
            items.append(digest_item(best, [*outlets, *map(_copy_of, group)]))
    return decided, items


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
    histories: Mapping[int, StoryHistory],
    window: WindowTerms,
    story_outlets: Mapping[int, Collection[Copy | str]],
    recent: Sequence[StoryHistory] = (),
) -> AlertPlan:
    """Pick the matches at or above `alert_threshold` that are alerted now.

    One alert per new story (its best copy); for a story already delivered to this watchlist
    (`histories`), one alert per development core.developments finds, never one for a copy,
    nor for a new story that only repeats one of `recent` (a late copy: see plan_digest).
    At most `max_per_hour` alerts in any hour counting `recent_alerts` (the times of alerts
    already sent); the strongest go first and the rest wait for the digest.
    """
    if alert_threshold is None:
        return AlertPlan(alerts=(), deferred=())
    strong = [c for c in candidates if c.score >= alert_threshold and not c.alerted]
    # Each option: the match alerted, its item, and the strong matches the alert covers.
    options: list[tuple[Candidate, DigestItem, frozenset[int]]] = []
    decisions: list[UpdateDecision] = []
    late = LateCopies(recent, window)
    for group in _updates_first(_group_by_story(strong), histories):
        story_id = group[0].story_id
        history = histories.get(story_id) if story_id is not None else None
        outlets: list[Copy | str] = (
            list(story_outlets.get(story_id, ())) if story_id is not None else []
        )
        if history is not None and history.delivered:
            decided = decide_updates(group, history, window)
            late.add(after_updates(history, group, decided))
            decisions.extend(decided)
            by_id = {c.match_id: c for c in group}
            for d in decided:
                if d.kind is Kind.DEVELOPMENT:
                    candidate = by_id[d.match_id]
                    mark = development_of(d, history)
                    item = digest_item(candidate, [_copy_of(candidate)], development_of=mark)
                    options.append((candidate, item, frozenset({d.match_id})))
            continue
        best = _best_copy(group)
        repeats = _late_copy(late, best, group)
        if repeats:
            decisions.extend(repeats)
            continue
        item = digest_item(best, [*outlets, *map(_copy_of, group)])
        options.append((best, item, frozenset(c.match_id for c in group)))
    options.sort(key=lambda o: (-o[0].score, o[0].published_at, o[0].match_id))
    since = now - ALERT_BUDGET_WINDOW
    used = sum(1 for sent in recent_alerts if since < sent <= now)
    budget = max(0, max_per_hour - used)
    chosen = options[:budget]
    # Over the budget, what was not chosen waits for the digest; a copy of a delivered story
    # is not held back by the budget: it was never going to be alerted.
    covered = frozenset().union(*(o[2] for o in chosen))
    copies = {d.match_id for d in decisions if d.kind is Kind.COPY}
    deferred = tuple(sorted(c.match_id for c in strong if c.match_id not in covered | copies))
    return AlertPlan(
        alerts=tuple(o[1] for o in chosen),
        deferred=deferred,
        decisions=tuple(sorted(decisions, key=lambda d: d.match_id)),
    )


def alert_window_key(item: DigestItem) -> str:
    """The unique key of an alert: one alert per story (or per match without a story), and
    one per development of a story."""
    if item.development_of is not None:
        return f"story:{item.story_id}:update:{item.match_id}"
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


def digest_item(
    candidate: Candidate,
    outlets: Iterable[Copy | str],
    *,
    development_of: DevelopmentOf | None = None,
) -> DigestItem:
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
        article_id=candidate.article_id,
        development_of=development_of,
    )
