"""Scoring an article against watchlists, with the explanation an analyst reads.

Holds the formula, the gates and the explanation; must not match text itself (matcher.py
does) nor touch files, the clock or the database. Deterministic: the same article and
watchlists give the same score and the same explanation, key for key.

The formula (README.md "How an article is scored" has a worked example):

    mentions(term)     = 3 × (hits in the title) + (hits in the body)
    contribution(term) = weight × (2 − 2^(1 − mentions))      0 when there are no mentions
    score              = Σ contributions + Σ bonuses of the [[near]] rules that hold

The first mention counts the full weight and every further one half the one before, so a term
never adds more than twice its weight however often it is repeated; a title hit counts as three
mentions. A [[near]] rule holds when all its terms occur within `within` words of each other in
the title or in the body. `matched` = score >= threshold, every `require` group has a hit and
no `exclude` phrase has one; `alert` = matched and score >= alert_threshold.

A watchlist with examples may add a semantic contribution (core/semantic.py), computed by the
caller and passed in: it adds to the score and is explained beside the terms. It stands in for
the `require` groups only when the article names none of the watchlist's terms: a named term
brings its gates with it, so "S 400" next to "Mercedes" or India's S-400s without sanctions
stay out whatever their similarity, while a report the terms cannot see at all can still match
on similarity. `exclude` vetoes in every case.
"""

from __future__ import annotations

import unicodedata
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.matcher import FieldScan, Hit, Matcher, Scan
from monitor.core.semantic import SemanticScore, Verdict
from monitor.core.watchlist import Near

TITLE_MENTIONS = 3  # one hit in the title counts as this many mentions
MAX_SNIPPETS = 3
SNIPPET_CONTEXT = 60  # characters of original text on each side of a hit
MARK_OPEN, MARK_CLOSE = "**", "**"  # around hits in snippets: bold in Markdown chat formats


@dataclass(frozen=True, slots=True)
class TermScore:
    term: str  # the term's `match`, as written
    title_count: int
    body_count: int
    contribution: float
    snippets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NearBonus:
    terms: tuple[str, ...]
    within: int
    bonus: float


@dataclass(frozen=True, slots=True)
class Score:
    watchlist_id: str
    score: float
    threshold: float
    alert_threshold: float | None
    matched: bool
    alert: bool
    vetoed_by: str | None  # the exclude phrase found, if any
    missing: tuple[tuple[str, ...], ...]  # require groups without a hit
    terms: tuple[TermScore, ...]  # the terms that matched, highest contribution first
    near: tuple[NearBonus, ...]  # the [[near]] rules that held
    semantic: SemanticScore | None = None  # when the watchlist has examples
    require_met_by_semantic: bool = False  # no term named: similarity stood in for `require`

    def with_semantic(self, semantic: SemanticScore) -> Score:
        """This score showing `semantic` (one that adds nothing). By hand, not with
        dataclasses.replace: this runs for most watchlists of most articles, and replace
        costs several times as much."""
        return Score(
            self.watchlist_id,
            self.score,
            self.threshold,
            self.alert_threshold,
            self.matched,
            self.alert,
            self.vetoed_by,
            self.missing,
            self.terms,
            self.near,
            semantic,
            self.require_met_by_semantic,
        )

    def explanation(self) -> dict[str, Any]:
        """The score and its reasons as plain JSON values (stored in matches.explanation)."""
        out = self._lexical_explanation()
        # Only watchlists with examples have the key: the lexical explanation stays as it was.
        if self.semantic is not None:
            out["semantic"] = {
                **self.semantic.explanation(),
                "require_met": self.require_met_by_semantic,
            }
        return out

    def _lexical_explanation(self) -> dict[str, Any]:
        return {
            "watchlist": self.watchlist_id,
            "score": self.score,
            "threshold": self.threshold,
            "alert_threshold": self.alert_threshold,
            "matched": self.matched,
            "alert": self.alert,
            "vetoed_by": self.vetoed_by,
            "missing": [list(group) for group in self.missing],
            "terms": [
                {
                    "term": t.term,
                    "title_count": t.title_count,
                    "body_count": t.body_count,
                    "contribution": t.contribution,
                    "snippets": list(t.snippets),
                }
                for t in self.terms
            ],
            "near": [
                {"terms": list(n.terms), "within": n.within, "bonus": n.bonus} for n in self.near
            ],
        }


def contribution(weight: float, title_count: int, body_count: int) -> float:
    """What one term adds: its weight, saturating at twice the weight with repetition."""
    mentions = TITLE_MENTIONS * title_count + body_count
    if mentions == 0:
        return 0.0
    return weight * (2.0 - 2.0 ** (1 - mentions))


