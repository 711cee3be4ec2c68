"""The embedding model behind the semantic contribution: text in, unit vectors out.

Holds the model, the building of each watchlist's embedded examples and the index every
scorer uses; must not decide what a similarity is worth (core/semantic.py does) nor parse
example files (adapters/files/examples.py does; the index asks it for them).

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

Vectors are over the fitted vocabulary (a few thousand words and pairs for the shipped
watchlists) and normalised over it, as scikit-learn's TfidfVectorizer does: words no example
has cannot make two texts similar, so they are left out of the length too. Counting them
(an article's whole length) measured worse on the tune split (recall 0.73 against 0.81 at
the same precision floor).

One code path for every caller: an article enters as its features (its folded words hashed,
core/semantic_features.py), made once by the parse worker and stored with it, or made from
the text by `monitor score` and for rows stored before they were kept. `SemanticIndex.scores`
then looks a feed's articles up together (`_Lookup`), builds their unit rows over only the
columns they use, and takes one product with every distinct example text: what is left on
the database writer is vectorised numpy, about 60-100 µs an article on this machine
(bench/semantic.py prints it beside the lexical figure). `SemanticIndexes` keeps the index
of the watchlists in force and builds it again only when they change (a reload).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from monitor.adapters.files.examples import ExampleDocuments, example_documents
from monitor.core.semantic import (
    ExampleSet,
    SemanticParams,
    SemanticScore,
    Vectors,
    params_for,
    scores_from_cosines,
)
from monitor.core.semantic_features import (
    FEATURES_VERSION,
    article_text,
    is_current,
    text_features,
    word_hash,
    words,
)
from monitor.core.watchlist import Watchlist
from monitor.errors import WatchlistError

MODEL_NAME = "tfidf-words-1-2"

__all__ = ["MODEL_NAME", "SemanticIndex", "TfidfModel", "article_text", "features", "words"]


def word_hashes(features: bytes) -> npt.NDArray[np.uint32] | None:
    """The hashes stored in `features` (core/semantic_features.py); None when they are of
    another version."""
    if not is_current(features):
        return None
    return np.frombuffer(features, dtype="<u4", offset=len(FEATURES_VERSION))


def features(text: str) -> Counter[str]:
    """The words and word pairs of `text`, counted (what the model is fitted on)."""
    found = words(text)
    counts = Counter(found)
    counts.update(f"{a} {b}" for a, b in itertools.pairwise(found))
    return counts


# Fibonacci hashing: the multiplier spreads consecutive and structured keys over the slots.
_GOLDEN = {4: 0x9E3779B1, 8: 0x9E3779B97F4A7C15}


class _Lookup:
    """Sorted integer keys → columns, for many keys at once: a multiplicative hash table
    (1/8 full: about 100 KB for a few thousand keys, so it stays in the CPU's caches while
    the lexical matcher runs beside it) answers most keys with two gathers, and the keys
    whose slot two vocabulary keys share (about one in ten) go to a binary search. Several
    times faster than searchsorted alone, which dominated embedding."""

    def __init__(self, keys: Sequence[int], columns: Sequence[int], dtype: type) -> None:
        kind = np.dtype(dtype)
        self._keys = np.array(keys, dtype=kind)  # sorted
        self._columns = np.array(columns, dtype=np.int32)
        bits = max(6, min(22, (8 * max(1, len(keys)) - 1).bit_length()))
        # Scalars of the keys' own type: numpy then multiplies modulo 2^32 or 2^64, as wanted.
        self._shift: Any = kind.type(kind.itemsize * 8 - bits)
        self._multiplier: Any = kind.type(_GOLDEN[kind.itemsize])
        self._slot_keys = np.zeros(1 << bits, dtype=kind)
        self._slot_columns = np.full(1 << bits, -1, dtype=np.int32)
        slots = self._slots(self._keys)
        self._slot_keys[slots] = self._keys
        self._slot_columns[slots] = self._columns
        shared, counts = np.unique(slots, return_counts=True)
        self._slot_columns[shared[counts > 1]] = -2  # ask the sorted keys

    def _slots(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        slots: npt.NDArray[np.intp] = np.right_shift(
            np.multiply(keys, self._multiplier), self._shift
        ).astype(np.intp)
        return slots

    def __call__(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.int32]:
        """The column of each key, -1 for a key that is not there."""
        slots = self._slots(keys)
        columns = self._slot_columns[slots]
        columns[(columns >= 0) & (self._slot_keys[slots] != keys)] = -1
        ask = np.flatnonzero(columns == -2)
        if len(ask):
            where = np.minimum(np.searchsorted(self._keys, keys[ask]), len(self._keys) - 1)
            hit = self._keys[where] == keys[ask]
            columns[ask] = np.where(hit, self._columns[where], -1)
        return columns


class TfidfModel:
    """Inverse document frequencies of the fitted vocabulary."""

    def __init__(self, vocabulary: Mapping[str, int], idf: Vectors) -> None:
        self.vocabulary = vocabulary  # feature → column
        self.idf = idf  # by column
        # Articles arrive as hashed words (core/semantic_features.py): words are looked up by
        # hash, pairs by the key (first hash << 32 | second hash), each in one sorted array,
        # so a whole batch of articles is looked up with two searchsorted calls.
        words_by_hash = {word_hash(f): c for f, c in vocabulary.items() if " " not in f}
        if len(words_by_hash) != sum(" " not in f for f in vocabulary):
            raise ValueError("two words of the vocabulary share a hash")  # see semantic_features
        order = sorted(words_by_hash)
        self._words = _Lookup(order, [words_by_hash[h] for h in order], np.uint32)
        pairs = sorted(
            ((word_hash(a) << 32) | word_hash(b), c)
            for f, c in vocabulary.items()
            if " " in f
            for a, b in [f.split(" ")]
        )
        self._pairs = _Lookup([k for k, _ in pairs], [c for _, c in pairs], np.uint64)

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
        used, rows = self.weigh([text_features(t) for t in texts])
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        out[:, used] = rows
        return out

    def weigh(self, batch: Sequence[bytes]) -> tuple[npt.NDArray[np.intp], Vectors]:
        """The unit rows of articles given by their features (core/semantic_features.py),
        over only the vocabulary columns some article of the batch has: (those columns,
        rows × those columns). A feed's articles use a few hundred of a few thousand."""
        arrays = [word_hashes(f) for f in batch]
        if any(a is None for a in arrays):
            raise ValueError("features of another version: make them again from the text")
        hashes = [a for a in arrays if a is not None]
        lengths = np.fromiter(map(len, hashes), dtype=np.intp, count=len(hashes))
        every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint32)
        row_of = np.repeat(np.arange(len(hashes)), lengths)
        word_columns = self._words(every)
        known = word_columns >= 0
        # A pair: two known words next to each other in one article.
        both = known[:-1] & known[1:] & (row_of[:-1] == row_of[1:])
        keys = (every[:-1][both].astype(np.uint64) << np.uint64(32)) | every[1:][both]
        pair_columns = self._pairs(keys)
        found = pair_columns >= 0
        rows = np.concatenate((row_of[known], row_of[:-1][both][found]))
        columns = np.concatenate((word_columns[known], pair_columns[found]))
        # Counted by (row, column) cell with bincounts, no sort (np.unique sorts), over only
        # the columns the batch uses: a small table stays in the CPU's caches.
        used = np.flatnonzero(np.bincount(columns, minlength=self.dimensions))
        compact = np.empty(self.dimensions, dtype=np.intp)
        compact[used] = np.arange(len(used))
        present = np.bincount(
            rows * len(used) + compact[columns], minlength=len(hashes) * len(used)
        ).reshape(len(hashes), len(used))
        weights = np.log(np.maximum(present, 1)) + 1.0
        weights *= self.idf[used]
        weights[present == 0] = 0.0
        norms = np.sqrt(np.einsum("ij,ij->i", weights, weights))
        np.divide(weights, norms[:, np.newaxis], out=weights, where=norms[:, np.newaxis] > 0)
        return used, weights.astype(np.float32)


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


