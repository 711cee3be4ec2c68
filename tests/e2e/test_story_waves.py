"""Issue 9's acceptance check: the labelled stories polled through the real pipeline in two
waves with digests sent in between (tests/story_waves.py; bench/story_waves.py prints the
same figures with every failure, and the labelled pairs too). Floors: development recall
>= 0.95 and copy suppression >= 0.95 on each part, and on the held-back timelines every development and new story
delivered and no late copy.

The floors are not met (measured below, deterministic): the misses are mostly copies that
clustering does not put into their story and that the late-copy check at delivery
(core.digest.updates.LateCopies) does not find either, re-worded headlines with no text
("Twitter Blacks Out for All Users" after "Twittapocalypse! Twitter implodes"), and, on
pairs, the decision's own errors (core/developments.py). They stay strict xfails stating
the figure; the regression tests hold what is reached.
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
    """Each split polled in a run of its own: the splits reuse real events (Mt. Gox's
    filing is in a tune and a heldout2 timeline), and a report of one split that repeats
    another split's is a copy the pipeline rightly holds back, which neither split's labels
    can count."""
    rows = load("story_timelines.jsonl")
    figures = {}
    for split in SPLITS:
        part = [t for t in rows if t["split"] == split]
        outcome = run_waves(timeline_articles(part), tmp_path_factory.mktemp(split))
        figures[split] = timeline_figures(part, outcome)
    return figures


SPLITS = ("tune", "heldout", "heldout2")
# (set, split, measure): the figure measured when this was written.
MEASURED = {
    ("timelines", "tune", "recall"): 1.000,
    ("timelines", "tune", "suppression"): 0.946,
    ("timelines", "heldout", "recall"): 1.000,
    ("timelines", "heldout", "suppression"): 0.931,
    ("timelines", "heldout2", "recall"): 1.000,
    ("timelines", "heldout2", "suppression"): 0.292,
}
# The 451 labelled pairs in two waves (earlier items, then later ones) take a minute more
# through the pipeline; bench/story_waves.py measures them: tune 0.865 / 0.894, held-out
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


@pytest.mark.parametrize("split", ["heldout", "heldout2"])
def test_held_back_timelines_deliver_every_development_and_new_story(
    timelines: dict[str, Figures], split: str
) -> None:
    held = timelines[split]
    assert held.developments_delivered == held.developments, held.failures
    assert held.new_delivered == held.new, held.failures


@pytest.mark.xfail(strict=True, reason="2 of 29 held-back copies delivered: clustering misses")
def test_held_back_timelines_deliver_no_late_copy(timelines: dict[str, Figures]) -> None:
    assert timelines["heldout"].copies_delivered == 0, timelines["heldout"].failures