def score_scan(
    matcher: Matcher, watchlist_id: str, scan: Scan, semantic: SemanticScore | None = None
) -> Score:
    """Score one watchlist from a scan of the article (matcher.scan), with its semantic
    contribution if the watchlist has examples."""
    watchlist = matcher.watchlists[watchlist_id]
    phrase_ids = matcher.phrase_entries[watchlist_id]

    def found(phrase: str) -> bool:
        entry = phrase_ids[phrase]
        return entry in scan.title.hits or entry in scan.body.hits

    terms: list[tuple[float, int, TermScore]] = []
    # Only the entries that occur: a watchlist may have thousands of terms, an article a few.
    for entry in {*scan.title.hits, *scan.body.hits}:
        index = matcher.entries[entry].term_index
        if matcher.entries[entry].watchlist_id != watchlist_id or index is None:
            continue
        term = watchlist.terms[index]
        title_hits = scan.title.hits.get(entry, ())
        body_hits = scan.body.hits.get(entry, ())
        value = round(contribution(term.weight, len(title_hits), len(body_hits)), 3)
        snippets = _snippets(scan, title_hits, body_hits)
        terms.append(
            (-value, index, TermScore(term.match, len(title_hits), len(body_hits), value, snippets))
        )
    terms.sort(key=lambda item: item[:2])
    bonuses = tuple(
        NearBonus(near.terms, near.within, near.bonus)
        for near in watchlist.near
        if _near_holds(near, [phrase_ids[p] for p in near.terms], scan)
    )
    lexical = sum(t.contribution for _, _, t in terms) + sum(b.bonus for b in bonuses)
    similar = semantic is not None and semantic.verdict is Verdict.SIMILAR
    total = round(lexical + (semantic.contribution if semantic is not None else 0.0), 3)
    vetoed_by = next((phrase for phrase in watchlist.exclude if found(phrase)), None)
    missing = tuple(group for group in watchlist.require if not any(map(found, group)))
    # `terms` holds the terms that occur: none means the lexical gates have nothing to judge.
    require_met_by_semantic = bool(missing) and similar and not terms
    if require_met_by_semantic:
        missing = ()
    matched = vetoed_by is None and not missing and total >= watchlist.threshold
    alert = matched and watchlist.alert_threshold is not None and total >= watchlist.alert_threshold
    return Score(
        watchlist_id=watchlist_id,
        score=total,
        threshold=watchlist.threshold,
        alert_threshold=watchlist.alert_threshold,
        matched=matched,
        alert=alert,
        vetoed_by=vetoed_by,
        missing=missing,
        terms=tuple(t for _, _, t in terms),
        near=bonuses,
        semantic=semantic,
        require_met_by_semantic=require_met_by_semantic,
    )


def score_article(
    matcher: Matcher,
    watchlist_id: str,
    title: str,
    text: str,
    semantic: SemanticScore | None = None,
) -> Score:
    """Score one article (plain-text title and body) against one watchlist of the matcher."""
    return score_scan(matcher, watchlist_id, matcher.scan(title, text), semantic)


def score_watchlists(
    matcher: Matcher,
    title: str,
    text: str,
    *,
    feed_name: str | None = None,
    feed_tags: Collection[str] = (),
    watchlist_ids: Iterable[str] | None = None,
    semantic: Mapping[str, SemanticScore] | None = None,
    match_text: str | None = None,
    matched_only: bool = False,
) -> list[tuple[str, Score]]:
    """Score one article against every watchlist that covers its feed, sorted by id.

    The article is folded and scanned once for all of them. With no `feed_name`, every
    watchlist counts as covering it (a file given to `monitor score`); `watchlist_ids`
    narrows the set further. `semantic`: the article's semantic score for each watchlist
    that has examples (core/semantic.py). `match_text`: its match form, if already made
    (`Matcher.scan`). `matched_only`: only the scores that match (what a poll stores), and
    none made for a watchlist that could not match this article.
    """
    semantic = semantic or {}
    chosen = sorted(matcher.watchlists if watchlist_ids is None else watchlist_ids)
    if feed_name is not None:
        chosen = [w for w in chosen if matcher.watchlists[w].covers_feed(feed_name, feed_tags)]
    if not chosen:
        return []
    scan = matcher.scan(title, text, match_text)
    with_hits = {
        matcher.entries[entry].watchlist_id
        for part in (scan.title, scan.body)
        for entry in part.hits
    }
    # A watchlist none of whose terms or phrases occur scores the same for every such
    # article: that score is made once per matcher, not once per article.
    without_hits = _NO_HIT_SCORES.get(matcher)
    if without_hits is None:
        without_hits = _NO_HIT_SCORES[matcher] = {
            w: score_scan(matcher, w, _EMPTY_SCAN) for w in matcher.watchlists
        }
    if not matched_only:
        return [(w, _score(matcher, w, scan, w in with_hits, semantic.get(w))) for w in chosen]
    matched = []
    for w in chosen:
        similar = semantic.get(w)
        if (
            w not in with_hits
            and not (similar is not None and similar.verdict is Verdict.SIMILAR)
            and not without_hits[w].matched
        ):
            continue  # the no-hit score, which does not match, shown with its similarity
        score = _score(matcher, w, scan, w in with_hits, similar)
        if score.matched:
            matched.append((w, score))
    return matched


