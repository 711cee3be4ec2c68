"""Issue 9's acceptance check: the labelled stories polled through the real pipeline in two
waves with digests sent in between (tests/story_waves.py; bench/story_waves.py prints the
same figures with every failure, and the labelled pairs too). Floors: development recall
>= 0.95 and copy suppression >= 0.95 on each part, and on the held-back timelines every development and new story
delivered and no late copy.

The floors are not met (measured below, deterministic): the misses are mostly copies that
clustering does not put into their story (they are delivered as new stories; the decision
never sees them) and, on pairs, the decision's own errors (core/developments.py). They stay
strict xfails stating the figure; the regression tests hold what is reached.
"""

from __future__ import annotations

import pytest
from story_waves import (
    Figures,
    load,
    run_waves,
    timeline_articles,
    timeline_figures,
)

pytestmark = pytest.mark.slow

FLOOR = 0.95


@pytest.fixture(scope="module")
def timelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Figures]:
    rows = load("story_timelines.jsonl")
    outcome = run_waves(timeline_articles(rows), tmp_path_factory.mktemp("timelines"))
    return {s: timeline_figures([t for t in rows if t["split"] == s], outcome) for s in SPLITS}


SPLITS = ("tune", "heldout")
# (set, split, measure): the figure measured when this was written.
MEASURED = {
    ("timelines", "tune", "recall"): 1.000,
    ("timelines", "tune", "suppression"): 0.892,
    ("timelines", "heldout", "recall"): 1.000,
    ("timelines", "heldout", "suppression"): 0.931,
}
# The 451 labelled pairs in two waves (earlier items, then later ones) take a minute more
# through the pipeline; bench/story_waves.py measures them: tune 0.875 / 0.848, held-out
# 0.900 / 0.901 (development recall / copy suppression).


def floor_case(key: tuple[str, str, str]) -> object:
    figure = MEASURED[key]
    marks = (
        []
        if figure >= FLOOR
        else [pytest.mark.xfail(strict=True, reason=f"measured {figure:.3f} < {FLOOR}")]
    )
    return pytest.param(*key, marks=marks, id="-".join(key))


def figures_of(request: pytest.FixtureRequest, name: str, split: str) -> Figures:
    figures: dict[str, Figures] = request.getfixturevalue(name)
    return figures[split]


@pytest.mark.parametrize(("name", "split", "measure"), [floor_case(k) for k in MEASURED])
def test_floor(request: pytest.FixtureRequest, name: str, split: str, measure: str) -> None:
    figures = figures_of(request, name, split)
    assert getattr(figures, measure) >= FLOOR, figures.failures


@pytest.mark.parametrize(("name", "split", "measure"), list(MEASURED), ids="-".join)
def test_no_regression(request: pytest.FixtureRequest, name: str, split: str, measure: str) -> None:
    figures = figures_of(request, name, split)
    assert getattr(figures, measure) >= MEASURED[name, split, measure] - 0.005, figures.failures


def test_held_back_timelines_deliver_every_development_and_new_story(
    timelines: dict[str, Figures],
) -> None:
    held = timelines["heldout"]
    assert held.developments_delivered == held.developments
    assert held.new_delivered == held.new


@pytest.mark.xfail(strict=True, reason="2 of 29 held-back copies delivered: clustering misses")
def test_held_back_timelines_deliver_no_late_copy(timelines: dict[str, Figures]) -> None:
    assert timelines["heldout"].copies_delivered == 0, timelines["heldout"].failures
