"""`watchlists stats`: how good a watchlist is, from its stored matches and the analysts' labels.

Pure: stored matches (with the terms their explanations name), labelled articles, the
watchlist and the window in; counts, precision, per-term noise and checked edits out. Must not
read the database or the clock (flows/watchlist_stats.py gathers, and passes `now`).

What counts:

- matches, alerts and the matches per day are those stored within the window; a story is
  counted once however many of its copies matched.
- a label speaks for its story (the label in force: the newest per story), and counts when
  the story matched within the window. Precision = relevant / labelled, over those stories.
- a term brought a labelled story when the stored explanation of one of the story's matches
  names it. A term is noisy when it brought more irrelevant stories than relevant ones; the
  noisy terms come first, the largest share of irrelevant first.
- for each term that brought irrelevant stories (the first MAX_NOISY_TERMS in that order:
  a term every match needs, such as S-400 for s400, is rarely "mostly noise", yet it is where
  an exclude goes), the edits that would remove its irrelevant matches, each checked by
  replaying every labelled article through the edited watchlist (core/label_replay.py): an
  `exclude` of a word found near the term in the irrelevant articles and in no relevant one,
  and a lower weight for the term. An edit is shown only when the replay says it removes at
  least one irrelevant match, with what it costs in relevant ones.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from monitor.core.backtest import Replay, StoredArticle
from monitor.core.label_replay import LabelCounts, LabelledArticle, replay_labels
from monitor.core.matcher import compile_matcher, match_form
from monitor.core.states import FeedbackLabel
from monitor.core.watchlist import Watchlist

_WORD = re.compile(r"\w+")
MAX_NOISY_TERMS = 5  # terms that get edits suggested, the noisiest first
MAX_CANDIDATES = 12  # exclude words replayed per noisy term
NEAR_WORDS = 8  # words on each side of a hit that count as "near the term"
MIN_WORD = 3  # shorter words are too common to exclude
WEIGHT_FACTORS = (0.75, 0.5, 0.25, 0.1)  # weight changes tried, as fractions of the weight


@dataclass(frozen=True, slots=True)
class StoredMatch:
    """One stored match of the watchlist, as the stats need it."""

    article_id: int
    story_id: int | None
    matched_at: datetime
    alerted: bool  # an immediate alert carried it
    terms: tuple[str, ...]  # the terms its explanation names (their `match`)

    @property
    def story_key(self) -> tuple[str, int]:
        return _key(self.story_id, self.article_id)


@dataclass(frozen=True, slots=True)
class StoryLabel:
    """The label in force for a story (or an article without one) of the watchlist."""

    article_id: int  # the article the analyst labelled
    story_id: int | None
    label: FeedbackLabel

    @property
    def story_key(self) -> tuple[str, int]:
        return _key(self.story_id, self.article_id)

    @property
    def relevant(self) -> bool:
        return self.label is FeedbackLabel.RELEVANT


@dataclass(frozen=True, slots=True)
class TermNoise:
    term: str
    relevant: int  # labelled relevant stories it contributed to
    irrelevant: int

    @property
    def noisy(self) -> bool:
        return self.irrelevant > self.relevant

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "relevant": self.relevant,
            "irrelevant": self.irrelevant,
            "noisy": self.noisy,
        }


@dataclass(frozen=True, slots=True)
class Edit:
    """An edit of the watchlist and what replaying the labelled articles says it does."""

    kind: str  # "exclude" | "weight"
    toml: str  # the edited line, as it would stand in the file
    removes_irrelevant: int  # irrelevant labelled articles matched before and not after
    loses_relevant: int  # relevant labelled articles matched before and not after
    before: LabelCounts
    after: LabelCounts
    edited: Watchlist = dataclasses.field(repr=False, compare=False)
    # Unlabelled matches of the window the edit removes too: how far beyond the labels it
    # reaches (None: not replayed).
    removes_unlabelled: int | None = None
    unlabelled: int = 0  # unlabelled articles of the window's matches that match before

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "toml": self.toml,
            "removes_irrelevant": self.removes_irrelevant,
            "loses_relevant": self.loses_relevant,
            "removes_unlabelled": self.removes_unlabelled,
            "unlabelled": self.unlabelled,
            "precision_before": self.before.precision,
            "precision_after": self.after.precision,
        }


@dataclass(frozen=True, slots=True)
class NoisyTerm:
    noise: TermNoise
    edits: tuple[Edit, ...]  # the exclude first, then the weight change; may be empty

    def as_dict(self) -> dict[str, Any]:
        return {**self.noise.as_dict(), "edits": [edit.as_dict() for edit in self.edits]}


@dataclass(frozen=True, slots=True)
class WatchlistStats:
    watchlist_id: str
    since: datetime
    until: datetime
    matches: int
    stories: int
    alerts: int
    per_day: tuple[tuple[date, int], ...]  # days with matches, oldest first
    labelled: int  # matched stories with a label in force
    relevant: int
    irrelevant: int
    terms: tuple[TermNoise, ...]  # noisy terms first, the noisiest first
    noisy: tuple[NoisyTerm, ...]  # the terms that brought irrelevant stories, in that order

    @property
    def labelled_share(self) -> float | None:
        return round(self.labelled / self.stories, 4) if self.stories else None

    @property
    def precision(self) -> float | None:
        return round(self.relevant / self.labelled, 4) if self.labelled else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of `watchlists stats --format json` (stable keys)."""
        return {
            "watchlist": self.watchlist_id,
            "since": self.since,
            "until": self.until,
            "matches": self.matches,
            "stories": self.stories,
            "alerts": self.alerts,
            "per_day": [{"date": day.isoformat(), "matches": n} for day, n in self.per_day],
            "labelled": self.labelled,
            "labelled_share": self.labelled_share,
            "relevant": self.relevant,
            "irrelevant": self.irrelevant,
            "precision": self.precision,
            "terms": [term.as_dict() for term in self.terms],
            "noisy_terms": [term.as_dict() for term in self.noisy],
        }


