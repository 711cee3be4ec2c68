"""The semantic part on its labelled set (tests/data/semantic_eval.jsonl) and on the lexical one.

The set: reports on topic for a shipped watchlist that name none of its terms or aliases
(kind "no-term"), and hard negatives on neighbouring topics (kind "neighbour"): the same
weapons, laws, places and people in other contexts. tests/data/semantic_eval.README.md says
how it was written. Its held-out split (whole themes, never looked at while the examples,
floors and weights were chosen) carries the floors of issue 17:

- recall >= 0.70 on the no-term items at precision >= 0.90 (every match of the split counts);
- on tests/data/watchlist_eval.jsonl, micro-F1 with the semantic part is not below the lexical
  one, and no watchlist falls below 0.90.

The model needs no package (monitor/adapters/embed.py), so nothing here is skipped; the whole
module takes about two seconds. bench/semantic.py prints the same figures and the speed.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from semantic_support import (
    IDS,
    LEXICAL_SET,
    SEMANTIC_SET,
    Item,
    Scorer,
    lexical_figures,
    read_items,
    scorer,
    semantic_figures,
    shipped_watchlists,
)

from monitor.adapters.files.examples import example_problems
from monitor.core.matcher import EntryKind, compile_matcher

RECALL_FLOOR = 0.70
PRECISION_FLOOR = 0.90
WATCHLIST_F1_FLOOR = 0.90


@pytest.fixture(scope="module")
def semantic_items() -> list[Item]:
    return read_items(SEMANTIC_SET)


@pytest.fixture(scope="module")
def lexical_items() -> list[Item]:
    return read_items(LEXICAL_SET)


@pytest.fixture(scope="module")
def with_semantic() -> Scorer:
    return scorer(shipped_watchlists())


@pytest.fixture(scope="module")
def lexical_only() -> Scorer:
    return scorer(shipped_watchlists(), semantic=False)


@pytest.fixture(scope="module")
def lexical_set_matched(
    lexical_items: list[Item], with_semantic: Scorer, lexical_only: Scorer
) -> tuple[list[set[str]], list[set[str]]]:
    """The lexical set's matches: lexical only, then with the semantic part."""
    return lexical_only.matched(lexical_items), with_semantic.matched(lexical_items)


def test_the_set_is_what_it_says(semantic_items: list[Item]) -> None:
    items = semantic_items
    assert len(items) >= 120
    assert len({i["id"] for i in items}) == len(items)
    assert {i["split"] for i in items} == {"tune", "holdout"}
    assert sum(i["split"] == "holdout" for i in items) >= len(items) / 3
    assert {i["kind"] for i in items} == {"no-term", "neighbour"}
    assert sum(i["kind"] == "neighbour" for i in items) >= 50
    assert sum(i["lang"] == "tr" for i in items) >= 15
    # Split by theme: a theme seen while tuning never comes back in the held-out split.
    splits = defaultdict(set)
    for item in items:
        splits[item["theme"]].add(item["split"])
    assert not [theme for theme, seen in splits.items() if len(seen) > 1]
    # Every watchlist has no-term reports on both sides.
    for split in ("tune", "holdout"):
        labels = Counter(
            w for i in items if i["split"] == split and i["kind"] == "no-term" for w in i["labels"]
        )
        assert all(labels[w] >= 5 for w in IDS), (split, labels)


def test_no_term_items_name_none_of_their_watchlists_terms(semantic_items: list[Item]) -> None:
    """The real matcher finds no term or alias of a labelled watchlist in a no-term item."""
    matcher = compile_matcher(w for w, _ in shipped_watchlists())
    named = []
    for item in semantic_items:
        if item["kind"] != "no-term":
            continue
        scan = matcher.scan(item["title"], item["summary"])
        for part in (scan.title, scan.body):
            for entry_id in part.hits:
                entry = matcher.entries[entry_id]
                if entry.kind is EntryKind.TERM and entry.watchlist_id in item["labels"]:
                    named.append((item["id"], entry.watchlist_id, entry.label))
    assert named == []


def test_the_shipped_examples_can_be_read() -> None:
    for watchlist, path in shipped_watchlists():
        assert watchlist.examples, watchlist.id
        assert example_problems(watchlist, path) == []


def test_held_out_recall_at_precision(semantic_items: list[Item], with_semantic: Scorer) -> None:
    figures = semantic_figures(semantic_items, with_semantic.matched(semantic_items), "holdout")
    assert figures.precision >= PRECISION_FLOOR, figures
    assert figures.recall >= RECALL_FLOOR, figures


def test_lexical_terms_alone_miss_every_no_term_item(
    semantic_items: list[Item], lexical_only: Scorer
) -> None:
    """What the issue is about: without the semantic part, these reports never match."""
    lexical = lexical_only.matched(semantic_items)
    assert semantic_figures(semantic_items, lexical, None).recall == 0.0


@pytest.mark.parametrize("split", ["holdout", None], ids=["holdout", "all"])
def test_the_lexical_set_does_not_get_worse(
    lexical_items: list[Item],
    lexical_set_matched: tuple[list[set[str]], list[set[str]]],
    split: str | None,
) -> None:
    lexical, semantic = lexical_set_matched
    before, _ = lexical_figures(lexical_items, lexical, split)
    after, per = lexical_figures(lexical_items, semantic, split)
    assert after >= before, (before, after, per)
    assert min(per.values()) >= WATCHLIST_F1_FLOOR, per
