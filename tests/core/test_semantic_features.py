"""What the parse workers make of an article for the semantic part (core/semantic_features.py)
and how the index reads it back (adapters/embed.py): the same scores as embedding the text."""

from __future__ import annotations

import array
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from semantic_support import SEMANTIC_SET, read_items, scorer, shipped_watchlists

from monitor.adapters.embed import SemanticIndexes, TfidfModel, _Lookup, build_index, word_hashes
from monitor.adapters.files.watchlists import load_watchlist_file
from monitor.core.backtest import Replay, StoredArticle
from monitor.core.matcher import article_match_form
from monitor.core.scoring import score_watchlists
from monitor.core.semantic import SemanticScore, Verdict, semantic_scores
from monitor.core.semantic_features import (
    FEATURES_VERSION,
    article_features,
    features_or_text,
    text_features,
    word_hash,
    words,
)

REPO = Path(__file__).resolve().parents[2]


def test_features_are_the_folded_words_hashed_in_order() -> None:
    features = article_features("İncirlik'te", "Erdoğan met Putin")
    assert features.startswith(FEATURES_VERSION)
    hashes = word_hashes(features)
    assert hashes is not None
    assert hashes.tolist() == [word_hash(w) for w in ["incirlik", "te", "erdogan", "met", "putin"]]
    assert words("İncirlik'te") == ["incirlik", "te"]


@given(st.text(max_size=300))
@example("İncirlik'te  Erdoğan\nmet\tPutin İncirlik'te ½ S-400'ler")
def test_features_are_the_word_hashes_as_little_endian_uint32s(text: str) -> None:
    # text_features joins each token's stored bytes; the answer must be the hashes of the
    # words in order, packed as the stored layout says (as an array of them was before).
    hashes = array.array("I", [word_hash(w) for token in text.split() for w in words(token)])
    if sys.byteorder == "big":
        hashes.byteswap()
    assert text_features(text) == FEATURES_VERSION + hashes.tobytes()


def test_features_are_the_same_bytes_in_another_process() -> None:
    """Workers are other processes: nothing may depend on Python's per-process str hash."""
    code = (
        "import sys; from monitor.core.semantic_features import article_features; "
        "sys.stdout.write(article_features('Moscow long-range interceptors', 'Ankara').hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert other == article_features("Moscow long-range interceptors", "Ankara").hex()


def test_features_of_another_version_are_made_again_from_the_text() -> None:
    made = article_features("a title", "some text")
    assert features_or_text(made, "ignored", "ignored") is made
    stale = b"old!" + made[4:]
    assert word_hashes(stale) is None
    assert features_or_text(stale, "a title", "some text") == made
    assert features_or_text(None, "a title", "some text") == made


def test_the_lookup_finds_every_key_and_no_other_even_when_slots_are_shared() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32))
    columns = rng.permutation(len(keys))
    lookup = _Lookup(keys.tolist(), columns.tolist(), np.uint32)
    # 5,000 keys in 2^16 slots: some 350 keys share a slot and are answered by binary search.
    strangers = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    strangers = strangers[~np.isin(strangers, keys)]
    assert lookup(keys).tolist() == columns.tolist()
    assert (lookup(strangers) == -1).all()


def test_scores_from_features_equal_scores_from_embedded_text() -> None:
    """The writer's path (features, sparse lookup) against the plain dense embedding."""
    items = read_items(SEMANTIC_SET)
    index = scorer(shipped_watchlists()).index
    assert index is not None and isinstance(index.model, TfidfModel)
    texts = [f"{i['title']}\n{i['summary']}" for i in items]
    fast = index.scores([article_features(i["title"], i["summary"]) for i in items])
    dense = index.model.embed(texts)
    for w, example_set in index.sets.items():
        slow = semantic_scores(dense, example_set, index.params[w])
        assert [row[w].verdict for row in fast] == [s.verdict for s in slow], w
        got = np.array([row[w].similarity for row in fast])
        assert np.allclose(got, [s.similarity for s in slow], atol=0.0011), w
    assert sum(row["s400"].verdict is Verdict.SIMILAR for row in fast) >= 10