def watchlist_stats(
    watchlist: Watchlist,
    matches: Sequence[StoredMatch],
    labels: Sequence[StoryLabel],
    articles: Sequence[StoredArticle],
    *,
    since: datetime,
    now: datetime,
    matched: Sequence[StoredArticle] = (),
) -> WatchlistStats:
    """The stats of one watchlist over [since, now].

    `labels`: the labels in force, one per story; those of stories without a match in the
    window are left out. `articles`: the labelled articles whose text is still stored, for
    the replay (a pruned one still counts in precision, but cannot check an edit).
    `matched`: the stored articles of the window's matches; the suggested edits are replayed
    on the unlabelled ones too, to say how many more matches each would remove.
    """
    window = [m for m in matches if since <= m.matched_at <= now]
    terms_of: dict[tuple[str, int], set[str]] = {}
    for match in window:
        terms_of.setdefault(match.story_key, set()).update(match.terms)
    counted = [label for label in labels if label.story_key in terms_of]
    by_id = {article.article_id: article for article in articles}
    replayable = [
        LabelledArticle(by_id[label.article_id], label.label)
        for label in counted
        if label.article_id in by_id
    ]
    labelled_keys = {label.story_key for label in labels}
    unlabelled = [a for a in matched if _key(a.story_id, a.article_id) not in labelled_keys]
    noise = _term_noise(watchlist, counted, terms_of)
    per_day = Counter(m.matched_at.date() for m in window)
    relevant = sum(label.relevant for label in counted)
    return WatchlistStats(
        watchlist_id=watchlist.id,
        since=since,
        until=now,
        matches=len(window),
        stories=len(terms_of),
        alerts=sum(m.alerted for m in window),
        per_day=tuple(sorted(per_day.items())),
        labelled=len(counted),
        relevant=relevant,
        irrelevant=len(counted) - relevant,
        terms=noise,
        noisy=tuple(
            NoisyTerm(
                term, _with_reach(watchlist, _edits(watchlist, term.term, replayable), unlabelled)
            )
            for term in [t for t in noise if t.irrelevant][:MAX_NOISY_TERMS]
        ),
    )


def _key(story_id: int | None, article_id: int) -> tuple[str, int]:
    return ("story", story_id) if story_id is not None else ("article", article_id)


def _term_noise(
    watchlist: Watchlist,
    counted: Sequence[StoryLabel],
    terms_of: dict[tuple[str, int], set[str]],
) -> tuple[TermNoise, ...]:
    relevant: Counter[str] = Counter()
    irrelevant: Counter[str] = Counter()
    for label in counted:
        side = relevant if label.relevant else irrelevant
        side.update(terms_of[label.story_key])
    order = {term.match: index for index, term in enumerate(watchlist.terms)}
    rows = [TermNoise(t, relevant[t], irrelevant[t]) for t in {*relevant, *irrelevant}]
    # Noisy first, the largest share of irrelevant first; then by how much each brought.
    rows.sort(
        key=lambda r: (
            not r.noisy,
            -r.irrelevant / (r.relevant + r.irrelevant),
            -(r.relevant + r.irrelevant),
            order.get(r.term, len(order)),
            r.term,
        )
    )
    return tuple(rows)


def _edits(
    watchlist: Watchlist, term: str, labelled: Sequence[LabelledArticle]
) -> tuple[Edit, ...]:
    index = next((i for i, t in enumerate(watchlist.terms) if t.match == term), None)
    if index is None:  # a term the file no longer has: nothing to edit
        return ()
    edits = [_best_exclude(watchlist, index, labelled), _best_weight(watchlist, index, labelled)]
    return tuple(edit for edit in edits if edit is not None)


def _with_reach(
    watchlist: Watchlist, edits: Sequence[Edit], unlabelled: Sequence[StoredArticle]
) -> tuple[Edit, ...]:
    """The edits with the unlabelled matches of the window each removes, by replay."""
    out = []
    for edit in edits:
        replay = Replay(watchlist, edit.edited)
        matched = removed = 0
        for article in unlabelled:
            scored = replay.score(article)
            if scored.before is not None and scored.before.matched:
                matched += 1
                removed += scored.after is None or not scored.after.matched
        out.append(dataclasses.replace(edit, removes_unlabelled=removed, unlabelled=matched))
    return tuple(out)


