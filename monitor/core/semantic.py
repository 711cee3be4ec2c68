"""The semantic contribution: how similar an article is to a watchlist's examples, in points.

Pure: unit vectors in, a bounded and explained contribution out. Must not load a model, read
example files or embed text (adapters/embed.py and adapters/files/examples.py do); scoring.py
adds the result to the lexical score and decides what it does to the `require` gate.

The rule (DESIGN.md, "Scoring beyond terms"), for one article and one watchlist:

    similarity   = mean of the TOP_K highest cosines between the article and the examples
                   (the example files, plus the watchlist's name and description)
    counter      = the highest cosine between the article and a counter-example
    contribution = min(semantic_max, semantic_weight × (similarity − semantic_floor))
                   when similarity > semantic_floor and similarity − counter > semantic_margin,
                   else 0

Why this shape: each choice measured on the tune split of tests/data/semantic_eval.jsonl
(recall on reports naming no term, at precision >= 0.90, lexical F1 not lower; floor, margin
and weight re-tuned for each variant; bench/semantic.py, the shipped model):

- The mean of the two best examples, not the single best (recall 0.81 against 0.69; three:
  0.80): one example sharing a few words with an off-topic report gave most of the false
  positives, and two agreeing examples rarely do.
- Counter-examples veto (0.81; without any, 0.44). The shipped watchlists name their own
  false friends and, as counter-examples too, the other watchlists' examples (own only:
  0.71): each watchlist's nearest false friends are the others' reports (s400 and caatsa
  share the Russian purchase, sochi and idlib the rebel province). With those, a margin of 0
  measured best: a counter-example at least as similar as the examples wins.
- Linear above the floor and capped: a closer report scores more than a looser one, and
  `semantic_max` (default: the watchlist's threshold) bounds what similarity can add. So
  similarity alone can bring a report into the digest but never, by itself, past an
  alert_threshold above the threshold. The tuned weight (80 points per unit of cosine) is
  steep: the cap of 4 is reached 0.05 above the floor of 0.12, since TF-IDF cosines of short
  reports are small and what separates them is mostly whether they reach the floor.

Similarity is cosine on the vectors the model gives (adapters/embed.py), so the floor and
margin are in that model's units: the defaults in core/watchlist/model.py are the ones tuned
for the shipped model. A watchlist with no `examples` has no semantic part at all.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.core.watchlist import Watchlist

TOP_K = 2  # examples averaged into the similarity (fewer if the watchlist has fewer)

Vectors = npt.NDArray[np.float32]


class Verdict(enum.Enum):
    """Why the contribution is what it is."""

    SIMILAR = "similar"  # above the floor and not vetoed by a counter-example: it adds points
    BELOW_FLOOR = "below_floor"  # not similar enough to the examples
    COUNTER = "counter_example"  # closer to a counter-example than the margin allows


@dataclass(frozen=True, slots=True)
class SemanticParams:
    """The watchlist's knobs of the rule (TOML keys of the same names)."""

    weight: float  # points per unit of similarity above the floor
    floor: float  # similarity at and below which nothing is added
    margin: float  # similarity − counter must exceed this, else a counter-example vetoes
    cap: float  # the most that similarity can add

    def __post_init__(self) -> None:
        if self.weight <= 0 or self.cap <= 0:
            raise ValueError("semantic weight and cap must be positive")
        if not 0 <= self.floor < 1:
            raise ValueError("semantic floor must be in [0, 1)")
        if not -1 < self.margin < 1:
            raise ValueError("semantic margin must be in (-1, 1)")


@dataclass(frozen=True, slots=True)
class ExampleSet:
    """One watchlist's examples and counter-examples, embedded: unit rows, one per label."""

    labels: tuple[str, ...]  # where each example came from: a file, "name", "description"
    vectors: Vectors  # shape (len(labels), dimensions)
    counter_labels: tuple[str, ...] = ()
    counter_vectors: Vectors | None = None

    def __post_init__(self) -> None:
        if not self.labels or len(self.labels) != len(self.vectors):
            raise ValueError("an example set needs one vector per example, and examples")
        counters = 0 if self.counter_vectors is None else len(self.counter_vectors)
        if counters != len(self.counter_labels):
            raise ValueError("an example set needs one vector per counter-example")