def test_the_index_is_built_once_per_set_of_watchlists() -> None:
    problems: list[str] = []
    indexes = SemanticIndexes(REPO / "watchlists", on_problem=problems.append)
    shipped = [w for w, _ in shipped_watchlists()]
    first = indexes(shipped)
    assert first is not None and set(first.sets) == {w.id for w in shipped}
    assert indexes(list(reversed(shipped))) is first  # same set, same index
    fewer = indexes(shipped[:2])
    assert (
        fewer is not first and fewer is not None and set(fewer.sets) == {w.id for w in shipped[:2]}
    )
    assert problems == []


def test_a_watchlist_whose_examples_cannot_be_read_scores_by_terms(tmp_path: Path) -> None:
    path = tmp_path / "s400.toml"
    text = (REPO / "watchlists" / "s400.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    index, problems = build_index([(load_watchlist_file(path), path)])
    assert index is None
    assert problems and all("matches no file" in p for p in problems)


def test_backtest_scores_in_full_an_article_similar_enough_to_add_points() -> None:
    """The replay's fast path skips articles whose terms cannot match: similarity can."""
    watchlist = next(w for w, _ in shipped_watchlists() if w.id == "s400")
    title = "Moscow finishes delivering long-range interceptors to Turkey"
    text = (
        "The last cargo flights carrying launchers, radars and command vehicles of the "
        "Russian-made anti-aircraft system landed at an air base near Ankara."
    )
    article = StoredArticle(1, 1, None, title, text, article_match_form(title, text), "desk")
    index = scorer(shipped_watchlists()).index
    assert index is not None
    replay = Replay(None, watchlist)
    lexical = replay.score(article).after
    semantic = index.scores([article_features(title, text)], replay.ids)[0]
    similar = replay.score(article, semantic).after
    assert lexical is not None and not lexical.matched
    assert similar is not None and similar.matched and similar.require_met_by_semantic
    assert similar.score == semantic["s400"].contribution


@pytest.mark.parametrize(
    ("title", "text", "watchlist"),
    [
        ("Mercedes-Benz S 400 d review", "The S400 d 4MATIC from Moscow to the coast.", "s400"),
        (
            "India deploys another S-400 squadron",
            "The Russian-made long-range air defence system bought from Moscow.",
            "caatsa",
        ),
    ],
    ids=["mercedes-exclude", "india-require"],
)
def test_even_the_most_similar_score_cannot_pass_the_gates(
    title: str, text: str, watchlist: str
) -> None:
    """require and exclude still gate: the Mercedes S 400 (exclude Mercedes*) and India's
    S-400s without sanctions (a CAATSA term named, so its `require` must hold)."""
    matcher = scorer(shipped_watchlists(), semantic=False).matcher
    most = SemanticScore(4.0, 0.9, ("examples/x.txt",), Verdict.SIMILAR)
    scores = dict(score_watchlists(matcher, title, text, semantic={watchlist: most}))
    assert scores[watchlist].score >= scores[watchlist].threshold
    assert not scores[watchlist].matched
    assert not scores[watchlist].require_met_by_semantic


def test_with_semantic_is_replace_field_for_field() -> None:
    """Score.with_semantic is dataclasses.replace written out for speed: it must stay so."""
    import dataclasses

    matcher = scorer(shipped_watchlists(), semantic=False).matcher
    title, text = "Turkey and the S-400", "Ankara activates the S-400 batteries."
    score = dict(score_watchlists(matcher, title, text))["s400"]
    shown = SemanticScore(0.0, 0.05, ("name",), Verdict.BELOW_FLOOR)
    assert score.with_semantic(shown) == dataclasses.replace(score, semantic=shown)
    assert len(dataclasses.fields(score)) == 12  # a new field must be added to with_semantic


def test_making_the_features_needs_no_numpy() -> None:
    """The features are plain hashed words: making them loads no numpy (the parse workers
    load it anyway since they compute the story signatures, issue 16; the features must not
    be why)."""
    code = (
        "import sys, monitor.core.semantic_features; sys.stdout.write(str('numpy' in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert loaded == "False"
