"""Replaying stored articles through two versions of a watchlist, and what the edit changes.

Pure: stored articles and two `Watchlist` values in, a `BacktestDiff` out; never reads the
database, the clock or files (flows/backtest.py gathers and times). The same scoring as a
poll (core.scoring), so a backtest says exactly what the edited watchlist would have scored.

Fast path: both versions are compiled into one matcher (the version in force under the id
`<id>~before`), and an article whose stored match form (`articles.match_text`) shows it
cannot match either version is not scanned at all (its score is then the no-hit score of
each version): one whose candidate hits (upper bounds of its real hits) cannot satisfy the
`require` groups or reach the threshold of either version. Only the few articles that may
match are folded and scored in full, both versions from one scan. Articles stored without a
match form are scored in full.

Semantic part: the caller passes each article's semantic scores (the same index as a poll,
keyed by the ids the versions carry here). An article similar enough to add points is always
scored in full: the fast path's bounds know only terms.

What counts: a story (its stored story, else the article alone) is matched by a version when
any of its articles is. `added` are the stories matched after the edit and not before,
`removed` the reverse, each shown by its best-scoring article on the side that matches.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.explain import group_words
from monitor.core.matcher import Matcher, compile_matcher
from monitor.core.scoring import Score, contribution, score_scan, score_watchlists
from monitor.core.semantic import SemanticScore, Verdict
from monitor.core.watchlist import Watchlist

BEFORE_SUFFIX = "~before"  # the id the version in force carries inside the shared matcher
SEMANTIC_BATCH = 500  # stored articles whose semantic scores are asked for at once


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """One stored article as a replay needs it."""

    article_id: int
    story_id: int | None
    url: str | None
    title: str
    text: str
    match_text: str | None  # None: stored before the match form was kept; scored in full
    feed_name: str
    feed_tags: tuple[str, ...] = ()
    semantic_features: bytes | None = None  # None: made from the text when needed


# The semantic scores of a batch of stored articles, keyed by Replay.ids (the caller's index).
SemanticOf = Callable[[Sequence["StoredArticle"]], Sequence[Mapping[str, SemanticScore] | None]]


@dataclass(frozen=True, slots=True)
class TermChange:
    """A term whose contribution differs between the two versions."""

    term: str
    before: float
    after: float


@dataclass(frozen=True, slots=True)
class ChangedStory:
    """A story the edit adds to or removes from the watchlist's matches."""

    article_id: int
    story_id: int | None
    url: str | None
    title: str
    score_before: float
    score_after: float
    changes: tuple[TermChange, ...]  # the terms that made the difference
    reason: str  # in words: why it matches on one side and not on the other

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "story_id": self.story_id,
            "url": self.url,
            "title": self.title,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "reason": self.reason,
            "terms": [{"term": c.term, "before": c.before, "after": c.after} for c in self.changes],
        }


@dataclass(frozen=True, slots=True)
class SideCounts:
    """What one version matched among the scanned articles."""

    matched: int = 0  # articles
    stories: int = 0
    alerts: int = 0  # articles at or above alert_threshold (that match)

    def as_dict(self) -> dict[str, int]:
        return {"matched": self.matched, "stories": self.stories, "alerts": self.alerts}


@dataclass(frozen=True, slots=True)
class BacktestDiff:
    scanned: int
    before: SideCounts
    after: SideCounts
    added: tuple[ChangedStory, ...]  # highest score after first
    removed: tuple[ChangedStory, ...]  # highest score before first
    fully_scored: int = 0  # articles that had candidate hits and were scanned in full


@dataclass(frozen=True, slots=True)
class Scored:
    """One article's scores under both versions (None: the version does not cover its feed)."""

    article: StoredArticle
    before: Score | None
    after: Score | None


def term_changes(before: Score | None, after: Score | None) -> tuple[TermChange, ...]:
    """Terms whose contribution differs, largest change first."""
    old = {t.term: t.contribution for t in before.terms} if before else {}
    new = {t.term: t.contribution for t in after.terms} if after else {}
    changes = [
        TermChange(term, old.get(term, 0.0), new.get(term, 0.0))
        for term in dict.fromkeys([*new, *old])
        if old.get(term, 0.0) != new.get(term, 0.0)
    ]
    changes.sort(key=lambda c: (-abs(c.after - c.before), c.term))
    return tuple(changes)


