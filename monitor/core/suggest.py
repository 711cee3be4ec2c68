"""Drafting a watchlist from documents: their distinctive terms, as TOML an analyst edits.

Holds candidate extraction, grouping of spelling variants, ranking and the TOML rendering.
Pure: documents and an English word-frequency function come in as values (the CLI passes
wordfreq's), text comes out; no files, no network.

Candidates are model designations (S-400, F-35, B61), acronyms (CAATSA, YPG) and names:
runs of capitalised words (Recep Tayyip Erdoğan, Senate Foreign Relations Committee,
Incirlik Air Base), stripped of leading titles ("Turkish President"). Spellings that fold to
the same key are one term (Erdoğan/Erdogan, S-400/S400, possessives and plurals dropped); a
long name written just before its acronym in brackets joins the acronym's term, and a full
name joins its surname's term. Distinctiveness is how rare the term is in ordinary English
(8 − Zipf frequency), times how often and in how many of the documents it occurs.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.core.folding import fold_text, rejoin_hyphenation, spelling_pieces

MIN_RARITY = 3.5  # 8 − Zipf: "turkey" (4.56) and month names fall below, "ankara" passes
DESIGNATION_RARITY = 6.0  # wordfreq splits "S-400" into "s" and "400"; judge the shape instead
MAX_WEIGHT = 5.0

# Words that open a name run but are not part of the name: roles and nationalities.
_TITLES_TEXT = """
president presidents prime minister ministers foreign defence defense interior senator
secretary general gen mr mrs ms dr former vice deputy chief ambassador professor spokesman
spokeswoman leader king queen prince sheikh turkish russian american syrian chinese
iranian ukrainian indian kurdish israeli european us u.s. the a an this that these those
"""
_TITLES = frozenset(_TITLES_TEXT.split())
# Lower-case words that may sit inside a name ("Bank of England"); "and" may not: it joins two
# names far more often than it is part of one.
_CONNECTORS = frozenset(
    {"of", "the", "for", "on", "at", "de", "al", "el", "bin", "von", "van", "der", "ul"}
)
_CALENDAR_TEXT = """
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
"""
_CALENDAR = frozenset(_CALENDAR_TEXT.split())

_DESIGNATION = re.compile(
    r"(?<![\w-])([A-Z]{1,3}|[A-Z][a-z])([-‐–]?|[ ](?=\d{2,3}\b))(\d{1,4})([A-Z]{0,2})"
    r"(?:s|['’]s)?(?![\w-])"
)
_ACRONYM = re.compile(r"(?<![\w-])([A-Z][A-Z0-9]{1,9})(?:s|['’]s)?(?![\w-])")
_WORD = re.compile(r"[^\W\d_][\w'’.-]*[^\W_]|[^\W\d_]")
_DEFINITION = re.compile(r"\s*\(\s*([A-Z][A-Z0-9]{1,9})\s*\)")
_SENTENCE_END = re.compile(r"[.!?:;\"“”(—]\s*$")
_LOWER_WORD = re.compile(r"(?<![\w'’-])([a-zçğıöşü][\w'’-]*)")


@dataclass(frozen=True, slots=True)
class Document:
    name: str  # how comments refer to it (a file name)
    text: str


@dataclass
class _Candidate:
    kind: str  # "designation", "acronym" or "name"
    forms: Counter[str] = field(default_factory=Counter)  # surface spelling → count
    per_document: Counter[str] = field(default_factory=Counter)  # document name → count
    context: str = ""  # the first place it was seen
    aliases: list[str] = field(default_factory=list)  # long forms joined into this term

    @property
    def count(self) -> int:
        return sum(self.forms.values())

    def match(self, key: str) -> str:
        # The most frequent spelling of the key itself (not a plural merged into it); ties go
        # to the one with diacritics, the author's own.
        own = [f for f in self.forms if _key(f) == key] or list(self.forms)
        return max(own, key=lambda f: (self.forms[f], not f.isascii(), f))


@dataclass(frozen=True, slots=True)
class Suggestion:
    match: str
    aliases: tuple[str, ...]
    weight: float
    case_sensitive: bool
    distinctiveness: float
    count: int
    per_document: tuple[tuple[str, int], ...]
    context: str


def _key(spelling: str) -> str:
    pieces, _ = spelling_pieces(fold_text(spelling))
    return " ".join(pieces)


def _strip_possessive(word: str) -> str:
    for suffix in ("'s", "’s", "'", "’"):
        if word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class _Extractor:
    def __init__(self, documents: Sequence[Document], frequency: Callable[[str], float]) -> None:
        self.frequency = frequency
        self.title_case_lines: list[tuple[int, int]] = []
        self.candidates: dict[str, _Candidate] = {}
        self.lower_words: set[str] = set()
        self.definitions: list[tuple[str, str]] = []  # (long name key, acronym key)
        for document in documents:
            text = rejoin_hyphenation(document.text)
            self.lower_words.update(fold_text(m[1]) for m in _LOWER_WORD.finditer(text))
            self.scan(document.name, text)

    def add(self, kind: str, surface: str, document: str, text: str, start: int) -> str:
        key = _key(surface)
        candidate = self.candidates.setdefault(key, _Candidate(kind))
        candidate.forms[surface] += 1
        candidate.per_document[document] += 1
        if not candidate.context:
            candidate.context = _context(text, start, start + len(surface))
        return key

    def scan(self, document: str, text: str) -> None:
        taken: list[tuple[int, int]] = []
        for match in _DESIGNATION.finditer(text):
            _letters, _, digits, suffix = match.groups()
            if len(digits) == 4 and digits[:2] in {"19", "20"}:
                continue  # a year ("May 2019"), not a model
            surface = text[match.start() : match.end(3) + len(suffix)]
            self.add("designation", surface, document, text, match.start())
            taken.append(match.span())
        heading_lines = _heading_lines(text)
        for match in _ACRONYM.finditer(text):
            if any(a <= match.start() < b for a, b in taken) or _line_of(
                match.start(), heading_lines
            ):
                continue
            if match[1].isdigit() or not any(c.isalpha() for c in match[1][1:]):
                continue
            self.add("acronym", match[1], document, text, match.start())
        self.title_case_lines = _title_case_lines(text)
        self.scan_names(document, text)

    def scan_names(self, document: str, text: str) -> None:
        run: list[re.Match[str]] = []
        previous_end = -1
        for match in _WORD.finditer(text):
            word = match.group()
            gap = text[previous_end : match.start()] if previous_end >= 0 else ""
            joined = previous_end >= 0 and re.fullmatch(r"[ \t]*\n?[ \t]*", gap) and gap != ""
            bare = _strip_possessive(word)
            capital = bare[0].isupper() and any(c.islower() for c in bare)
            connector = word in _CONNECTORS and bool(run)
            if run and not (joined and (capital or connector)):
                self.flush(document, text, run)
                run = []
            if (capital and not any(c.isdigit() for c in word)) or (connector and joined):
                run.append(match)
            previous_end = match.end()
        self.flush(document, text, run)

    def flush(self, document: str, text: str, run: list[re.Match[str]]) -> None:
        if run and _line_of(run[0].start(), self.title_case_lines):
            return  # a Title Case Headline: every word is capitalised, names or not
        while run and (run[-1].group() in _CONNECTORS or run[-1].group().lower() in _CALENDAR):
            run = run[:-1]
        # Drop titles and an ordinary word that is only capitalised because it opens a
        # sentence ("Whether Ankara ...").
        opens_sentence = bool(run) and _opens_sentence(text, run[0].start())
        while run and (
            run[0].group().lower().rstrip(".") in _TITLES
            or run[0].group() in _CONNECTORS
            or (
                opens_sentence
                and len(run) > 1
                and (
                    fold_text(run[0].group()) in self.lower_words
                    or self.frequency(run[0].group().lower()) >= 4.5
                )
            )
        ):
            run = run[1:]
            opens_sentence = False
        if not run:
            return
        words = [m.group() for m in run]
        words[-1] = _strip_possessive(words[-1])
        if len(words) == 1:
            single = fold_text(words[0])
            if single in self.lower_words or single in _CALENDAR or len(single) < 3:
                return
        start, end = run[0].start(), run[-1].end()
        surface = text[start:end]
        if surface.endswith(("'s", "’s", "'", "’")):
            surface = _strip_possessive(surface)
        surface = re.sub(r"\s+", " ", surface)
        if "-" in surface and " " not in surface and surface.split("-")[-1][:1].isupper():
            return  # "Putin-Erdogan meeting": two names, not one
        key = self.add("name", surface, document, text, start)
        definition = _DEFINITION.match(text, end)
        if definition and len(words) > 1:
            self.definitions.append((key, _key(definition[1])))


def _opens_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 4) : start]
    return start == 0 or bool(_SENTENCE_END.search(before)) or before.endswith("\n\n")


def _heading_lines(text: str) -> list[tuple[int, int]]:
    """Lines written in capitals (EXECUTIVE SUMMARY): their words are not acronyms."""
    spans = []
    for match in re.finditer(r"[^\n]+", text):
        letters = [c for c in match.group() if c.isalpha()]
        words = match.group().split()
        if len(words) >= 2 and letters and sum(c.isupper() for c in letters) / len(letters) > 0.8:
            spans.append(match.span())
    return spans


def _title_case_lines(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in re.finditer(r"[^\n]+", text):
        words = [w for w in re.findall(r"[^\W\d_]+", match.group()) if len(w) > 3]
        if len(words) >= 6 and sum(w[0].isupper() for w in words) / len(words) >= 0.7:
            spans.append(match.span())
    return spans


def _line_of(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= position < b for a, b in spans)


def _context(text: str, start: int, end: int) -> str:
    left = text.rfind(" ", 0, max(0, start - 40)) + 1
    right = text.find(" ", min(len(text), end + 40))
    snippet = text[left : right if right != -1 else len(text)]
    return re.sub(r"\s+", " ", snippet).strip()


def _merge(candidates: dict[str, _Candidate], source: str, target: str, alias: bool) -> None:
    """Fold candidate `source` into `target`; its spellings become aliases if `alias`."""
    moved = candidates.pop(source)
    into = candidates[target]
    if alias:
        into.aliases += [f for f in moved.forms if f not in into.aliases]
    else:
        into.forms.update(moved.forms)
    into.aliases += [a for a in moved.aliases if a not in into.aliases]
    into.per_document.update(moved.per_document)


def _group(extractor: _Extractor, frequency: Callable[[str], float]) -> dict[str, _Candidate]:
    candidates = extractor.candidates
    # Plurals and plural possessives ("Erdogans’") of another candidate are that candidate.
    for key in sorted(candidates):
        if key.endswith("s") and key[:-1] in candidates and key in candidates:
            _merge(candidates, key, key[:-1], alias=False)
    # "Countering America's Adversaries Through Sanctions Act (CAATSA)": one term.
    for long_key, acronym_key in extractor.definitions:
        if long_key in candidates and acronym_key in candidates and long_key != acronym_key:
            _merge(candidates, long_key, acronym_key, alias=True)
    # "Recep Tayyip Erdogan" joins "Erdogan" when the surname stands alone elsewhere and the
    # first names do not ("Turkey Patriot" is two nouns, not a person).
    for key in sorted(candidates, key=len, reverse=True):
        candidate = candidates.get(key)
        if candidate is None or candidate.kind != "name" or " " not in key:
            continue
        *first, surname = key.split(" ")
        if (
            len(first) <= 2
            and surname in candidates
            and candidates[surname].count >= 2
            and candidates[surname].kind == "name"
            and not any(word in candidates for word in first)
        ):
            _merge(candidates, key, surname, alias=True)
    # "İncirlik Air Base" joins "İncirlik": a name followed by ordinary words is that name.
    for key in sorted(candidates, key=len, reverse=True):
        candidate = candidates.get(key)
        if candidate is None or candidate.kind != "name" or " " not in key:
            continue
        head, *rest = key.split(" ")
        if head in candidates and head != key and all(frequency(w) >= 4.0 for w in rest):
            _merge(candidates, key, head, alias=True)
    return candidates


def _rarity(key: str, candidate: _Candidate, frequency: Callable[[str], float]) -> float:
    if candidate.kind == "designation":
        return DESIGNATION_RARITY
    zipf = max(max(frequency(form.lower()), frequency(fold_text(form))) for form in candidate.forms)
    words = len(key.split())
    # A multi-word name is rarer than its words: "Senate Foreign Relations Committee".
    return 8.0 - zipf + 0.5 * (words - 1)


def rank_terms(
    documents: Sequence[Document],
    frequency: Callable[[str], float],
    *,
    max_terms: int = 25,
) -> list[Suggestion]:
    """The most distinctive terms of `documents`, most distinctive first."""
    candidates = _group(_Extractor(documents, frequency), frequency)
    scored: list[tuple[float, str, _Candidate, float]] = []
    for key, candidate in candidates.items():
        rarity = _rarity(key, candidate, frequency)
        if rarity < MIN_RARITY:
            continue
        if candidate.count < 2 and not candidate.aliases:
            continue  # seen once: more likely noise than a topic
        spread = len(candidate.per_document) / len(documents)
        value = rarity * (1 + math.log2(candidate.count)) * (0.5 + 0.5 * spread)
        scored.append((-value, key, candidate, rarity))
    scored.sort(key=lambda item: item[:2])
    scored = scored[:max_terms]
    top = -scored[0][0] if scored else 1.0
    suggestions = []
    owned: set[str] = set()
    for negative, key, candidate, _rarity_value in scored:
        value = -negative
        match = candidate.match(key)
        # Plurals and possessives match anyway: only real variants become aliases.
        spellings = [f for f in sorted(candidate.forms) if f != match and _key(f) == key]
        spellings += candidate.aliases
        aliases = []
        owned.add(_key(match))
        for spelling in spellings:
            if _key(spelling) == _key(match) and spelling.casefold() == match.casefold():
                continue  # differs only in case: folding already makes them one
            if _key(spelling) in owned and _key(spelling) != _key(match):
                continue  # another term has it; a spelling belongs to one term
            owned.add(_key(spelling))
            aliases.append(spelling)
        weight = max(1.0, min(MAX_WEIGHT, round(2 * MAX_WEIGHT * value / top) / 2))
        # An acronym that is also an ordinary word (US, IS) must keep its capitals.
        case_sensitive = candidate.kind == "acronym" and frequency(match.lower()) >= 3.5
        suggestions.append(
            Suggestion(
                match=match,
                aliases=tuple(aliases),
                weight=weight,
                case_sensitive=case_sensitive,
                distinctiveness=round(value, 1),
                count=candidate.count,
                per_document=tuple(sorted(candidate.per_document.items())),
                context=candidate.context,
            )
        )
    return suggestions


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def suggest_watchlist(
    documents: Sequence[Document],
    *,
    frequency: Callable[[str], float],
    watchlist_id: str | None = None,
    max_terms: int = 25,
    channels: Sequence[str] = (),
    examples: Sequence[str] = (),
) -> str:
    """A draft watchlist in TOML that `monitor watchlists check` accepts.

    `channels`: the channel names of config.toml; the draft delivers to all of them, since a
    draft with `channels = []` would never deliver (`watchlists check` says so). `examples`:
    the documents' paths relative to where the watchlist will be saved; they become its
    `examples` (the semantic part, core/semantic.py), as the documents are what it is about.
    """
    suggestions = rank_terms(documents, frequency, max_terms=max_terms)
    names = ", ".join(d.name for d in documents)
    ident = watchlist_id or "draft"
    lines = [
        f"# watchlists/{ident}.toml: drafted by `monitor watchlists suggest` from: {names}",
        "# Review every term: drop the ones that are not the topic, add spellings and",
        "# transliterations, and guard against false friends with `require` and `exclude`.",
        f"name = {_toml_string(ident)}",
        f"description = {_toml_string('Drafted from ' + names)}",
    ]
    if not suggestions:
        lines += [
            "threshold = 1.0",
            *_examples_lines(examples),
            "",
            "# no distinctive terms were found in the documents",
            "[[terms]]",
            'match = "CHANGE ME"',
            "",
        ]
        return "\n".join(lines)
    threshold = suggestions[0].weight
    lines += [
        f"threshold = {threshold:g}          # one mention of the top term",
        f"alert_threshold = {3 * threshold:g}",
        'schedule = "0 7 * * *"',
        'timezone = "UTC"',
        f"channels = [{', '.join(map(_toml_string, channels))}]",
        'feeds = ["*"]',
        *_examples_lines(examples),
        "",
    ]
    for suggestion in suggestions:
        where = ", ".join(f"{name} {count}" for name, count in suggestion.per_document)
        lines += [
            f"# {suggestion.count}× ({where}); distinctiveness {suggestion.distinctiveness:g}",
            f"# e.g. “{suggestion.context}”",
            "[[terms]]",
            f"match = {_toml_string(suggestion.match)}",
        ]
        if suggestion.aliases:
            lines.append(f"aliases = [{', '.join(map(_toml_string, suggestion.aliases))}]")
        lines.append(f"weight = {suggestion.weight:g}")
        if suggestion.case_sensitive:
            lines.append("case_sensitive = true")
        lines.append("")
    return "\n".join(lines)


def _examples_lines(examples: Sequence[str]) -> list[str]:
    """The `examples` key (a top-level key: before the first [[terms]] table)."""
    if not examples:
        return []
    return [
        "# Reports like these documents add points even when they name no term; list the",
        "# false friends (other topics' reports, the same words elsewhere) as counter_examples.",
        f"examples = [{', '.join(map(_toml_string, examples))}]",
    ]
