"""Finding the terms of a whole watchlist set in an article: one Aho-Corasick automaton.

Holds the compiled matcher and the hits it finds; must not score (scoring.py does) nor read
files. Pure: compiled from `Watchlist` values, run on strings.

How a spelling matches (the same rules the reference implementation in tests/core/test_matcher.py
spells out as one regular expression per term):

- Text and spellings are folded (folding.py) and compared in match form, where every run of
  characters that are neither letters nor digits is one space. Hence punctuation between
  words counts as a separator, and an apostrophe suffix (İdlib'de, S-400'ler) leaves the
  word whole.
- Pieces joined by a hyphen or by a change between letters and digits may be written with
  or without a separator: S-400 = S400 = S 400.
- Whole words: nothing alphanumeric directly before, and after it either nothing
  alphanumeric or a plain "s" (S-400s) and then nothing alphanumeric.
- A spelling ending in "*" is a stem: it matches any word that starts with it (Kurd*).
- A case-sensitive term matches only where the author's letters (case_key) have the case of
  one of its spellings: US, not us.
- Hits of one term do not overlap: of overlapping candidates the leftmost, then the longest,
  wins.

Every pattern is stored with a space on each side (" us "), so the automaton itself enforces
word boundaries and a word like "focus" costs nothing for the term "US".
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

import ahocorasick

from monitor.core.folding import (
    Folded,
    case_key,
    fold,
    fold_text,
    spaced_form,
    spelling_variants,
)
from monitor.core.match_form import article_match_form, match_form
from monitor.core.match_form import padded as pad
from monitor.core.watchlist import Term, Watchlist, spelling_key


class EntryKind(Enum):
    """What an automaton entry stands for in its watchlist."""

    TERM = "term"  # one [[terms]] table: its match and all its aliases
    PHRASE = "phrase"  # a free-standing string of require, exclude or near


class Entry(NamedTuple):
    """One thing to find: a term of a watchlist, or one of its free-standing phrases.

    A NamedTuple rather than a frozen dataclass: thousands are made when a set is compiled.
    """

    watchlist_id: str
    kind: EntryKind
    label: str  # the term's `match`, or the phrase as written
    term_index: int | None
    case_sensitive: bool
    case_keys: frozenset[str]  # of the whole-word spellings
    stem_case_keys: frozenset[str] = frozenset()  # of the stems (spellings ending in "*")


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence: folded-text span [start, end) and the index of its first word."""

    start: int
    end: int
    token: int


class FieldScan:
    """What the matcher found in one piece of text (the title, or the body)."""

    __slots__ = ("_folded", "hits", "original")

    def __init__(
        self, original: str, hits: Mapping[int, tuple[Hit, ...]], folded: Folded | None = None
    ) -> None:
        self.original = original
        self.hits = hits  # entry id → its hits, in text order
        self._folded = folded

    @property
    def folded(self) -> Folded:
        # Most articles have no hits: their offsets are never needed, so never computed.
        if self._folded is None:
            self._folded = fold(self.original)
        return self._folded

    def original_span(self, hit: Hit) -> tuple[int, int]:
        return self.folded.original_span(hit.start, hit.end)


@dataclass(frozen=True, slots=True)
class Scan:
    title: FieldScan
    body: FieldScan


# What a pattern stands for: (watchlist key, entry id within that watchlist, pattern length,
# spelling length, is a stem). The watchlist key is fixed when a watchlist is compiled, and
# each matcher maps it to where that watchlist's entries start: so what a watchlist compiled
# to is reused as it is by every later build. One pattern can serve several entries:
# " kurds " is "Kurds" exactly and "Kurd" in the plural.
_Target = tuple[int, int, int, int, bool]

# Runs of two spaces and more, which collapsing shortens. Written "  +" so that the regex
# engine can search for its literal prefix: five times faster than " {2,}".
_LONG_SPACES = re.compile("  +")