@functools.cache
def _one_blas_thread() -> None:
    """Every product against the examples is small (a feed's articles by a few dozen example
    texts), and comes before any, so the process's BLAS gets one thread from here on. A
    second thread gained nothing, and OpenBLAS's idle threads spin between calls: on the
    first poll of bench/ingest.py that was 8 ms of CPU per feed in the writer's process, and
    a core taken from the parse workers (39.9 feeds/s with one thread, 22.6 with two)."""
    threadpool_limits(limits=1, user_api="blas")


def example_sets(
    model: Embedder, documents: Mapping[str, ExampleDocuments]
) -> dict[str, ExampleSet]:
    """Each watchlist's examples and counter-examples, embedded (once per watchlist version)."""
    return _embedded(model, documents)[0]


def _embedded(
    model: Embedder, documents: Mapping[str, ExampleDocuments]
) -> tuple[dict[str, ExampleSet], Vectors, dict[str, tuple[list[int], list[int]]]]:
    """The example sets, every distinct example text embedded once (one row each), and where
    each watchlist's examples and counter-examples are among those rows."""
    _one_blas_thread()
    rows: dict[str, int] = {}
    for docs in documents.values():
        for _, text in (*docs.examples, *docs.counter_examples):
            rows.setdefault(text, len(rows))
    vectors = model.embed(list(rows))
    sets, where = {}, {}
    for watchlist_id, docs in documents.items():
        own = [rows[text] for _, text in docs.examples]
        counters = [rows[text] for _, text in docs.counter_examples]
        sets[watchlist_id] = ExampleSet(
            labels=tuple(label for label, _ in docs.examples),
            vectors=vectors[own],
            counter_labels=tuple(label for label, _ in docs.counter_examples),
            counter_vectors=vectors[counters] if counters else None,
        )
        where[watchlist_id] = (own, counters)
    return sets, vectors, where