def _try(
    watchlist: Watchlist, edited: Watchlist, labelled: Sequence[LabelledArticle]
) -> tuple[int, int, LabelCounts, LabelCounts]:
    replay = replay_labels(watchlist, edited, labelled)
    dropped = [f.label for f in replay.flips if not f.matched_after]
    removes = sum(label is FeedbackLabel.IRRELEVANT for label in dropped)
    loses = sum(label is FeedbackLabel.RELEVANT for label in dropped)
    return removes, loses, replay.before, replay.after


def _best_exclude(
    watchlist: Watchlist, index: int, labelled: Sequence[LabelledArticle]
) -> Edit | None:
    best: tuple[int, Watchlist, LabelCounts, LabelCounts] | None = None
    for word in _exclude_candidates(watchlist, index, labelled):
        edited = dataclasses.replace(watchlist, exclude=(*watchlist.exclude, word))
        removes, loses, before, after = _try(watchlist, edited, labelled)
        # Only edits that keep every relevant article: an exclude is a veto.
        if loses == 0 and removes > 0 and (best is None or removes > best[0]):
            best = (removes, edited, before, after)
    if best is None:
        return None
    removes, edited, before, after = best
    shown = ", ".join(f'"{p}"' for p in edited.exclude)
    return Edit("exclude", f"exclude = [{shown}]", removes, 0, before, after, edited)


def _best_weight(
    watchlist: Watchlist, index: int, labelled: Sequence[LabelledArticle]
) -> Edit | None:
    term = watchlist.terms[index]
    best: tuple[tuple[int, int], Edit] | None = None
    for factor in WEIGHT_FACTORS:
        weight = round(term.weight * factor, 2)
        if weight <= 0:
            continue
        terms = list(watchlist.terms)
        terms[index] = dataclasses.replace(term, weight=weight)
        edited = dataclasses.replace(watchlist, terms=tuple(terms))
        removes, loses, before, after = _try(watchlist, edited, labelled)
        if removes == 0:
            continue
        toml = f'weight = {weight:g} for "{term.match}" (terms[{index}], now {term.weight:g})'
        edit = Edit("weight", toml, removes, loses, before, after, edited)
        # The fewest relevant lost, then the most noise removed; the mildest change on a tie.
        rank = (loses, -removes)
        if best is None or rank < best[0]:
            best = (rank, edit)
    return best[1] if best is not None else None


def _exclude_candidates(
    watchlist: Watchlist, index: int, labelled: Sequence[LabelledArticle]
) -> list[str]:
    """Words near the term's hits in irrelevant articles and in no relevant article, the
    ones near it in the most irrelevant articles first."""
    matcher = compile_matcher([watchlist])
    entry = matcher.term_entries[watchlist.id][index]
    own = _own_words(watchlist)
    in_relevant: set[str] = set()
    for item in labelled:
        if item.relevant:
            in_relevant.update(_words(item.article.title, item.article.text))
    near: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for item in labelled:
        if item.relevant:
            continue
        scan = matcher.scan(item.article.title, item.article.text)
        found: set[str] = set()
        for part, original in ((scan.title, item.article.title), (scan.body, item.article.text)):
            words = match_form(original).split()
            for hit in part.hits.get(entry, ()):
                found.update(words[max(0, hit.token - NEAR_WORDS) : hit.token + NEAR_WORDS + 1])
        if not found:
            continue  # the term does not occur in it: not this term's noise
        near.update(found)
        anywhere.update(_words(item.article.title, item.article.text))
    usable = [
        w
        for w in near
        if _usable(w)
        and w not in in_relevant
        and w not in own
        # "s400" is a form of the term S-400, not a word beside it
        and not any(matcher.scan("", w).body.hits)
    ]
    usable.sort(key=lambda w: (-near[w], -anywhere[w], -len(w), w))
    noise = [item for item in labelled if not item.relevant]
    return [_as_written(w, noise) for w in usable[:MAX_CANDIDATES]]


def _as_written(word: str, labelled: Sequence[LabelledArticle]) -> str:
    """The folded word as the articles spell it (Mercedes, not mercedes), for the file."""
    for item in labelled:
        for written in _WORD.findall(f"{item.article.title} {item.article.text}"):
            if match_form(written).split() == [word]:
                return str(written)
    return word


def _words(*texts: str) -> set[str]:
    return {word for text in texts for word in match_form(text).split()}


def _own_words(watchlist: Watchlist) -> set[str]:
    """Words of the watchlist's own spellings and phrases: excluding them would veto itself."""
    spellings = [s.removesuffix("*") for t in watchlist.terms for s in t.spellings]
    return _words(*spellings, *watchlist.free_phrases())


def _usable(word: str) -> bool:
    return len(word) >= MIN_WORD and not word.isdigit()
