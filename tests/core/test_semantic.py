"""The semantic contribution, rule by rule: core/semantic.py, its hook in core/scoring.py, the
TF-IDF model of adapters/embed.py and the example files of adapters/files/examples.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.adapters.embed import SemanticIndex, TfidfModel, words
from monitor.adapters.files.examples import example_documents, example_problems
from monitor.adapters.files.watchlists import load_watchlist_file
from monitor.core.matcher import compile_matcher
from monitor.core.scoring import score_article, score_watchlists
from monitor.core.semantic import (
    ExampleSet,
    SemanticParams,
    SemanticScore,
    Verdict,
    params_for,
    semantic_score,
    semantic_scores,
    unit_rows,
)
from monitor.core.semantic_features import article_features
from monitor.core.watchlist import Term, Watchlist

PARAMS = SemanticParams(weight=10.0, floor=0.5, margin=0.0, cap=4.0)


def vector(*values: float) -> np.ndarray:
    return unit_rows([values])[0]


EXAMPLES = ExampleSet(
    labels=("examples/a.txt", "examples/b.txt", "description"),
    vectors=unit_rows([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]]),
    counter_labels=("examples/not/c.txt",),
    counter_vectors=unit_rows([[0, 1, 0]]),
)


# -- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "article", "verdict", "contribution", "examples"),
    [
        (
            "like both a and b",
            (1, 0.05, 0),
            Verdict.SIMILAR,
            4.0,
            ("examples/a.txt", "examples/b.txt"),
        ),
        # cosines 0.726 (a), 0.745 (b), 0.653 (description): mean of the best two 0.735
        (
            "a little like them",
            (1, 0.3, 0.9),
            Verdict.SIMILAR,
            2.35,
            ("examples/b.txt", "examples/a.txt"),
        ),
        (
            "unlike every example",
            (0, 0.2, 0.1),
            Verdict.BELOW_FLOOR,
            0.0,
            ("description", "examples/b.txt"),
        ),
        (
            "closer to the counter-example",
            (0.6, 1, 0),
            Verdict.COUNTER,
            0.0,
            ("examples/b.txt", "examples/a.txt"),
        ),
    ],
)
def test_rule(
    case: str,
    article: tuple[float, ...],
    verdict: Verdict,
    contribution: float,
    examples: tuple[str, ...],
) -> None:
    score = semantic_score(vector(*article), EXAMPLES, PARAMS)
    assert (score.verdict, score.contribution, score.examples) == (verdict, contribution, examples)


def test_the_similarity_is_the_mean_of_the_two_best_examples() -> None:
    score = semantic_score(vector(1, 0, 0), EXAMPLES, PARAMS)
    best_two = (1.0 + float(EXAMPLES.vectors[1] @ vector(1, 0, 0))) / 2
    assert score.similarity == round(best_two, 3)
    # Capped: similarity alone adds at most `cap` however close the article is.
    assert score.contribution == PARAMS.cap


def test_a_counter_example_vetoes_only_past_the_margin() -> None:
    article = vector(0.5, 1, 0)  # 0.495 like the examples, 0.894 like the counter-example
    strict = semantic_score(article, EXAMPLES, SemanticParams(10.0, 0.3, 0.0, 4.0))
    lenient = semantic_score(article, EXAMPLES, SemanticParams(10.0, 0.3, -0.5, 4.0))
    assert strict.verdict is Verdict.COUNTER
    assert lenient.verdict is Verdict.SIMILAR


def test_batch_and_single_agree_and_ties_are_stable() -> None:
    articles = unit_rows([[1, 0, 0], [0, 0, 1], [1, 1, 1]])
    assert semantic_scores(articles, EXAMPLES, PARAMS) == [
        semantic_score(row, EXAMPLES, PARAMS) for row in articles
    ]
    tie = ExampleSet(("x", "y", "z"), unit_rows([[1, 0], [1, 0], [1, 0]]))
    assert semantic_score(vector(1, 0), tie, PARAMS).examples == ("x", "y")


def test_zero_vectors_are_similar_to_nothing() -> None:
    score = semantic_score(np.zeros(3, dtype=np.float32), EXAMPLES, PARAMS)
    assert (score.similarity, score.verdict) == (0.0, Verdict.BELOW_FLOOR)


@pytest.mark.parametrize(
    ("weight", "floor", "margin", "cap"),
    [
        (0.0, 0.5, 0.0, 1.0),
        (1.0, 1.0, 0.0, 1.0),
        (1.0, -0.1, 0.0, 1.0),
        (1.0, 0.5, 1.0, 1.0),
        (1.0, 0.5, 0.0, 0.0),
    ],
)
def test_params_validate(weight: float, floor: float, margin: float, cap: float) -> None:
    with pytest.raises(ValueError):
        SemanticParams(weight, floor, margin, cap)


def test_describe_and_explanation() -> None:
    similar = semantic_score(vector(1, 0.05, 0), EXAMPLES, PARAMS)
    assert (
        similar.describe()
        == "semantic: +4 (0.999 similar to examples/a.txt and examples/b.txt)".replace(
            "0.999", f"{similar.similarity:.2f}"
        )
    )
    vetoed = semantic_score(vector(0.6, 1, 0), EXAMPLES, PARAMS)
    assert vetoed.describe().startswith("semantic: +0 (")
    assert "counter-example examples/not/c.txt" in vetoed.describe()
    assert vetoed.explanation() == {
        "contribution": 0.0,
        "similarity": vetoed.similarity,
        "examples": ["examples/b.txt", "examples/a.txt"],
        "verdict": "counter_example",
        "counter_similarity": vetoed.counter_similarity,
        "counter_example": "examples/not/c.txt",
    }


def test_params_for_takes_the_threshold_as_cap_by_default() -> None:
    watchlist = Watchlist(id="w", name="w", threshold=5.0, terms=(Term("x"),), examples=("*.txt",))
    assert params_for(watchlist).cap == 5.0
    capped = Watchlist(id="w", name="w", threshold=5.0, terms=(Term("x"),), semantic_max=2.0)
    assert params_for(capped).cap == 2.0


# -- the hook in scoring ---------------------------------------------------------------------


def s400() -> Watchlist:
    return Watchlist(
        id="s400",
        name="S-400",
        threshold=4.0,
        alert_threshold=12.0,
        terms=(Term("S-400", weight=4.0), Term("missile*")),
        require=(("S-400",), ("Russia*", "Turkey")),
        exclude=("Mercedes*",),
        examples=("examples/*.txt",),
    )


def similar(contribution: float) -> SemanticScore:
    return SemanticScore(contribution, 0.7, ("examples/a.txt", "examples/b.txt"), Verdict.SIMILAR)


NOT_SIMILAR = SemanticScore(0.0, 0.1, ("examples/a.txt", "examples/b.txt"), Verdict.BELOW_FLOOR)


@pytest.mark.parametrize(
    ("case", "title", "semantic", "matched", "require_met"),
    [
        (
            "no term: similarity stands in for require",
            "Moscow-made interceptors reach Ankara",
            similar(4.0),
            True,
            True,
        ),
        (
            "no term, not similar",
            "Moscow-made interceptors reach Ankara",
            NOT_SIMILAR,
            False,
            False,
        ),
        (
            "no term, similar but below threshold",
            "Moscow-made interceptors reach Ankara",
            similar(3.0),
            False,
            True,
        ),
        ("a term named: its gates hold", "India's S-400 ready", similar(4.0), False, False),
        (
            "a weak term named: its gates hold",
            "New missile interceptors for Ankara",
            similar(4.0),
            False,
            False,
        ),
        ("gates met: similarity adds", "Turkey's S-400 delayed", similar(1.0), True, False),
        (
            "exclude vetoes whatever the similarity",
            "Mercedes S-400 from Turkey",
            similar(4.0),
            False,
            False,
        ),
    ],
)
def test_semantic_in_the_verdict(
    case: str, title: str, semantic: SemanticScore, matched: bool, require_met: bool
) -> None:
    score = score_article(compile_matcher([s400()]), "s400", title, "", semantic)
    assert (score.matched, score.require_met_by_semantic) == (matched, require_met)
    assert score.semantic == semantic
    assert score.explanation()["semantic"]["require_met"] is require_met


def test_semantic_adds_to_the_score_and_never_alerts_alone() -> None:
    matcher = compile_matcher([s400()])
    lexical = score_article(matcher, "s400", "Turkey's S-400 delayed", "")
    with_semantic = score_article(matcher, "s400", "Turkey's S-400 delayed", "", similar(2.5))
    assert with_semantic.score == round(lexical.score + 2.5, 3)
    alone = score_article(
        matcher, "s400", "Moscow-made interceptors reach Ankara", "", similar(4.0)
    )
    assert (alone.score, alone.matched, alone.alert) == (4.0, True, False)


def test_watchlists_without_examples_explain_as_before() -> None:
    matcher = compile_matcher([s400()])
    assert "semantic" not in score_article(matcher, "s400", "Turkey's S-400", "").explanation()


def test_score_watchlists_passes_each_watchlist_its_own() -> None:
    other = Watchlist(id="other", name="o", threshold=4.0, terms=(Term("Idlib"),))
    matcher = compile_matcher([s400(), other])
    title = "Moscow-made interceptors reach Ankara"
    results = dict(score_watchlists(matcher, title, "", semantic={"s400": similar(4.0)}))
    assert results["s400"].matched and results["s400"].semantic == similar(4.0)
    assert results["other"].semantic is None and not results["other"].matched
    # Not similar, no hit: the cached no-hit score, with this article's similarity to show.
    quiet = dict(score_watchlists(matcher, title, "", semantic={"s400": NOT_SIMILAR}))
    assert quiet["s400"].semantic == NOT_SIMILAR and quiet["s400"].score == 0.0


# -- the model --------------------------------------------------------------------------------


def test_words_fold_like_the_matcher() -> None:
    assert words("İdlib'de İNCİRLİK Erdoğan ÇAVUŞOĞLU S–400 a") == [
        "idlib",
        "de",
        "incirlik",
        "erdogan",
        "cavusoglu",
        "400",
    ]


def test_tfidf_embeds_unit_rows_and_rare_words_weigh_more() -> None:
    model = TfidfModel.fit(
        ["Russian interceptors reach Turkey", "Turkey and Russia talk", "Turkey"]
    )
    rows = model.embed(["interceptors in Turkey", "Turkey", "nothing known here", ""])
    assert np.allclose(np.linalg.norm(rows[:2], axis=1), 1.0)
    assert not rows[2].any() and not rows[3].any()  # no word of the examples: similar to none
    interceptors = model.vocabulary["interceptors"]
    turkey = model.vocabulary["turkey"]
    assert rows[0, interceptors] > rows[0, turkey]  # in one document of three, not all three
    assert "russian interceptors" in model.vocabulary  # pairs of words are features too


def test_tfidf_embedding_is_the_same_in_any_batch() -> None:
    model = TfidfModel.fit(["a long-range system from Moscow", "the Black Sea residence"])
    texts = ["long-range system at the residence", "Moscow Moscow Moscow", "x"]
    together = model.embed(texts)
    alone = np.vstack([model.embed([t]) for t in texts])
    assert np.array_equal(together, alone)


# -- example files ---------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


WATCHLIST = """name = "S-400"
description = "Russia's long-range air defence system"
threshold = 4.0
examples = ["examples/s400/*.txt", "../seeds/*.txt"]
counter_examples = ["examples/s400/not/*.jsonl"]