def _score(
    matcher: Matcher, watchlist_id: str, scan: Scan, hits: bool, semantic: SemanticScore | None
) -> Score:
    if hits or (semantic is not None and semantic.verdict is Verdict.SIMILAR):
        return score_scan(matcher, watchlist_id, scan, semantic)
    # No hit and nothing added: the score of every such article, with this one's similarity
    # to show. Most articles of a feed are this case for most watchlists.
    without = _NO_HIT_SCORES[matcher][watchlist_id]
    return without if semantic is None else without.with_semantic(semantic)


_EMPTY_SCAN = Scan(FieldScan("", {}), FieldScan("", {}))
_NO_HIT_SCORES: weakref.WeakKeyDictionary[Matcher, dict[str, Score]] = weakref.WeakKeyDictionary()


def _near_holds(near: Near, entries: Sequence[int], scan: Scan) -> bool:
    return any(_within(near.within, entries, part) for part in (scan.title, scan.body))


def _within(window: int, entries: Sequence[int], part: FieldScan) -> bool:
    """Do hits of every entry occur within `window` words of each other?"""
    wanted = set(entries)
    if not all(entry in part.hits for entry in wanted):
        return False
    events = sorted((hit.token, entry) for entry in wanted for hit in part.hits[entry])
    counts: dict[int, int] = {}
    left = 0
    for token, entry in events:
        counts[entry] = counts.get(entry, 0) + 1
        while token - events[left][0] > window:
            gone = events[left][1]
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
        if len(counts) == len(wanted):
            return True
    return False


def _snippets(scan: Scan, title_hits: Sequence[Hit], body_hits: Sequence[Hit]) -> tuple[str, ...]:
    snippets: list[str] = []
    for part, hits in ((scan.title, title_hits), (scan.body, body_hits)):
        if len(snippets) == MAX_SNIPPETS:
            break
        spans = _Spans(part, hits)
        covered_until = -1
        index = 0
        while len(snippets) < MAX_SNIPPETS and spans.reach(index):
            start, end = spans.known[index]
            index += 1
            if start < covered_until:
                continue  # already shown, marked, in the previous snippet
            window_start, window_end = _window(part.original, start, end)
            spans.extend_to(window_end)
            inside = [(a, b) for a, b in spans.known if a >= window_start and b <= window_end]
            snippets.append(_render(part.original, window_start, window_end, inside))
            covered_until = window_end
    return tuple(snippets)


class _Spans:
    """A term's hits in one field mapped back to the original text as far as the snippets
    need them: hits come in text order, and a hit-heavy article has hundreds of which three
    snippets show a few (mapping them all was a fifth of scoring such an article)."""

    def __init__(self, part: FieldScan, hits: Sequence[Hit]) -> None:
        self._part = part
        self._hits = hits
        self.known: list[tuple[int, int]] = []

    def reach(self, index: int) -> bool:
        """Whether there is an `index`-th span, mapping it if needed."""
        while len(self.known) <= index < len(self._hits):
            self.known.append(_hit_span(self._part, self._hits[len(self.known)]))
        return index < len(self.known)

    def extend_to(self, limit: int) -> None:
        """Map every span that starts before `limit`."""
        while len(self.known) < len(self._hits) and (not self.known or self.known[-1][0] < limit):
            self.known.append(_hit_span(self._part, self._hits[len(self.known)]))


def _hit_span(part: FieldScan, hit: Hit) -> tuple[int, int]:
    start, end = part.original_span(hit)
    # Keep combining marks that follow the last letter (a decomposed accent) inside the mark.
    while end < len(part.original) and unicodedata.combining(part.original[end]):
        end += 1
    return start, end


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    """Context around [start, end): about SNIPPET_CONTEXT characters, cut at whitespace."""
    left = max(0, start - SNIPPET_CONTEXT)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    right = min(len(text), end + SNIPPET_CONTEXT)
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    return left, right


def _render(text: str, left: int, right: int, spans: Iterable[tuple[int, int]]) -> str:
    out = []
    position = left
    for start, end in spans:
        out += [text[position:start], MARK_OPEN, text[start:end], MARK_CLOSE]
        position = end
    out.append(text[position:right])
    # str.split collapses the same whitespace as r"\s+" (str.isspace) and strips, in C.
    snippet = " ".join("".join(out).split())
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    return f"{prefix}{snippet}{suffix}"
