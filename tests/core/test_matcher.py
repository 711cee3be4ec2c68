"""The matcher: table-driven rules, and a property test against a slow reference.

The reference is the rule book written as one regular expression per spelling over the folded
text; the matcher must find exactly the same hits with its single Aho-Corasick automaton.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.folding import case_key, fold, fold_text, spelling_pieces
from monitor.core.matcher import Hit, article_match_form, compile_matcher
from monitor.core.watchlist import Term, Watchlist


def watchlist(*terms: Term, wid: str = "w", exclude: tuple[str, ...] = ()) -> Watchlist:
    return Watchlist(id=wid, name=wid, threshold=1.0, terms=terms, exclude=exclude)


def found(term: Term, text: str) -> list[str]:
    """The original text of every hit of `term` in `text`."""
    matcher = compile_matcher([watchlist(term)])
    scan = matcher.find(text)
    hits = scan.hits.get(matcher.term_entries["w"][0], ())
    return [text[slice(*scan.original_span(hit))] for hit in hits]


CASES = [
    # (case, term, text, hits)
    ("accents folded", Term("Erdogan"), "Erdoğan and ERDOGAN met", ["Erdoğan", "ERDOGAN"]),
    ("accented term, plain text", Term("Erdoğan"), "erdogan", ["erdogan"]),
    (
        "dotted capital I",
        Term("Incirlik"),
        "İncirlik, Incirlik, INCIRLIK, incirlik",
        ["İncirlik", "Incirlik", "INCIRLIK", "incirlik"],
    ),
    ("turkish letters", Term("Çavuşoğlu"), "Cavusoglu said", ["Cavusoglu"]),
    ("hyphen, none, space", Term("S-400"), "S-400, S400 and S 400", ["S-400", "S400", "S 400"]),
    ("term without hyphen", Term("S400"), "the S-400 system", ["S-400"]),
    ("typographic dash", Term("S-400"), "S–400 and S—400", ["S–400", "S—400"]),
    ("line-end hyphen", Term("S-400"), "the S-\n400 system", ["S-\n400"]),
    ("apostrophe suffix", Term("Idlib"), "İdlib'de ve İdlib’in", ["İdlib", "İdlib"]),
    ("apostrophe suffix after digits", Term("S-400"), "S-400'ler geldi", ["S-400"]),
    ("plain plural s", Term("S-400"), "two S-400s and F-35s", ["S-400"]),
    ("possessive", Term("Erdogan"), "Erdogan's plan", ["Erdogan"]),
    ("not inside a word", Term("Idlib"), "Idlibxyz xIdlib", []),
    ("not a longer number", Term("S-400"), "S-4000 and S-40", []),
    ("not other suffixes", Term("Kurd"), "Kurdish Kurdistan Kurds", ["Kurd"]),
    (
        "stem",
        Term("Kurd*"),
        "Kurdish Kurdistan Kurds Kurd",
        ["Kurdish", "Kurdistan", "Kurds", "Kurd"],
    ),
    ("stem needs a word start", Term("Kurd*"), "PreKurdish", []),
    (
        "case-sensitive acronym",
        Term("US", case_sensitive=True),
        "US said us. US-backed, U.S.",
        ["US", "US"],
    ),
    ("case-sensitive is exact", Term("US", case_sensitive=True), "Us and uS", []),
    (
        "case-sensitive with dots",
        Term("US", aliases=("U.S.",), case_sensitive=True),
        "the U.S. and u.s.",
        ["U.S"],
    ),
    (
        "case-sensitive dotted capital",
        Term("İncirlik", case_sensitive=True),
        "INCIRLIK İncirlik incirlik",
        ["İncirlik"],
    ),
    ("case-sensitive stem", Term("Kurd*", case_sensitive=True), "Kurdish kurdish", ["Kurdish"]),
    (
        "multi-word across a line break",
        Term("Recep Tayyip Erdogan"),
        "Recep Tayyip\nErdoğan",
        ["Recep Tayyip\nErdoğan"],
    ),
    ("multi-word needs a separator", Term("second batch"), "secondbatch", []),
    ("multi-word across punctuation", Term("second batch"), "second, batch", ["second, batch"]),
    (
        "hyphenated words joined",
        Term("Mercedes-Benz"),
        "MercedesBenz and Mercedes Benz",
        ["MercedesBenz", "Mercedes Benz"],
    ),
    ("alias", Term("S-400", aliases=("Triumf", "С-400")), "Triumf or С-400", ["Triumf", "С-400"]),
    (
        "longest alias wins",
        Term("S-400", aliases=("S-400 Triumf",)),
        "the S-400 Triumf",
        ["S-400 Triumf"],
    ),
    ("cyrillic", Term("Сочи"), "В Сочи", ["Сочи"]),
    ("arabic", Term("إدلب"), "في إدلب اليوم", ["إدلب"]),
    ("adjacent repeats", Term("S-400"), "S-400 S-400", ["S-400", "S-400"]),
    ("text start and end", Term("Idlib"), "Idlib", ["Idlib"]),
]


@pytest.mark.parametrize(("case", "term", "text", "hits"), CASES, ids=[c[0] for c in CASES])
def test_matching_rules(case: str, term: Term, text: str, hits: list[str]) -> None:
    assert found(term, text) == hits


def test_one_automaton_for_all_watchlists_keeps_them_apart() -> None:
    first = watchlist(Term("S-400"), Term("US", case_sensitive=True), wid="a")
    second = watchlist(Term("us"), Term("S400", aliases=("Triumf",)), wid="b", exclude=("Benz",))
    matcher = compile_matcher([first, second])
    scan = matcher.find("The US and us bought S-400 Triumf, not a Benz")
    by_entry = {
        (matcher.entries[e].watchlist_id, matcher.entries[e].label): len(h)
        for e, h in scan.hits.items()
    }
    assert by_entry == {
        ("a", "S-400"): 1,
        ("a", "US"): 1,
        ("b", "us"): 2,
        ("b", "S400"): 2,
        ("b", "Benz"): 1,
    }


def test_token_positions_count_words() -> None:
    matcher = compile_matcher([watchlist(Term("S-400"))])
    scan = matcher.find("Turkey's new S-400, again: S400")
    hits = scan.hits[matcher.term_entries["w"][0]]
    assert [hit.token for hit in hits] == [3, 6]  # "S-400" is two words: s, 400


def test_empty_set_and_empty_text() -> None:
    assert compile_matcher([]).find("anything").hits == {}
    matcher = compile_matcher([watchlist(Term("S-400"))])
    assert matcher.find("").hits == {}
    assert matcher.scan("", "").body.hits == {}


# -- the reference ---------------------------------------------------------------------


def reference_hits(term: Term, text: str) -> list[Hit]:
    """Every hit of `term` by the rules in matcher.py's docstring, one regex per spelling."""
    folded = fold(text)
    candidates: list[tuple[int, int]] = []
    for spelling in term.spellings:
        stem = spelling.endswith("*")
        pieces, tight = spelling_pieces(fold_text(spelling.removesuffix("*")))
        body = re.escape(pieces[0]) + "".join(
            (r"[\W_]*" if is_tight else r"[\W_]+") + re.escape(piece)
            for piece, is_tight in zip(pieces[1:], tight, strict=True)
        )
        word_end = r"[^\W_]*" if stem else r"(?:s)?(?![^\W_])"
        pattern = re.compile(rf"(?=(?<![^\W_])(({body}){word_end}))")
        for match in pattern.finditer(folded.text):
            start, end = match.span(2) if not stem else match.span(1)
            a, b = folded.original_span(start, end)
            written = case_key(text[a:b])
            if term.case_sensitive and not _case_ok(term, written):
                continue
            candidates.append((start, end))
    chosen: list[Hit] = []
    last_end = -1
    for start, end in sorted(set(candidates), key=lambda span: (span[0], -span[1])):
        if start >= last_end:
            token = len(re.findall(r"[^\W_]+", folded.text[:start]))
            chosen.append(Hit(start, end, token))
            last_end = end
    return chosen