[[terms]]
match = "S-400"
weight = 4.0
"""


def test_example_documents_resolve_globs_relative_to_the_watchlist(tmp_path: Path) -> None:
    path = write(tmp_path / "watchlists" / "s400.toml", WATCHLIST)
    write(
        tmp_path / "watchlists/examples/s400/b.txt",
        "Delivered\nRussian interceptors reached Ankara.",
    )
    write(tmp_path / "watchlists/examples/s400/a.txt", "Tested\nThe radar was switched on.")
    write(tmp_path / "seeds/001.txt", "Seed\nA second batch.")
    write(
        tmp_path / "watchlists/examples/s400/not/cars.jsonl",
        '{"title": "S 400 d", "summary": "A limousine."}\n{"title": "S-Class", "summary": "Review."}\n',
    )
    watchlist = load_watchlist_file(path)
    docs = example_documents(watchlist, path)
    assert [label for label, _ in docs.examples] == [
        "examples/s400/a.txt",
        "examples/s400/b.txt",
        "../seeds/001.txt",
        "name",
        "description",
    ]
    assert docs.examples[1][1] == "Delivered\nRussian interceptors reached Ankara."
    assert [label for label, _ in docs.counter_examples] == [
        "examples/s400/not/cars.jsonl#1",
        "examples/s400/not/cars.jsonl#2",
    ]
    assert example_problems(watchlist, path) == []
    index = SemanticIndex.build({"s400": (watchlist, docs)})
    score = index.scores([article_features("Russian interceptors", "reached Ankara")])[0]["s400"]
    assert score.examples[0] == "examples/s400/b.txt"


def test_example_problems_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "watchlists" / "s400.toml", WATCHLIST)
    write(tmp_path / "watchlists/examples/s400/empty.txt", "\n\n")
    write(tmp_path / "watchlists/examples/s400/not/bad.jsonl", "not json\n")
    watchlist = load_watchlist_file(path)
    problems = example_problems(watchlist, path)
    source = watchlist.source
    assert problems[0] == f"{source}: examples[0]: examples/s400/empty.txt: has no text"
    assert problems[1].startswith(f'{source}: examples[1]: "../seeds/*.txt" matches no file')
    assert problems[2].startswith(f"{source}: counter_examples[0]: ")
    assert "bad.jsonl:1: not a JSON object" in problems[2]


def test_watchlists_check_reports_examples_that_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from monitor.cli import watchlists as watchlists_cli

    lists = tmp_path / "lists"
    write(lists / "s400.toml", WATCHLIST)
    write(lists / "examples/s400/a.txt", "Tested\nThe radar was switched on.")
    parser = argparse.ArgumentParser(prog="monitor")
    parser.add_argument("--config")
    watchlists_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["--config", str(tmp_path / "none.toml"), "watchlists", "check", str(lists)]
    )
    assert args.func(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].endswith(
        's400.toml: examples[1]: "../seeds/*.txt" matches no file (relative to ' + f"{lists})"
    )
    assert out[-1] == "1 valid, 0 invalid, 2 problems"  # the counter-examples match nothing too
    shipped = parser.parse_args(
        [
            "--config",
            str(tmp_path / "none.toml"),
            "watchlists",
            "check",
            str(Path(__file__).parents[2] / "watchlists"),
        ]
    )
    assert shipped.func(shipped) == 0
