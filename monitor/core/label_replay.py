"""Replaying the labelled articles of a watchlist through two versions of it: precision from
the analysts' labels before and after an edit, and the labelled articles whose verdict flips.

Pure: labelled stored articles and two `Watchlist` values in, counts and flips out; the same
scoring as a poll and a backtest (core/backtest.Replay). `monitor backtest` reports it beside
the stories an edit adds and removes; `watchlists stats` uses it to check the edits it
suggests. Lexical scoring only, as in a backtest: the semantic part needs the model, which
the replay does not load.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.core.backtest import Replay, StoredArticle, verdict_words
from monitor.core.scoring import Score
from monitor.core.states import FeedbackLabel
from monitor.core.watchlist import Watchlist


@dataclass(frozen=True, slots=True)
class LabelledArticle:
    """A stored article with the label in force for its story."""

    article: StoredArticle
    label: FeedbackLabel

    @property
    def relevant(self) -> bool:
        return self.label is FeedbackLabel.RELEVANT


@dataclass(frozen=True, slots=True)
class LabelCounts:
    """What one version matches among the labelled articles."""

    relevant: int = 0  # labelled relevant and matched
    irrelevant: int = 0  # labelled irrelevant and matched

    @property
    def precision(self) -> float | None:
        """relevant / matched; None when nothing labelled matches."""
        matched = self.relevant + self.irrelevant
        return round(self.relevant / matched, 4) if matched else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "relevant": self.relevant,
            "irrelevant": self.irrelevant,
            "precision": self.precision,
        }


@dataclass(frozen=True, slots=True)
class Flip:
    """A labelled article matched by one version and not by the other."""

    article_id: int
    story_id: int | None
    url: str | None
    title: str
    label: FeedbackLabel
    matched_after: bool  # True: the edit starts matching it; False: the edit drops it
    score_before: float
    score_after: float
    reason: str

    @property
    def good(self) -> bool:
        """Does the flip agree with the label (drops noise, or picks up a relevant one)?"""
        return self.matched_after == (self.label is FeedbackLabel.RELEVANT)

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "story_id": self.story_id,
            "url": self.url,
            "title": self.title,
            "label": self.label.value,
            "matched_before": not self.matched_after,
            "matched_after": self.matched_after,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "agrees_with_label": self.good,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class LabelReplay:
    labelled: int  # labelled articles replayed
    before: LabelCounts
    after: LabelCounts
    flips: tuple[Flip, ...]  # in the order the articles came

    def as_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "flips": [flip.as_dict() for flip in self.flips],
        }


def replay_labels(
    before: Watchlist | None, after: Watchlist, labelled: Iterable[LabelledArticle]
) -> LabelReplay:
    """Score each labelled article under both versions (`before` None: nothing matched)."""
    replay = Replay(before, after)
    counts = {"before": [0, 0], "after": [0, 0]}  # [relevant, irrelevant] matched
    flips: list[Flip] = []
    total = 0
    for item in labelled:
        total += 1
        scored = replay.score(item.article)
        was, now = _matched(scored.before), _matched(scored.after)
        for side, matched in (("before", was), ("after", now)):
            if matched:
                counts[side][0 if item.relevant else 1] += 1
        if was != now:
            flips.append(_flip(item, scored.before, scored.after, now))
    return LabelReplay(
        labelled=total,
        before=LabelCounts(*counts["before"]),
        after=LabelCounts(*counts["after"]),
        flips=tuple(flips),
    )


def _matched(score: Score | None) -> bool:
    return score is not None and score.matched


def _flip(item: LabelledArticle, before: Score | None, after: Score | None, now: bool) -> Flip:
    article = item.article
    return Flip(
        article_id=article.article_id,
        story_id=article.story_id,
        url=article.url,
        title=article.title,
        label=item.label,
        matched_after=now,
        score_before=before.score if before else 0.0,
        score_after=after.score if after else 0.0,
        reason=f"now {verdict_words(after)}; was {verdict_words(before)}",
    )
