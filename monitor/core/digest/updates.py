"""Updates of delivered stories: which pending matches of a story the watchlist has already
delivered are copies (suppressed) and which are developments (delivered as "Update: ...").

Pure: the story's history (what the reader was sent, and the copies suppressed against it)
and the window statistics come in as plain data from the shell; core.developments decides.
Grouping ("same story?") happened before, in clustering; this is the delivery question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.core.developments import (
    Kind,
    Rule,
    StoryItem,
    WindowTerms,
    classify_update,
    similarity,
)
from monitor.core.digest.model import Candidate, DevelopmentOf

# What a candidate is compared with: the newest delivered items and suppressed copies. A
# story that runs for days gathers dozens; the decision's cost grows with every item, and
# what the reader saw last is what a new article must add to.
MAX_DELIVERED = 8
MAX_COPIES = 8


@dataclass(frozen=True, slots=True)
class KnownItem:
    """An article of a story that this watchlist was sent (`digest_id`: the digest or alert
    that carried it) or that was suppressed as a copy of one (`copy_of`: that match)."""

    match_id: int
    article_id: int | None
    title: str
    text: str
    url: str | None
    published_at: datetime
    digest_id: int | None = None
    copy_of: int | None = None

    def story_item(self) -> StoryItem:
        return StoryItem(self.title, self.text, self.published_at)


@dataclass(frozen=True, slots=True)
class StoryHistory:
    """What the reader has of one story: delivered items and suppressed copies, oldest first."""

    story_id: int
    delivered: tuple[KnownItem, ...]
    copies: tuple[KnownItem, ...] = ()

    def delivered_ids(self) -> frozenset[int]:
        return frozenset(item.match_id for item in self.delivered)


@dataclass(frozen=True, slots=True)
class UpdateDecision:
    """The decision for one match, as recorded for explain, `stories list` and the logs.

    `against`: for a copy, the match it repeats (a delivered item, or a development decided
    just before it); for a development, the delivered item it updates (the newest)."""

    match_id: int
    story_id: int
    kind: Kind
    rule: Rule
    evidence: str
    new_sentence: str
    probability: float
    against: int


def _item(candidate: Candidate) -> StoryItem:
    return StoryItem(candidate.title, candidate.text, candidate.published_at)


def _as_known(candidate: Candidate) -> KnownItem:
    return KnownItem(
        candidate.match_id,
        candidate.article_id,
        candidate.title,
        candidate.text,
        candidate.url,
        candidate.published_at,
    )


def decide_updates(
    candidates: Sequence[Candidate], history: StoryHistory, window: WindowTerms
) -> list[UpdateDecision]:
    """Classify each candidate of a delivered story, oldest first, against what the reader
    has by then: the delivered items, the suppressed copies, and the developments decided
    before it here (two outlets carrying one development make one update, not two)."""
    if not history.delivered:
        raise ValueError(f"story {history.story_id} was never delivered: it is new, not an update")
    delivered = list(history.delivered[-MAX_DELIVERED:])
    copies = list(history.copies[-MAX_COPIES:])
    latest = max(history.delivered, key=lambda k: (k.published_at, k.match_id))
    decisions: list[UpdateDecision] = []
    for candidate in sorted(candidates, key=lambda c: (c.published_at, c.match_id)):
        article = _item(candidate)
        known = [*delivered, *copies]
        decision = classify_update(article, [k.story_item() for k in known], window)
        if decision.kind is Kind.DEVELOPMENT:
            against = latest.match_id
            delivered.append(_as_known(candidate))
        else:
            closest = max(known, key=lambda k: similarity(article, k.story_item()))
            against = closest.copy_of if closest.copy_of is not None else closest.match_id
            copies.append(replace(_as_known(candidate), copy_of=against))
        decisions.append(
            UpdateDecision(
                match_id=candidate.match_id,
                story_id=history.story_id,
                kind=decision.kind,
                rule=decision.rule,
                evidence=decision.evidence,
                new_sentence=decision.new_sentence,
                probability=decision.probability,
                against=against,
            )
        )
    return decisions


def development_of(decision: UpdateDecision, history: StoryHistory) -> DevelopmentOf:
    """The "Update: ..." mark of a development: the delivered item it updates."""
    earlier = next(k for k in history.delivered if k.match_id == decision.against)
    return DevelopmentOf(
        story_id=history.story_id,
        match_id=earlier.match_id,
        article_id=earlier.article_id,
        title=earlier.title,
        url=earlier.url,
        digest_id=earlier.digest_id,
        new_sentence=decision.new_sentence,
        rule=decision.rule.value,
    )