@dataclass(frozen=True, slots=True)
class SemanticIndex:
    """The model and every watchlist's embedded examples: build once per watchlist set.

    Articles come as features (core/semantic_features.py: made by the parse workers, stored
    with the article, or made from the text by `monitor score`): the same scores whichever.
    """

    model: Embedder
    sets: Mapping[str, ExampleSet]
    params: Mapping[str, SemanticParams]
    # Every distinct example text once, as columns (dimensions × texts): the shipped
    # watchlists name each other's examples as counter-examples, so most are shared.
    documents: Vectors = field(repr=False)
    columns: Mapping[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] = field(repr=False)

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
        sets, vectors, where = _embedded(model, documents)
        columns = {
            w: (np.array(own, dtype=np.intp), np.array(counters, dtype=np.intp))
            for w, (own, counters) in where.items()
        }
        return cls(model, sets, params, np.ascontiguousarray(vectors.T), columns)

    def cosines(self, batch: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """Each article's cosine with each distinct example text (articles × texts)."""
        if not isinstance(self.model, TfidfModel):
            raise TypeError("features are the TF-IDF model's input; embed texts for others")
        _one_blas_thread()  # an index unpickled in a parse worker was built elsewhere
        used, rows = self.model.weigh(batch)
        cosines: npt.NDArray[np.float32] = rows @ self.documents[used]
        return cosines

    def scores(
        self, batch: Sequence[bytes], watchlist_ids: Iterable[str] | None = None
    ) -> list[dict[str, SemanticScore]]:
        """For each article (its features), its semantic score for every watchlist with
        examples (or those of `watchlist_ids` that have them)."""
        if not batch:
            return []
        cosines = self.cosines(batch)
        wanted = sorted(self.sets if watchlist_ids is None else set(watchlist_ids) & set(self.sets))
        per_watchlist = {}
        for w in wanted:
            own, counters = self.columns[w]
            example_set = self.sets[w]
            per_watchlist[w] = scores_from_cosines(
                cosines[:, own],
                cosines[:, counters] if len(counters) else None,
                example_set.labels,
                example_set.counter_labels,
                self.params[w],
            )
        return [
            {w: scores[row] for w, scores in per_watchlist.items()} for row in range(len(batch))
        ]


def folder_sources(
    watchlists: Iterable[Watchlist], directory: Path
) -> list[tuple[Watchlist, Path]]:
    """Each watchlist with the file it is read from (`directory`/ID.toml: the id is the stem)."""
    return [(w, directory / f"{w.id}.toml") for w in watchlists]


def build_index(
    sources: Iterable[tuple[Watchlist, Path]],
) -> tuple[SemanticIndex | None, list[str]]:
    """The index of the watchlists that have examples (each with the path of its file, which
    the example globs are relative to), and what could not be read: a watchlist whose
    examples cannot all be read scores by its terms alone (`watchlists check` reports the
    same problems). None: no watchlist has examples."""
    read: dict[str, tuple[Watchlist, ExampleDocuments]] = {}
    problems: list[str] = []
    for watchlist, path in sources:
        if not watchlist.examples:
            continue
        try:
            read[watchlist.id] = (watchlist, example_documents(watchlist, path))
        except WatchlistError as exc:
            problems += exc.problems
    return (SemanticIndex.build(read) if read else None), problems


class SemanticIndexes:
    """The index for the watchlists in force, built again only when that set changes (a hot
    reload, a new version of one watchlist): the pipeline asks at every feed, cheaply.

    Example files are read when a version comes into force; an edit of an example file alone
    takes effect with the next change of a watchlist file, or a restart.
    """

    def __init__(self, directory: Path, on_problem: Callable[[str], None] | None = None) -> None:
        self._directory = directory
        self._on_problem = on_problem
        self._built: tuple[tuple[Watchlist, ...], SemanticIndex | None] | None = None

    def __call__(self, watchlists: Iterable[Watchlist]) -> SemanticIndex | None:
        current = tuple(sorted(watchlists, key=lambda w: w.id))
        if self._built is None or self._built[0] != current:
            index, problems = build_index(folder_sources(current, self._directory))
            for problem in problems:
                if self._on_problem is not None:
                    self._on_problem(problem)
            self._built = (current, index)
        return self._built[1]