@dataclass
class _PositionMap:
    """Maps positions in match form back to folded text, built only when there are hits."""

    run_starts: list[int] = field(default_factory=list)  # match-form index of each long run
    shifts: list[int] = field(default_factory=list)  # chars dropped up to and incl. that run

    @classmethod
    def of(cls, spaced: str, until: int) -> _PositionMap:
        # Single spaces stay in place when " ".join(spaced.split()) collapses the text;
        # a leading run goes entirely, a longer run keeps one space.
        mapping = cls()
        dropped = len(spaced) - len(spaced.lstrip(" "))
        if dropped:
            mapping.run_starts.append(-1)
            mapping.shifts.append(dropped)
        for match in _LONG_SPACES.finditer(spaced, dropped):
            start, end = match.span()
            if start - dropped > until:
                break  # past the last hit: positions there are never asked for
            mapping.run_starts.append(start - dropped)
            dropped += end - start - 1
            mapping.shifts.append(dropped)
        return mapping

    def folded_index(self, match_index: int) -> int:
        # A letter or digit at match_index: shifted by every long run before it.
        runs_before = bisect.bisect_right(self.run_starts, match_index - 1)
        return match_index + (self.shifts[runs_before - 1] if runs_before else 0)


@dataclass(frozen=True, slots=True)
class _CompiledWatchlist:
    """One watchlist's entries and patterns, with entry ids counted from 0 within it."""

    key: int  # the first item of each of its targets
    entries: tuple[Entry, ...]
    term_entries: tuple[int, ...]  # by term index
    phrase_entries: dict[str, int]  # every string of require, exclude and near
    patterns: dict[str, tuple[_Target, ...]]