@dataclass(frozen=True, slots=True)
class SemanticScore:
    """What similarity adds to one article's score for one watchlist, and why."""

    contribution: float
    similarity: float  # the mean of the TOP_K best example cosines
    examples: tuple[str, ...]  # those examples, most similar first
    verdict: Verdict
    counter_similarity: float | None = None  # the best counter-example cosine, if any
    counter_example: str | None = None

    def describe(self) -> str:
        """One line for people: "semantic: +3.2 (0.71 similar to seeds/001_….txt)"."""
        similar = f"{self.similarity:.2f} similar to {' and '.join(self.examples)}"
        if self.verdict is Verdict.COUNTER:
            return (
                f"semantic: +0 ({similar}, but {self.counter_similarity:.2f} similar to "
                f"counter-example {self.counter_example})"
            )
        if self.verdict is Verdict.BELOW_FLOOR:
            return f"semantic: +0 ({similar}: below the floor)"
        return f"semantic: +{self.contribution:g} ({similar})"

    def explanation(self) -> dict[str, Any]:
        """Plain JSON values, stable keys (stored with the match like the terms)."""
        return {
            "contribution": self.contribution,
            "similarity": self.similarity,
            "examples": list(self.examples),
            "verdict": self.verdict.value,
            "counter_similarity": self.counter_similarity,
            "counter_example": self.counter_example,
        }


def semantic_score(
    article: npt.NDArray[np.floating[Any]], examples: ExampleSet, params: SemanticParams
) -> SemanticScore:
    """The rule of the module docstring for one article (a unit vector) and one watchlist."""
    return semantic_scores(article[np.newaxis, :], examples, params)[0]


def semantic_scores(
    articles: npt.NDArray[np.floating[Any]], examples: ExampleSet, params: SemanticParams
) -> list[SemanticScore]:
    """The rule for many articles (unit rows) at once: one matrix product per watchlist."""
    counters = None
    if examples.counter_vectors is not None and len(examples.counter_vectors):
        counters = articles @ examples.counter_vectors.T
    return scores_from_cosines(
        articles @ examples.vectors.T, counters, examples.labels, examples.counter_labels, params
    )


def scores_from_cosines(
    cosines: npt.NDArray[np.floating[Any]],
    counters: npt.NDArray[np.floating[Any]] | None,
    labels: Sequence[str],
    counter_labels: Sequence[str],
    params: SemanticParams,
) -> list[SemanticScore]:
    """The rule for many articles from their cosines: one row per article, one column per
    example (`labels`) and per counter-example (`counter_labels`; None: there are none)."""
    k = min(TOP_K, cosines.shape[1])
    # Stable order on ties (lowest index first), so the explanation is deterministic.
    best = np.argsort(-cosines, axis=1, kind="stable")[:, :k]
    # Plain floats and ints from here: numpy scalars cost a microsecond each to touch.
    means = np.take_along_axis(cosines, best, axis=1).mean(axis=1).tolist()
    best_rows = best.tolist()
    worst_rows: list[int] = []
    worst_values: list[float] = []
    if counters is not None and counters.shape[1]:
        worst = np.argmax(counters, axis=1)
        worst_rows = worst.tolist()
        worst_values = np.take_along_axis(counters, worst[:, np.newaxis], axis=1)[:, 0].tolist()
    out = []
    for row, mean in enumerate(means):
        similarity = round(mean, 3)
        shown = tuple(map(labels.__getitem__, best_rows[row]))
        counter_similarity: float | None = None
        counter_example: str | None = None
        if worst_rows:
            counter_similarity = round(worst_values[row], 3)
            counter_example = counter_labels[worst_rows[row]]
        if similarity <= params.floor:
            verdict, value = Verdict.BELOW_FLOOR, 0.0
        elif counter_similarity is not None and similarity - counter_similarity <= params.margin:
            verdict, value = Verdict.COUNTER, 0.0
        else:
            verdict = Verdict.SIMILAR
            value = round(min(params.cap, params.weight * (similarity - params.floor)), 3)
        out.append(
            SemanticScore(value, similarity, shown, verdict, counter_similarity, counter_example)
        )
    return out


def params_for(watchlist: Watchlist) -> SemanticParams:
    """The rule's knobs as the watchlist file sets them (semantic_max defaults to threshold)."""
    cap = watchlist.semantic_max if watchlist.semantic_max is not None else watchlist.threshold
    return SemanticParams(
        watchlist.semantic_weight, watchlist.semantic_floor, watchlist.semantic_margin, cap
    )


def unit_rows(vectors: Sequence[Sequence[float]] | Vectors) -> Vectors:
    """Rows scaled to length 1 (a zero row stays zero: it is similar to nothing)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    scaled: Vectors = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return scaled
