"""Folding: when two spellings are the same, and how folded offsets map back to the text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.folding import (
    case_key,
    fold,
    fold_text,
    match_form,
    rejoin_hyphenation,
    spelling_variants,
)

SAME = [
    ("turkish g breve", "Erdoğan", "Erdogan"),
    ("dotted capital I", "İncirlik", "Incirlik"),
    ("all capitals", "INCIRLIK", "incirlik"),
    ("dotless i", "ıncırlık", "incirlik"),
    ("dotted capital with combining dot", "I\u0307ncirlik", "incirlik"),
    ("cedilla and breve", "Çavuşoğlu", "Cavusoglu"),
    ("umlauts", "Ünlühisarcıklı", "Unluhisarcikli"),
    ("precomposed vs combining accent", "Mevlüt", "Mevlu\u0308t"),
    ("curly apostrophe", "İdlib’de", "Idlib'de"),
    ("modifier apostrophe", "Idlibʼde", "Idlib'de"),
    ("en dash", "S–400", "S-400"),
    ("em dash", "S—400", "S-400"),
    ("non-breaking hyphen", "S\u2011400", "S-400"),
    ("minus sign", "S−400", "S-400"),
    ("fullwidth letters (NFKC)", "ＮＡＴＯ", "nato"),
    ("ligature (NFKC)", "ﬁghter", "fighter"),
    ("no-break space (NFKC)", "S\u00a0400", "S 400"),
    ("soft hyphen removed", "Tur\u00adkey", "Turkey"),
    ("zero-width space removed", "Idl\u200bib", "Idlib"),
    ("sharp s", "Straße", "strasse"),
    ("letters with stroke", "Łódź Ørsted", "lodz orsted"),
    ("line-end hyphenation", "Tur-\nkey", "Turkey"),
    ("hyphenation across a blank line", "sanc-\n\ntions", "sanctions"),
    ("hyphenation with trailing spaces", "Er- \n  doğan", "Erdogan"),
    ("crlf hyphenation", "İn-\r\ncirlik", "Incirlik"),
]

DIFFERENT = [
    ("real hyphen before a capital stays", "US-\nTurkey", "usturkey"),
    ("hyphen mid-line stays", "S-400", "S400"),
    ("digit after a line-end hyphen", "F-\n35", "F35"),
    ("cyrillic es is not latin s", "С-400", "S-400"),
]


@pytest.mark.parametrize(("case", "left", "right"), SAME, ids=[c[0] for c in SAME])
def test_spellings_fold_the_same(case: str, left: str, right: str) -> None:
    assert fold_text(left) == fold_text(right)


@pytest.mark.parametrize(("case", "left", "right"), DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_spellings_that_stay_different(case: str, left: str, right: str) -> None:
    assert fold_text(left) != fold_text(right)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Erdoğan", "erdogan"),
        ("İNCİRLİK", "incirlik"),
        ("S–400’ler", "s-400'ler"),
        ("Tur-\nkey and US-\n\nTurkey", "turkey and us-\n\nturkey"),
        ("plain ascii stays put", "plain ascii stays put"),
        ("", ""),
    ],
)
def test_folded_text(text: str, folded: str) -> None:
    assert fold_text(text) == folded
    assert fold(text).text == folded


OFFSET_CASES = [
    ("ascii", "The S-400 deal", "s-400"),
    ("dotted capital", "İncirlik'te", "incirlik"),
    ("expanding ligature before the hit", "ﬁrst İdlib", "idlib"),
    ("sharp s before the hit", "Straße Erdoğan", "erdogan"),
    ("combining accent before the hit", "Mevlu\u0308t Çavuşoğlu", "cavusoglu"),
    ("hyphenation inside the hit", "by Er-\ndoğan today", "erdogan"),
    ("soft hyphen inside the hit", "Tur\u00adkey", "turkey"),
    ("removed characters before the hit", "\u200b\u200bNATO", "nato"),
]


@pytest.mark.parametrize(("case", "text", "needle"), OFFSET_CASES, ids=[c[0] for c in OFFSET_CASES])
def test_offsets_map_back_to_the_original(case: str, text: str, needle: str) -> None:
    folded = fold(text)
    start = folded.text.index(needle)
    a, b = folded.original_span(start, start + len(needle))
    assert fold_text(text[a:b]) == needle
    # The span is tight: nothing of the text around the hit.
    assert fold_text(text[a + 1 : b]) != needle
    assert fold_text(text[a : b - 1]) != needle


def test_offsets_are_identity_for_plain_text() -> None:
    folded = fold("Turkey buys S-400")
    assert list(folded.offsets) == list(range(len("Turkey buys S-400") + 1))


def test_rejoin_hyphenation_keeps_everything_else() -> None:
    assert rejoin_hyphenation("Tur-\nkey’s İn-\ncirlik; US-\nTurkey") == (
        "Turkey’s İncirlik; US-\nTurkey"
    )


@pytest.mark.parametrize(
    ("spelling", "variants"),
    [
        ("s-400", ("s 400", "s400")),
        ("s400", ("s 400", "s400")),
        ("s 400", ("s 400", "s400")),
        ("mercedes-benz", ("mercedes benz", "mercedesbenz")),
        ("recep tayyip erdogan", ("recep tayyip erdogan",)),
        ("u.s.", ("u s",)),
        ("idlib", ("idlib",)),
    ],
)
def test_spelling_variants(spelling: str, variants: tuple[str, ...]) -> None:
    assert spelling_variants(spelling) == variants


def test_too_many_tight_joins_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 6"):
        spelling_variants("a-b-c-d-e-f-g-h")


@pytest.mark.parametrize(
    ("text", "key"),
    [("US", "US"), ("us", "us"), ("U.S.", "US"), ("ABD’nin", "ABDnin"), ("İncirlik", "Incirlik")],
)
def test_case_key(text: str, key: str) -> None:
    assert case_key(text) == key


def test_match_form_separates_words_by_single_spaces() -> None:
    assert match_form(fold_text("İdlib’de, S–400s (and  F-35)!")) == "idlib de s 400s and f 35 "


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_fold_and_fold_text_agree_and_offsets_are_monotone(text: str) -> None:
    folded = fold(text)
    assert folded.text == fold_text(text)
    assert len(folded.offsets) == len(folded.text) + 1
    assert folded.offsets[-1] == len(text)
    assert all(a <= b for a, b in zip(folded.offsets, folded.offsets[1:], strict=False))
    assert all(0 <= o <= len(text) for o in folded.offsets)


@given(st.text(alphabet="aİıIiSs-–’' \u00adéğ400", max_size=40))
def test_folding_is_idempotent(text: str) -> None:
    # Without line breaks: whether "I-\nI" is a hyphenated word depends on the case of the
    # second line, which folding removes.
    assert fold_text(fold_text(text)) == fold_text(text)


@given(st.text(max_size=80))
def test_fast_folding_equals_the_character_table(text: str) -> None:
    # fold_text folds with str.lower() and a few replacements for speed; the definition is
    # the per-character table.
    from monitor.core.folding import _TABLE, _fold_chars

    assert _fold_chars(text) == text.translate(_TABLE)


@given(st.text(alphabet="aBz1 \t\r\n-\u00ad\u2010\u2011ğ", max_size=60))
def test_hyphenation_quick_check_finds_what_the_full_scan_finds(text: str) -> None:
    # _hyphenation_cuts skips the scan when no hyphen precedes a line end; the scan itself
    # is the definition.
    from monitor.core.folding import _HYPHENATION, _hyphenation_cuts

    scanned = [m.span() for m in _HYPHENATION.finditer(text) if text[m.end()].islower()]
    assert _hyphenation_cuts(text) == scanned