class Matcher:
    """All terms of a watchlist set, compiled once; rebuild it when a watchlist changes."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        self.watchlists: dict[str, Watchlist] = {w.id: w for w in watchlists}
        self.entries: list[Entry] = []
        # Per watchlist: the entry of each term (by term index) and of each string of
        # require, exclude and near.
        self.term_entries: dict[str, list[int]] = {}
        self.phrase_entries: dict[str, dict[str, int]] = {}
        # Watchlist key of a target → the id of that watchlist's first entry.
        self._offsets: dict[int, int] = {}
        patterns: dict[str, tuple[_Target, ...]] = {}
        every = self.watchlists.values()
        for watchlist, compiled in zip(every, _compile_watchlist.each(every), strict=True):
            offset = len(self.entries)
            self._offsets[compiled.key] = offset
            self.entries += compiled.entries
            self.term_entries[watchlist.id] = [offset + e for e in compiled.term_entries]
            self.phrase_entries[watchlist.id] = {
                phrase: offset + e for phrase, e in compiled.phrase_entries.items()
            }
            # One dict update, in C; then the few patterns an earlier watchlist has too.
            shared = patterns.keys() & compiled.patterns.keys()
            earlier = {pattern: patterns[pattern] for pattern in shared}
            patterns.update(compiled.patterns)
            for pattern, targets in earlier.items():
                patterns[pattern] = targets + compiled.patterns[pattern]
        self._automaton: ahocorasick.Automaton | None = None
        if patterns:
            automaton = ahocorasick.Automaton()
            for pattern, targets in patterns.items():
                automaton.add_word(pattern, targets)
            automaton.make_automaton()
            self._automaton = automaton

    def find(self, text: str) -> FieldScan:
        """The hits of every entry in one piece of text."""
        if self._automaton is None or not text:
            return FieldScan(text, {})
        folded = fold(text)
        spaced = spaced_form(folded.text)
        padded = pad(spaced)
        offsets = self._offsets
        candidates: dict[int, list[tuple[int, int]]] = {}
        for end_index, targets in self._automaton.iter(padded):
            for key, entry, pattern_length, length, stem in targets:
                # The spelling starts one past the pattern's leading space; a stem's hit
                # runs to the end of its word.
                start = end_index - pattern_length + 2
                end = padded.find(" ", start + length) if stem else start + length
                candidates.setdefault(offsets[key] + entry, []).append((start, end))
        if not candidates:
            return FieldScan(text, {}, folded)
        last = max(end for spans in candidates.values() for _, end in spans)
        positions = _PositionMap.of(spaced, last)
        # Word index of every candidate start, counting spaces once from left to right: one
        # count from the text's start per hit made hit-heavy articles quadratic.
        token_at: dict[int, int] = {}
        spaces, previous = -1, 0
        for start in sorted({start for spans in candidates.values() for start, _ in spans}):
            spaces += padded.count(" ", previous, start)
            token_at[start], previous = spaces, start
        hits: dict[int, tuple[Hit, ...]] = {}
        for entry_id, spans in candidates.items():
            entry = self.entries[entry_id]
            chosen: list[Hit] = []
            last_end = -1
            for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
                if start < last_end:
                    continue
                # padded index p is match-form index p - 1.
                f_start = positions.folded_index(start - 1)
                f_end = positions.folded_index(end - 2) + 1
                if entry.case_sensitive and not _same_case(entry, folded, text, f_start, f_end):
                    continue
                chosen.append(Hit(f_start, f_end, token_at[start]))
                last_end = end
            if chosen:
                hits[entry_id] = tuple(chosen)
        return FieldScan(text, hits, folded)

    def candidate_counts(self, match_text: str) -> dict[int, list[int]]:
        """Entry -> [title, body] counts of its patterns in a stored match form
        (`article_match_form`).

        Upper bounds of what `scan` finds: case is not checked and overlapping candidates
        are not resolved, both of which only remove hits. Most articles have few or no
        candidates, so a replay over stored articles scans in full only those whose bounds
        could reach a threshold; this is a single pass of the automaton.
        """
        counts: dict[int, list[int]] = {}
        if self._automaton is None or not match_text:
            return counts
        offsets = self._offsets
        title_end = match_text.find("\n")
        for end_index, targets in self._automaton.iter(match_text):
            part = int(end_index > title_end)
            for key, entry, _, _, _ in targets:
                found = counts.get(offsets[key] + entry)
                if found is None:
                    found = counts[offsets[key] + entry] = [0, 0]
                found[part] += 1
        return counts

    def scan(self, title: str, text: str, match_text: str | None = None) -> Scan:
        """Title and body are scanned apart: scores count them differently.

        `match_text`: the article's `article_match_form`, where the parse worker made it. A
        part in which the automaton finds no pattern there has no hit, so it is not folded
        with its offsets map and scanned again here; most parts of most articles are such
        (a fifth of the scoring time on the database writer went to folding them)."""
        if match_text is None:
            return Scan(self.find(title), self.find(text))
        counts = self.candidate_counts(match_text).values()  # entry -> [title, body]
        in_title, in_body = any(c[0] for c in counts), any(c[1] for c in counts)
        return Scan(
            self.find(title) if in_title else FieldScan(title, {}),
            self.find(text) if in_body else FieldScan(text, {}),
        )


def _compile(watchlist: Watchlist) -> _CompiledWatchlist:
    """Entries and patterns of one watchlist, under a key of its own (see _Target)."""
    key = next(_KEYS)
    entries: list[Entry] = []
    patterns: dict[str, tuple[_Target, ...]] = {}

    def add(entry: Entry, spellings: Iterable[str]) -> int:
        entry_id = len(entries)
        entries.append(entry)
        for spelling in spellings:
            for pattern, pattern_length, length, stem in _spelling_patterns(spelling):
                target = (key, entry_id, pattern_length, length, stem)
                known = patterns.get(pattern)
                if known is None:
                    patterns[pattern] = (target,)
                elif target not in known:  # two spellings that fold alike
                    patterns[pattern] = (*known, target)
        return entry_id

    term_ids = []
    for index, term in enumerate(watchlist.terms):
        whole, stems = _case_keys(term) if term.case_sensitive else _NO_KEYS
        entry = Entry(
            watchlist.id, EntryKind.TERM, term.match, index, term.case_sensitive, whole, stems
        )
        term_ids.append(add(entry, term.spellings))
    # Every string of require, exclude and near → the entry whose hits it stands for: the
    # term it names, or a phrase entry of its own. Resolved once, here.
    phrases: dict[str, int] = {}
    gate_phrases = _gate_phrases(watchlist)
    named = _terms_by_spelling(watchlist) if gate_phrases else {}
    for phrase in gate_phrases:
        if phrase in phrases:
            continue
        term_index = named.get(spelling_key(phrase))
        if term_index is None:
            entry = Entry(watchlist.id, EntryKind.PHRASE, phrase, None, False, *_NO_KEYS)
            phrases[phrase] = add(entry, (phrase,))
        else:
            phrases[phrase] = term_ids[term_index]
    return _CompiledWatchlist(key, tuple(entries), tuple(term_ids), phrases, patterns)


_KEYS = itertools.count()


class _WatchlistCache:
    """What watchlists compiled to, remembered: a rebuild after one file changed compiles that
    file only. By value (watchlists are values: an unchanged file loads equal), and, for the
    watchlists of the last build, by identity: an unchanged watchlist is often the very same
    object, and hashing one by value walks all its terms."""

    def __init__(self, maxsize: int) -> None:
        self._by_value = functools.lru_cache(maxsize)(_compile)
        # id → (the watchlist, kept so that its id cannot be reused, what it compiled to)
        self._last_build: dict[int, tuple[Watchlist, _CompiledWatchlist]] = {}

    def each(self, watchlists: Iterable[Watchlist]) -> list[_CompiledWatchlist]:
        last_build, this_build = self._last_build, {}
        out = []
        for watchlist in watchlists:
            known = last_build.get(id(watchlist))
            if known is None or known[0] is not watchlist:
                known = (watchlist, self._by_value(watchlist))
            this_build[id(watchlist)] = known
            out.append(known[1])
        self._last_build = this_build
        return out

    def cache_clear(self) -> None:
        self._by_value.cache_clear()
        self._last_build = {}


_compile_watchlist = _WatchlistCache(maxsize=4096)


@functools.lru_cache(maxsize=1 << 16)
def _spelling_patterns(spelling: str) -> tuple[tuple[str, int, int, bool], ...]:
    """The automaton patterns of one spelling: (pattern, its length, spelling length, stem).

    Remembered across rebuilds: after a watchlist edit almost every spelling is unchanged.
    """
    stem = spelling.endswith("*")
    out = []
    for variant in spelling_variants(fold_text(spelling.rstrip("*"))):
        for tail in ("",) if stem else (" ", "s "):
            pattern = f" {variant}{tail}"
            out.append((pattern, len(pattern), len(variant), stem))
    return tuple(out)


def _terms_by_spelling(watchlist: Watchlist) -> dict[tuple[str, bool], int]:
    """Spelling key → index of the first term with that spelling: Watchlist.term_index for
    every phrase at once, without folding every spelling again for each phrase."""
    named: dict[tuple[str, bool], int] = {}
    for index, term in enumerate(watchlist.terms):
        for spelling in term.spellings:
            named.setdefault(spelling_key(spelling), index)
    return named


_NO_KEYS: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _case_keys(term: Term) -> tuple[frozenset[str], frozenset[str]]:
    """The case keys of a case-sensitive term's whole-word spellings, and of its stems."""
    whole = frozenset(case_key(s) for s in term.spellings if not s.endswith("*"))
    stems = frozenset(case_key(s[:-1]) for s in term.spellings if s.endswith("*"))
    return whole, stems


def _gate_phrases(watchlist: Watchlist) -> list[str]:
    phrases = [p for group in watchlist.require for p in group]
    phrases += watchlist.exclude
    phrases += [p for near in watchlist.near for p in near.terms]
    return phrases


def _same_case(entry: Entry, folded: Folded, text: str, start: int, end: int) -> bool:
    a, b = folded.original_span(start, end)
    written = case_key(text[a:b])
    # A stem's hit is the whole word; its case is checked on the stem's part.
    return written in entry.case_keys or any(
        stem_key and written.startswith(stem_key) for stem_key in entry.stem_case_keys
    )


def compile_matcher(watchlists: Iterable[Watchlist]) -> Matcher:
    """One automaton for every term of every watchlist (about 12 ms for 5,000 terms when
    only one watchlist changed since the last build, two thirds of it in pyahocorasick
    adding the patterns and linking the automaton; about 60 ms from nothing)."""
    return Matcher(watchlists)


__all__ = [
    "Entry",
    "EntryKind",
    "FieldScan",
    "Hit",
    "Matcher",
    "Scan",
    "article_match_form",
    "compile_matcher",
    "match_form",
]
