"""core.dedup: signatures, bands, serialisation and the same-story decision (pure, no I/O)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core import dedup
from monitor.core.folding import fold_text

# Real wire copies and a real pair of different stories from the 13 saved news feeds.
AP_ABC = (
    "Australia won't repatriate 34 women and children linked to IS from Syria",
    "Australian Prime Minister Anthony Albanese says his government will not repatriate from "
    "Syria a group of 34 women and children with alleged ties to the militant Islamic State group",
)
AP_JAPAN_TODAY = (
    "Australia won't repatriate 34 women and children from Syria",
    "The Australian government will not repatriate from Syria a group of 34 women and children "
    "with alleged ties to the Islamic State group, Prime Minister Anthony Albanese said…",
)
TURNED_BACK = (
    "Australians with alleged IS ties are turned back after departing Syrian camp for repatriation",
    "Syrian authorities have turned back a group of Australian women and children after they left "
    "a camp in Syria housing people with alleged ties to Islamic State militants in an attempt to "
    "head back to their home country",
)

PINNED_SIGNATURE = "320302ad697c498e57b52ed55c232459"  # sha256 prefix of the 32-bit values
PINNED_BANDS = [5164497285739005143, 5291258874812133474]

words = st.text(alphabet=st.characters(categories=("L", "N", "Zs", "P")), max_size=400)


def test_syndicated_copy_is_the_same_story() -> None:
    a, b = dedup.minhash(*AP_ABC), dedup.minhash(*AP_JAPAN_TODAY)
    assert dedup.is_candidate(a, b)
    assert dedup.same_story(a, b)


def test_follow_up_on_the_same_topic_is_a_different_story() -> None:
    assert not dedup.same_story(dedup.minhash(*AP_ABC), dedup.minhash(*TURNED_BACK))


def test_full_text_and_its_truncated_lede_are_the_same_story() -> None:
    title = "Accused Bondi Beach killer Naveed Akram appears in court by video link"
    lede = (
        "Accused Bondi Beach killer Naveed Akram appeared in an Australian court via video link "
        "Monday, in his first public hearing since the nation's worst mass shooting in nearly"
    )
    body = lede + " three decades. " + "Akram has been charged with terrorism and murder. " * 40
    assert dedup.same_story(dedup.minhash(title, body), dedup.minhash(title, lede + "…"))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("Erdoğan visits İncirlik", "ERDOGAN VISITS INCIRLIK", id="folding"),
        pytest.param("U.S. stocks — slip", "U.S. stocks - slip", id="dashes"),
        pytest.param("Stocks slip", "  Stocks\n slip  ", id="whitespace"),
    ],
)
def test_spellings_folded_together_give_one_signature(left: str, right: str) -> None:
    assert np.array_equal(dedup.minhash(left, ""), dedup.minhash(right, ""))


def test_only_the_lede_of_the_text_counts() -> None:
    lede = " ".join(f"word{i}" for i in range(dedup.LEDE_WORDS))
    with_tail = dedup.minhash("Title", lede + " and then a very different tail " * 30)
    assert np.array_equal(with_tail, dedup.minhash("Title", lede))


def test_empty_article_has_a_signature_that_matches_only_itself() -> None:
    empty = dedup.minhash("", "")
    assert empty.shape == (dedup.NUM_PERM,)
    assert dedup.same_story(empty, dedup.minhash("  ", "—"))
    assert not dedup.same_story(empty, dedup.minhash("Stocks slip", ""))


def test_signature_bytes_round_trip_and_reject_another_size() -> None:
    signature = dedup.minhash(*AP_ABC)
    data = dedup.signature_to_bytes(signature)
    assert len(data) == dedup.NUM_PERM * 2  # the low 16 bits of each value
    assert np.array_equal(dedup.signature_from_bytes(data), signature & 0xFFFF)
    with pytest.raises(ValueError, match="NUM_PERM"):
        dedup.signature_from_bytes(data[:-2])
    # A signature stored before migration 0009 (all 32 bits) is refused, never misread.
    with pytest.raises(ValueError, match="value width"):
        dedup.signature_from_bytes(signature.astype("<u4").tobytes())


def test_stored_signature_decides_as_the_full_one() -> None:
    # What the database keeps compares exactly as what the parse worker computed.
    query, copy = dedup.minhash(*AP_ABC), dedup.minhash(*AP_JAPAN_TODAY)
    stored = dedup.signature_from_bytes(dedup.signature_to_bytes(copy))
    assert dedup.compare(query, stored) == dedup.compare(query, copy)
    assert dedup.compare(query, stored).same


def test_values_agreeing_only_in_their_high_bits_do_not_count() -> None:
    a = np.arange(dedup.NUM_PERM, dtype=np.uint32)
    b = a | np.uint32(1 << 20)  # the same low 16 bits: compared alike
    c = a + np.uint32(1)  # other low bits
    assert dedup.estimated_jaccard(a, b) == 1.0
    assert dedup.estimated_jaccard(a, c) == 0.0


def test_verdict_carries_the_similarity() -> None:
    verdict = dedup.compare(dedup.minhash(*AP_ABC), dedup.minhash(*AP_JAPAN_TODAY))
    assert verdict.same
    assert dedup.THRESHOLD <= verdict.similarity <= 1.0


@pytest.mark.slow  # a second Python process
def test_signature_is_the_same_in_another_process() -> None:
    # Python's str hash is salted per process; the signature must not depend on it.
    code = (
        "from monitor.core import dedup; import sys;"
        "sys.stdout.write(dedup.signature_to_bytes(dedup.minhash(*sys.argv[1:3])).hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *AP_ABC],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out == dedup.signature_to_bytes(dedup.minhash(*AP_ABC)).hex()


@settings(max_examples=60, deadline=None)
@given(title=words, text=words)
def test_identical_articles_are_the_same_story(title: str, text: str) -> None:
    a, b = dedup.minhash(title, text), dedup.minhash(title, text)
    assert dedup.compare(a, b).similarity == 1.0
    assert dedup.is_candidate(a, b)
    assert dedup.same_story(a, b)


@settings(max_examples=60, deadline=None)
@given(title=words, text=words)
def test_band_hashes_fit_a_signed_bigint(title: str, text: str) -> None:
    bands = dedup.band_hashes(dedup.minhash(title, text))
    assert len(bands) == dedup.BANDS
    assert all(isinstance(h, int) and 0 <= h < 2**63 for h in bands)


@settings(max_examples=40, deadline=None)
@given(title=words, text=words)
def test_signature_round_trips_through_bytes(title: str, text: str) -> None:
    signature = dedup.minhash(title, text)
    restored = dedup.signature_from_bytes(dedup.signature_to_bytes(signature))
    assert restored.dtype == np.uint16
    assert np.array_equal(restored, dedup.stored_form(signature))
    assert dedup.compare(restored, signature).similarity == 1.0


@settings(max_examples=60, deadline=None)
@given(articles=st.lists(st.tuples(words, words), max_size=8))
def test_a_feed_at_once_gives_each_articles_signature(articles: list[tuple[str, str]]) -> None:
    # minhashes and band_hashes_of are the parse worker's fast path (a feed at a time); they
    # must give what minhash and band_hashes give, also for inputs shorter than a shingle.
    articles += [("", ""), ("a", ""), ("ab c", ""), ("abcd", "e"), ("", "—")]
    signatures = dedup.minhashes(articles)
    assert signatures.dtype == np.uint32
    assert signatures.shape == (len(articles), dedup.NUM_PERM)
    bands = dedup.band_hashes_of(signatures)
    for (title, text), signature, row_bands in zip(articles, signatures, bands, strict=True):
        assert np.array_equal(signature, dedup.minhash(title, text))
        assert row_bands == dedup.band_hashes(dedup.minhash(title, text))


@settings(max_examples=60, deadline=None)
@given(hashes=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=700))
def test_permuted_minima_are_the_affine_permutations_minima(hashes: list[int]) -> None:
    # The plain formula, one broadcast matrix (as minhash computed it before it was made
    # of flat operations on tiles of _TILE_ROWS shingles); 700 spans three tiles.
    h = np.array(hashes, dtype=np.uint32)
    plain = (h[:, None] * dedup._PERM_A.reshape(1, -1) + dedup._PERM_B.reshape(1, -1)).min(axis=0)
    assert np.array_equal(dedup._min_permuted(h), plain)


def _signature_input_by_regex(title: str, text: str) -> str:
    # signature_input as it was written first: the words found by a regular expression.
    word = re.compile(r"[^\W_]+")
    lede = " ".join(text.split(maxsplit=dedup.LEDE_WORDS * 4)[: dedup.LEDE_WORDS * 4])
    title_words = word.findall(fold_text(title))
    text_words = [m.group() for m in islice(word.finditer(fold_text(lede)), dedup.LEDE_WORDS)]
    return " ".join(title_words + text_words)


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=80), text=st.text(max_size=600))
@example(title="İdlib'de S-400'ler_x", text="Tur-\nkey ½ ² ﬁ ß Σ ΑΣ ΑΣ. \u0301a \u200bb " * 30)
def test_signature_words_are_the_regex_words(title: str, text: str) -> None:
    assert dedup.signature_input(title, text) == _signature_input_by_regex(title, text)


def test_signatures_of_no_articles() -> None:
    assert dedup.minhashes([]).shape == (0, dedup.NUM_PERM)
    assert dedup.band_hashes_of(dedup.minhashes([])) == []


def test_bands_of_one_article_are_distinct_across_band_numbers() -> None:
    # The band number is hashed in, so equal rows in two bands do not collide in the index.
    signature = np.zeros(dedup.NUM_PERM, dtype=np.uint32)
    assert len(set(dedup.band_hashes(signature))) == dedup.BANDS


def test_signature_and_bands_of_a_fixed_article_are_pinned() -> None:
    # Stored signatures and band rows must stay comparable with new ones: a faster signature
    # has to compute the very same values (these were computed before the rewrite of minhash).
    title = "Accused Bondi Beach killer Naveed Akram appears in court by video link"
    body = "Accused Bondi Beach killer Naveed Akram appeared in court. " * 40
    signature = dedup.minhash(title, body)
    digest = hashlib.sha256(signature.astype("<u4").tobytes()).hexdigest()
    assert digest[:32] == PINNED_SIGNATURE
    assert dedup.band_hashes(signature)[:2] == PINNED_BANDS


def test_similarities_and_best_match_agree_with_compare() -> None:
    query = dedup.minhash(*AP_ABC)
    stored = [dedup.minhash(*TURNED_BACK), dedup.minhash(*AP_JAPAN_TODAY), query]
    matrix = dedup.signatures_from_bytes([dedup.signature_to_bytes(s) for s in stored])
    scores = dedup.similarities(query, matrix)
    assert scores.tolist() == [dedup.compare(query, s).similarity for s in stored]
    assert dedup.best_match(query, matrix) == 2  # itself, similarity 1.0
    assert dedup.best_match(query, matrix[:2]) == 1  # the wire copy
    assert dedup.best_match(query, matrix[:1]) is None  # the follow-up: below the threshold
    assert dedup.best_match(query, matrix[:0]) is None


def test_best_match_takes_the_first_of_equals() -> None:
    query = dedup.minhash(*AP_ABC)
    matrix = dedup.signatures_from_bytes([dedup.signature_to_bytes(query)] * 3)
    assert dedup.best_match(query, matrix) == 0


def test_signatures_from_bytes_rejects_another_size() -> None:
    data = dedup.signature_to_bytes(dedup.minhash(*AP_ABC))
    assert dedup.signatures_from_bytes([data, data]).shape == (2, dedup.NUM_PERM)
    with pytest.raises(ValueError, match="NUM_PERM"):
        dedup.signatures_from_bytes([data, data[:-2]])