def _case_ok(term: Term, written: str) -> bool:
    whole = {case_key(s) for s in term.spellings if not s.endswith("*")}
    stems = [case_key(s[:-1]) for s in term.spellings if s.endswith("*")]
    return written in whole or any(written.startswith(stem) for stem in stems)


WORDS = [
    "s",
    "S",
    "400",
    "s400",
    "S-400",
    "400s",
    "us",
    "US",
    "Us",
    "kurd",
    "Kurdish",
    "kurds",
    "idlib",
    "İdlib",
    "IDLIB",
    "erdoğan",
    "Erdogan",
    "a",
    "x",
    "4000",
    "ss",
    "batch",
    "second",
    "sa",
    "21",
    "ı",
    "I",
]
SEPARATORS = [" ", " ", " ", "-", "–", "  ", "\n", "'", "’", ", ", "", ".", "_", "-\n"]
PIECES = [
    "s",
    "S",
    "400",
    "us",
    "US",
    "kurd",
    "Kurd",
    "idlib",
    "İdlib",
    "erdogan",
    "batch",
    "second",
    "sa",
    "21",
    "a",
    "4",
]
JOINS = ["", "-", " ", ".", "'"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=14))
    out = []
    for word in words:
        out += [word, draw(st.sampled_from(SEPARATORS))]
    return "".join(out)


@st.composite
def spellings(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=3))
    spelling = pieces[0]
    for piece in pieces[1:]:
        spelling += draw(st.sampled_from(JOINS)) + piece
    if sum(c.isalnum() for c in spelling) >= 3 and spelling[-1].isalpha() and draw(st.booleans()):
        spelling += "*"
    return spelling


@st.composite
def terms(draw: st.DrawFn) -> Term:
    names = draw(st.lists(spellings(), min_size=1, max_size=3))
    return Term(names[0], tuple(names[1:]), 1.0, draw(st.booleans()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(terms(), min_size=1, max_size=4), texts())
def test_matcher_finds_exactly_what_the_reference_finds(term_list: list[Term], text: str) -> None:
    matcher = compile_matcher([watchlist(*term_list)])
    scan = matcher.find(text)
    for term, entry in zip(term_list, matcher.term_entries["w"], strict=True):
        assert list(scan.hits.get(entry, ())) == reference_hits(term, text), (term, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(terms(), min_size=1, max_size=4), texts(), texts())
def test_a_scan_given_the_stored_match_form_finds_the_same_hits(
    term_list: list[Term], title: str, text: str
) -> None:
    """Parts the match form shows no pattern in are skipped, never a part with a hit."""
    matcher = compile_matcher([watchlist(*term_list)])
    full = matcher.scan(title, text)
    quick = matcher.scan(title, text, article_match_form(title, text))
    assert quick.title.hits == full.title.hits and quick.body.hits == full.body.hits


def test_a_scan_given_the_match_form_folds_only_parts_with_candidates() -> None:
    matcher = compile_matcher([watchlist(Term("S-400"))])
    title, text = "Turkey takes delivery", "The S-400 batteries arrived in Ankara."
    scan = matcher.scan(title, text, article_match_form(title, text))
    assert scan.title.hits == {} and scan.title._folded is None  # never folded
    assert [scan.body.original_span(h) for h in scan.body.hits[0]] == [(4, 9)]
