"""Scoring the labelled sets with and without the semantic part: shared by
tests/test_semantic_eval.py (the floors) and bench/semantic.py (the figures).

Both sets are JSON Lines of headline-and-summary items with `labels` (watchlist ids) and
`split`; tests/data/semantic_eval.README.md describes the semantic set. Articles are scored as
the pipeline will: the lexical score of core/scoring.py with each watchlist's semantic score
(adapters/embed.py, core/semantic.py) passed in.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.adapters.embed import SemanticIndex
from monitor.adapters.files.examples import example_documents
from monitor.adapters.files.watchlists import load_watchlists
from monitor.core.matcher import Matcher, compile_matcher
from monitor.core.scoring import score_watchlists
from monitor.core.semantic_features import article_features
from monitor.core.watchlist import Watchlist

REPO = Path(__file__).resolve().parents[1]
WATCHLISTS = REPO / "watchlists"
SEMANTIC_SET = REPO / "tests" / "data" / "semantic_eval.jsonl"
LEXICAL_SET = REPO / "tests" / "data" / "watchlist_eval.jsonl"
IDS = ("caatsa", "idlib", "incirlik", "s400", "sochi")

Item = dict[str, Any]


def read_items(path: Path) -> list[Item]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@dataclass(frozen=True)
class Scorer:
    matcher: Matcher
    index: SemanticIndex | None  # None: lexical only

    def matched(self, items: Sequence[Item]) -> list[set[str]]:
        """For each item, the watchlists it matches."""
        semantic: Sequence[Mapping[str, Any]] = [{}] * len(items)
        if self.index is not None:
            semantic = self.index.scores(
                [article_features(i["title"], i["summary"]) for i in items]
            )
        return [
            {
                w
                for w, score in score_watchlists(self.matcher, i["title"], i["summary"], semantic=s)
                if score.matched
            }
            for i, s in zip(items, semantic, strict=True)
        ]


def shipped_watchlists(directory: Path = WATCHLISTS) -> list[tuple[Watchlist, Path]]:
    loaded = load_watchlists(directory)
    assert not loaded.problems, loaded.problems
    return [(w, directory / f"{w.id}.toml") for w in loaded.watchlists]


def scorer(
    watchlists: Iterable[tuple[Watchlist, Path]],
    *,
    semantic: bool = True,
    **overrides: Any,
) -> Scorer:
    """The matcher and, with `semantic`, the index; `overrides` replace semantic_* settings
    of every watchlist (for tuning and the comparison, never for the shipped figures)."""
    chosen = [(dataclasses.replace(w, **overrides) if overrides else w, p) for w, p in watchlists]
    matcher = compile_matcher(w for w, _ in chosen)
    if not semantic:
        return Scorer(matcher, None)
    sources = {w.id: (w, example_documents(w, path)) for w, path in chosen if w.examples}
    return Scorer(matcher, SemanticIndex.build(sources))


@dataclass(frozen=True)
class SemanticFigures:
    recall: float  # of the no-term items, over every label they carry
    precision: float  # of every match in the split
    false_positives: int
    positives: int  # no-term labels in the split
    per_watchlist: dict[str, tuple[int, int, int]]  # (no-term hits, no-term labels, false pos.)


def semantic_figures(
    items: Sequence[Item], matched: Sequence[set[str]], split: str | None
) -> SemanticFigures:
    hit: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    tp = 0
    for item, found in zip(items, matched, strict=True):
        if split and item["split"] != split:
            continue
        gold = set(item["labels"])
        for w in IDS:
            if item["kind"] == "no-term" and w in gold:
                labels[w] += 1
                hit[w] += w in found
            if w in found:
                tp += w in gold
                fp[w] += w not in gold
    positives, false = sum(labels.values()), sum(fp.values())
    return SemanticFigures(
        recall=sum(hit.values()) / positives if positives else 0.0,
        precision=tp / (tp + false) if tp + false else 1.0,
        false_positives=false,
        positives=positives,
        per_watchlist={w: (hit[w], labels[w], fp[w]) for w in IDS},
    )


def lexical_figures(
    items: Sequence[Item], matched: Sequence[set[str]], split: str | None
) -> tuple[float, dict[str, float]]:
    """Micro-F1 over the watchlists, and each watchlist's F1 (as tests/test_watchlist_eval.py)."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for item, found in zip(items, matched, strict=True):
        if split and item["split"] != split:
            continue
        gold = set(item["labels"])
        for w in IDS:
            tp[w] += w in gold and w in found
            fp[w] += w in found and w not in gold
            fn[w] += w in gold and w not in found

    def f1(t: int, p: int, n: int) -> float:
        return 2 * t / (2 * t + p + n) if t else 0.0

    per = {w: f1(tp[w], fp[w], fn[w]) for w in IDS}
    return f1(sum(tp.values()), sum(fp.values()), sum(fn.values())), per