def verdict_words(score: Score | None) -> str:
    """Why one version matches or not, in a few words."""
    if score is None:
        return "its feed is not covered (`feeds`)"
    if score.vetoed_by is not None:
        return f"vetoed by exclude {score.vetoed_by!r}"
    if score.missing:
        return "require needs " + "; ".join(group_words(group) for group in score.missing)
    if not score.matched:
        return f"score {score.score:g} below threshold {score.threshold:g}"
    return f"score {score.score:g} reaches threshold {score.threshold:g}"


def _changed(item: Scored) -> ChangedStory:
    before, after = item.before, item.after
    reason = f"now {verdict_words(after)}; was {verdict_words(before)}"
    return ChangedStory(
        article_id=item.article.article_id,
        story_id=item.article.story_id,
        url=item.article.url,
        title=item.article.title,
        score_before=before.score if before else 0.0,
        score_after=after.score if after else 0.0,
        changes=term_changes(before, after),
        reason=reason,
    )


class Replay:
    """Scores stored articles under the version in force (`before`) and the edit (`after`).

    `before` may be None (a new watchlist: nothing matched before). Feed one article at a
    time (`score`), or everything at once (`diff`).
    """

    def __init__(self, before: Watchlist | None, after: Watchlist) -> None:
        self.after_id = after.id
        self.before_id = after.id + BEFORE_SUFFIX
        versions = [after]
        if before is not None:
            versions.append(dataclasses.replace(before, id=self.before_id))
        self.before = versions[1] if before is not None else None
        self.after = after
        self.matcher: Matcher = compile_matcher(versions)
        empty = self.matcher.scan("", "")
        self._no_hits = {w.id: score_scan(self.matcher, w.id, empty) for w in versions}
        self._bounds = {w.id: _Bounds.of(self.matcher, w, self._no_hits[w.id]) for w in versions}
        self.fully_scored = 0

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids the two versions carry here (the semantic scores are keyed by them)."""
        return (self.after_id,) if self.before is None else (self.after_id, self.before_id)

    def score(
        self, article: StoredArticle, semantic: Mapping[str, SemanticScore] | None = None
    ) -> Scored:
        wanted = [
            w.id
            for w in (self.after, self.before)
            if w is not None and w.covers_feed(article.feed_name, article.feed_tags)
        ]
        semantic = semantic or {}
        similar = any(s.verdict is Verdict.SIMILAR for s in semantic.values())
        scores: dict[str, Score] = {}
        if wanted:
            if article.match_text is None or similar or self._may_score(article.match_text, wanted):
                # Both versions from the one scan, so the two sides always explain alike.
                self.fully_scored += 1
                scores.update(
                    score_watchlists(
                        self.matcher,
                        article.title,
                        article.text,
                        watchlist_ids=wanted,
                        semantic=semantic,
                    )
                )
            else:
                for w in wanted:
                    found = semantic.get(w)
                    no_hit = self._no_hits[w]
                    scores[w] = no_hit if found is None else no_hit.with_semantic(found)
        return Scored(article, scores.get(self.before_id), scores.get(self.after_id))

    def _may_score(self, match_text: str, wanted: Sequence[str]) -> bool:
        """Could this article match one of the versions? Decided on upper bounds of its hits
        (`Matcher.candidate_counts`), so a no is exact and only a yes costs a full scan."""
        counts = self.matcher.candidate_counts(match_text)
        return any(self._bounds[w].may_match(counts) for w in wanted)

    def diff(
        self, articles: Iterable[StoredArticle], semantic: SemanticOf | None = None
    ) -> BacktestDiff:
        summary = Summary()
        for article, similar in self.scored(articles, semantic):
            summary.add(self.score(article, similar))
        return summary.result(fully_scored=self.fully_scored)

    @staticmethod
    def scored(
        articles: Iterable[StoredArticle], semantic: SemanticOf | None
    ) -> Iterator[tuple[StoredArticle, Mapping[str, SemanticScore] | None]]:
        """Each article with its semantic scores, asked for SEMANTIC_BATCH articles at a time
        (one product for many articles; the stream is never held in memory at once)."""
        if semantic is None:
            yield from ((article, None) for article in articles)
            return
        iterator = iter(articles)
        while batch := list(itertools.islice(iterator, SEMANTIC_BATCH)):
            yield from zip(batch, semantic(batch), strict=True)


class Summary:
    """Stories added and removed by the edit, and the counts of each side, accumulated one
    scored article at a time: only matching articles are kept, so a long window of stored
    text is never held in memory at once."""

    def __init__(self) -> None:
        self.scanned = 0
        self._matched = [0, 0]  # before, after
        self._alerts = [0, 0]
        self._best: tuple[dict[tuple[str, int], Scored], dict[tuple[str, int], Scored]] = ({}, {})

    def add(self, item: Scored) -> None:
        self.scanned += 1
        key = _story_key(item.article)
        for side, score in enumerate((item.before, item.after)):
            if score is None or not score.matched:
                continue
            self._matched[side] += 1
            self._alerts[side] += score.alert
            best = self._best[side]
            known = best.get(key)
            known_score = (known.before, known.after)[side] if known else None
            if known_score is None or known_score.score < score.score:
                best[key] = item

    def result(self, *, fully_scored: int = 0) -> BacktestDiff:
        before, after = self._best
        added = [_changed(item) for key, item in after.items() if key not in before]
        removed = [_changed(item) for key, item in before.items() if key not in after]
        added.sort(key=lambda c: (-c.score_after, c.article_id))
        removed.sort(key=lambda c: (-c.score_before, c.article_id))
        return BacktestDiff(
            scanned=self.scanned,
            before=SideCounts(self._matched[0], len(before), self._alerts[0]),
            after=SideCounts(self._matched[1], len(after), self._alerts[1]),
            added=tuple(added),
            removed=tuple(removed),
            fully_scored=fully_scored,
        )


def summarize(scored: Iterable[Scored], *, fully_scored: int = 0) -> BacktestDiff:
    """Stories added and removed by the edit, and the counts of each side."""
    summary = Summary()
    for item in scored:
        summary.add(item)
    return summary.result(fully_scored=fully_scored)


def _story_key(article: StoredArticle) -> tuple[str, int]:
    if article.story_id is not None:
        return ("story", article.story_id)
    return ("article", article.article_id)


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What one version needs of an article's candidate hits before it can match."""

    always: bool  # the no-hit score matches already (threshold <= 0): always scan
    threshold: float
    terms: tuple[tuple[int, float], ...]  # (entry, weight)
    near: tuple[tuple[tuple[int, ...], float], ...]  # (entries, bonus)
    require: tuple[frozenset[int], ...]  # each group's entries

    @classmethod
    def of(cls, matcher: Matcher, watchlist: Watchlist, no_hits: Score) -> _Bounds:
        entries = matcher.term_entries[watchlist.id]
        phrases = matcher.phrase_entries[watchlist.id]
        return cls(
            always=no_hits.matched,
            threshold=watchlist.threshold,
            terms=tuple((entries[i], t.weight) for i, t in enumerate(watchlist.terms)),
            near=tuple((tuple(phrases[p] for p in n.terms), n.bonus) for n in watchlist.near),
            require=tuple(frozenset(phrases[p] for p in group) for group in watchlist.require),
        )

    def may_match(self, counts: Mapping[int, Sequence[int]]) -> bool:
        if self.always:
            return True
        if not all(any(e in counts for e in group) for group in self.require):
            return False
        # Contributions grow with mentions, so the candidate counts bound the score.
        bound = sum(
            contribution(weight, *counts[entry]) for entry, weight in self.terms if entry in counts
        )
        bound += sum(bonus for near, bonus in self.near if all(e in counts for e in near))
        return bound + _ROUNDING >= self.threshold


_ROUNDING = 1e-3  # scores are rounded to three decimals
