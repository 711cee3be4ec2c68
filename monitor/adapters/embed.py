"""The embedding model behind the semantic contribution: text in, unit vectors out.

Holds the model and the building of each watchlist's embedded examples; must not decide what a
similarity is worth (core/semantic.py does) nor read files (adapters/files/examples.py does).

The model is TF-IDF over folded word unigrams and bigrams, fitted on the example and
counter-example texts of the loaded watchlists (with their names and descriptions). It needs
no package, no weights and no network: it cannot fail to load on an analyst's server.

Chosen by measurement (`bench/semantic.py --compare`): each candidate in the same rule, with
floor, margin and weight tuned on the tune split of tests/data/semantic_eval.jsonl only, then
judged on its held-out split (recall on reports naming no term of their watchlist, precision
of every match) and on the lexical set's held-out micro-F1 (0.983 with terms alone). Speed:
embedding ~5 KB articles, CPU time of one core, on a machine busy with other work; memory:
resident growth after loading and embedding the examples; install: the wheel with the
dependencies monitor does not have already.

    model                          recall  precision  lexical F1  art/s  memory  install
    TF-IDF words 1-2 (this module)  0.725      0.906       0.983   2877    3 MB        0
    TF-IDF chars 3-5, scikit-learn  0.650      0.929       0.983    341   14 MB    51 MB
    WordLlama l2_supercat 256-d     0.450      1.000       0.978    307   63 MB    82 MB
    tokenlearn-static-model 64-d    0.225      0.900       0.978    609  271 MB    20 MB
    GloVe 6B 50-d (kumo, pyarrow)   0.200      0.889       0.983   1811  178 MB   260 MB

Only this model meets the floors (recall >= 0.70 at precision >= 0.90, lexical F1 kept), and
it is also the fastest, the smallest and the only one with nothing to install or load. The
static models lose because what decides these reports is a handful of content words
("long-range", "interceptors", "Adana", "Black Sea", "residence") that an average of 64 to
256 dimensions over every token of the text blurs, and because they know little Turkish;
TF-IDF weighs exactly those words by how rare they are among the examples. Its limit is the
same fact: a report must share words with some example. Hence examples should also say what
the watchlist is about in the words reports use when they do not name it
(watchlists/examples/*/described.txt), and the set must be measured again when the model or
the examples change. WordLlama, should figures ever favour it, loads offline from its wheel
with `WordLlama.load(cache_dir=<the wordllama package folder>, disable_download=True)` (its
default looks for the tokenizer in a folder the wheel does not have, then downloads), and its
import calls logging.basicConfig, which would have to be undone; it would plug in behind
`Embedder` with its own floor and margin.

Vectors are dense over the fitted vocabulary (a few thousand words and pairs for the shipped
watchlists) and normalised over it, as scikit-learn's TfidfVectorizer does: words no example
has cannot make two texts similar, so they are left out of the length too. Counting them
(an article's whole length) measured worse on the tune split (recall 0.73 against 0.81 at
the same precision floor).
"""

from __future__ import annotations

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
_TOKEN_CACHE = 50_000  # distinct tokens remembered by a model: about 8 MB at most

# Runs of letters and digits of the lower-cased text; each is then folded (Erdoğan = erdogan,
# İdlib = idlib) and kept when it still has two characters or more. "İ" goes first:
# "İ".lower() is "i" and a combining dot, which would split the word in two. (str.replace,
# not str.translate: translating every character of 5 KB cost more than the rest together.)
_RAW_WORD = re.compile(r"[^\W_]+")


def _raw_words(text: str) -> list[str]:
    return _RAW_WORD.findall(text.replace("İ", "i").lower())


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return [f for w in _raw_words(text) if len(f := fold_text(w)) >= 2]


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
        word_ids = {f: c for f, c in vocabulary.items() if " " not in f}
        self._word_ids = word_ids
        # Pairs by the columns of their two words, as one sorted int64 key each
        # (first × size + second): an article's pairs are found with one searchsorted.
        size = len(vocabulary)
        pairs = sorted(
            (word_ids[a] * size + word_ids[b], c)
            for f, c in vocabulary.items()
            if " " in f
            for a, b in [f.split(" ")]
        )
        self._size = size
        self._pair_keys = np.array([k for k, _ in pairs], dtype=np.int64)
        self._pair_columns = np.array([c for _, c in pairs], dtype=np.intp)
        # A whitespace-separated token of an article → the columns of its words (-1: a word
        # the examples do not have). Splitting on whitespace and looking each token up once is
        # several times faster than running the word pattern over the whole text, and gives
        # the same words in the same order. Cleared when it grows past _TOKEN_CACHE.
        self._token_ids: dict[str, tuple[int, ...]] = {}

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
        cache = self._token_ids
        if len(cache) > _TOKEN_CACHE:
            cache.clear()
        for row, text in enumerate(texts):
            tokens = text.split()
            for token in set(tokens).difference(cache):
                cache[token] = tuple(self._word_ids.get(w, -1) for w in words(token))
            ids = np.fromiter(
                itertools.chain.from_iterable(map(cache.__getitem__, tokens)), dtype=np.int64
            )
            known = ids >= 0
            both = known[:-1] & known[1:]
            keys = ids[:-1][both] * self._size + ids[1:][both]
            where = np.searchsorted(self._pair_keys, keys)
            where[where == len(self._pair_keys)] = 0
            found = self._pair_keys[where] == keys if len(self._pair_keys) else where < 0
            columns, counts = np.unique(
                np.concatenate((ids[known], self._pair_columns[where[found]])),
                return_counts=True,
            )
            out[row, columns] = (1.0 + np.log(counts)) * self.idf[columns]
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
