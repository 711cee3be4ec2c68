"""Scoring: the formula, the gates, near bonuses, and the explanation analysts read."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.matcher import compile_matcher
from monitor.core.scoring import contribution, score_article, score_watchlists
from monitor.core.watchlist import Near, Term, Watchlist


def s400(**changes: object) -> Watchlist:
    base: dict[str, object] = dict(
        id="s400",
        name="S-400",
        threshold=4.0,
        alert_threshold=12.0,
        terms=(
            Term("S-400", ("S400",), 5.0),
            Term("Rosoboronexport", (), 2.0),
            Term("US", (), 1.0, True),
        ),
    )
    base.update(changes)
    return Watchlist(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        (0, 0, 0.0),
        (0, 1, 5.0),  # first mention: the full weight
        (0, 2, 7.5),  # each further mention half the one before
        (0, 3, 8.75),
        (1, 0, 8.75),  # a title hit counts as three mentions
        (1, 1, 9.375),
        (0, 50, 10.0),  # never more than twice the weight
    ],
)
def test_contribution_saturates_and_counts_the_title_more(
    title: int, body: int, expected: float
) -> None:
    assert contribution(5.0, title, body) == pytest.approx(expected)


def test_score_and_explanation() -> None:
    matcher = compile_matcher([s400()])
    score = score_article(
        matcher,
        "s400",
        "Turkey buys S-400",
        "The US objects to the S400 deal; Rosoboronexport says us Russians deliver.",
    )
    assert score.score == 9.375 + 2.0 + 1.0  # S-400 (title 1, body 1), Rosoboronexport, US
    assert (score.matched, score.alert, score.vetoed_by) == (True, True, None)
    terms = {t.term: t for t in score.terms}
    assert (terms["S-400"].title_count, terms["S-400"].body_count) == (1, 1)
    assert terms["S-400"].contribution == 9.375
    assert terms["US"].body_count == 1  # "us" is not "US"
    assert [t.term for t in score.terms] == ["S-400", "Rosoboronexport", "US"]
    assert terms["S-400"].snippets == (
        "Turkey buys **S-400**",
        "The US objects to the **S400** deal; Rosoboronexport says us Russians deliver.",
    )


def test_explanation_is_plain_json_and_deterministic() -> None:
    matcher = compile_matcher([s400()])
    args = ("s400", "S-400 news", "S-400 and Rosoboronexport " * 30)
    first = score_article(matcher, *args).explanation()
    second = score_article(compile_matcher([s400()]), *args).explanation()
    assert json.loads(json.dumps(first)) == first == second
    assert set(first) == {
        "watchlist",
        "score",
        "threshold",
        "alert_threshold",
        "matched",
        "alert",
        "vetoed_by",
        "missing",
        "terms",
        "near",
    }
    assert len(first["terms"][0]["snippets"]) == 3  # at most three


def test_snippets_point_at_the_original_text() -> None:
    matcher = compile_matcher([s400(terms=(Term("İncirlik", (), 4.0),))])
    body = (
        "Gözler İNCİRLİK Üssü'nde. "
        + "x " * 80
        + "Later, Ｉｎｃｉｒｌｉｋ again and İn-\ncirlik'te."
    )
    score = score_article(matcher, "s400", "", body)
    snippets = score.terms[0].snippets
    assert snippets[0].startswith("Gözler **İNCİRLİK** Üssü'nde.")
    assert "**Ｉｎｃｉｒｌｉｋ**" in snippets[1]
    assert "**İn- cirlik**'te." in snippets[1]
    assert snippets[1].startswith("…")


def test_threshold() -> None:
    matcher = compile_matcher([s400(threshold=6.0)])
    assert not score_article(matcher, "s400", "", "one S-400").matched  # 5.0
    assert score_article(matcher, "s400", "", "S-400 and S-400").matched  # 7.5


def test_exclude_vetoes_and_says_which() -> None:
    matcher = compile_matcher([s400(exclude=("Mercedes*", "Benz"))])
    score = score_article(matcher, "s400", "Mercedes-Benz S 400 d review", "The S400 sedan.")
    assert score.score > score.threshold
    assert (score.matched, score.alert, score.vetoed_by) == (False, False, "Mercedes*")


def test_require_groups_are_and_of_or() -> None:
    matcher = compile_matcher([s400(require=(("S-400",), ("missile*", "air defence")))])
    failing = score_article(matcher, "s400", "S-400", "A new S-400 model.")
    assert (failing.matched, failing.missing) == (False, (("missile*", "air defence"),))
    passing = score_article(matcher, "s400", "S-400", "The S-400 air defence system.")
    assert (passing.matched, passing.missing) == (True, ())
    absent = score_article(matcher, "s400", "", "missiles only")
    assert absent.missing == (("S-400",),)


@pytest.mark.parametrize(
    ("body", "bonus"),
    [
        ("the S-400 second batch", True),
        ("a second batch of the S-400", True),
        # Hits start at most `within` words apart; "S-400" is two words (s, 400).
        ("S-400 " + "word " * 4 + "second batch", True),
        ("S-400 " + "word " * 5 + "second batch", False),
        ("only the second batch", False),
    ],
)
def test_near_bonus(body: str, bonus: bool) -> None:
    near = (Near(("S-400", "second batch"), 6, 3.0),)
    matcher = compile_matcher([s400(near=near)])
    score = score_article(matcher, "s400", "", body)
    assert bool(score.near) is bonus
    base = sum(t.contribution for t in score.terms)
    assert score.score == pytest.approx(base + (3.0 if bonus else 0.0))


def test_near_with_three_terms_needs_all_in_one_window() -> None:
    near = (Near(("S-400", "Rosoboronexport", "second batch"), 4, 2.0),)
    matcher = compile_matcher([s400(near=near)])
    assert score_article(matcher, "s400", "", "S-400 Rosoboronexport second batch").near
    assert not score_article(
        matcher, "s400", "", "S-400 Rosoboronexport x x x x x second batch"
    ).near
    # Title and body are separate texts: no window spans both.
    assert not score_article(matcher, "s400", "S-400 Rosoboronexport", "second batch").near


def test_score_watchlists_covers_feeds_and_sorts_by_id() -> None:
    other = Watchlist(
        id="a-first", name="A", threshold=1.0, terms=(Term("Idlib"),), feeds=("syria",)
    )
    matcher = compile_matcher([s400(feeds=("al-monitor", "turkey")), other])
    ids = lambda **kw: [w for w, _ in score_watchlists(matcher, "", "S-400 in Idlib", **kw)]  # noqa: E731
    assert ids() == ["a-first", "s400"]
    assert ids(feed_name="al-monitor") == ["s400"]
    assert ids(feed_name="x", feed_tags=["syria"]) == ["a-first"]
    assert ids(feed_name="x", feed_tags=["sport"]) == []
    assert ids(watchlist_ids=["s400"]) == ["s400"]


def _eager_snippets(scan: Any, title_hits: Any, body_hits: Any) -> tuple[str, ...]:
    """The snippets as first written: every hit mapped back before any is shown, whitespace
    collapsed by a regular expression. The lazy version must give exactly these."""
    from monitor.core import scoring

    snippets: list[str] = []
    for part, hits in ((scan.title, title_hits), (scan.body, body_hits)):
        covered_until = -1
        spans = [scoring._hit_span(part, hit) for hit in hits]
        for start, end in spans:
            if len(snippets) == scoring.MAX_SNIPPETS:
                break
            if start < covered_until:
                continue
            left, right = scoring._window(part.original, start, end)
            inside = [(a, b) for a, b in spans if a >= left and b <= right]
            out, position = [], left
            for a, b in inside:
                out += [part.original[position:a], scoring.MARK_OPEN, part.original[a:b]]
                out.append(scoring.MARK_CLOSE)
                position = b
            out.append(part.original[position:right])
            text = re.sub(r"\s+", " ", "".join(out)).strip()
            prefix = "…" if left > 0 else ""
            suffix = "…" if right < len(part.original) else ""
            snippets.append(f"{prefix}{text}{suffix}")
            covered_until = right
    return tuple(snippets)


WORDS = ["S-400", "Ankara", "Triumf", "s400", "missile", "\u00a0", "\n\t", "deal", "S 400", "é"]


@settings(max_examples=300)
@given(
    title=st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    body=st.lists(st.sampled_from(WORDS + ["lorem", "ipsum"] * 4), max_size=400).map(" ".join),
)
def test_snippets_map_only_the_hits_they_show_and_say_the_same(title: str, body: str) -> None:
    from monitor.core import scoring

    watchlist = Watchlist(
        id="s400",
        name="S-400",
        threshold=1.0,
        terms=(Term("S-400", aliases=("Triumf",), weight=2.0), Term("Ankara", weight=1.0)),
    )
    matcher = compile_matcher([watchlist])
    scan = matcher.scan(title, body)
    for entry in {*scan.title.hits, *scan.body.hits}:
        title_hits = scan.title.hits.get(entry, ())
        body_hits = scan.body.hits.get(entry, ())
        assert scoring._snippets(scan, title_hits, body_hits) == _eager_snippets(
            scan, title_hits, body_hits
        )
