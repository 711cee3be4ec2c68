"""Near-duplicate stories: the signature of an article and the decision "same story or not".

Pure: strings in, numpy arrays and numbers out. No I/O, no clock, no database; the candidate
index built from `band_hashes` lives in adapters/db/story_store.py.

Every choice below was measured on the dev split of tests/data/story_pairs.jsonl (666 pairs
labelled by reading them; bench/stories.py prints the current figures). "Recall" is the share
of labelled copies found while precision stays >= 0.95.

What is compared: the folded title plus the first `LEDE_WORDS` words of the text, as character
5-grams.
- The lede, not the whole text. One outlet carries a wire story whole, another its lede cut
  with "…"; and one outlet's different stories share background paragraphs. With exact
  Jaccard, the whole text found 0.19 of the copies that carry text, title + 40-60 words all.
- Character 5-grams, not words. Most items are a title and a sentence, and headline copies
  differ by an apostrophe, "$1.8B" against "$1.8 billion", "UPDATE 2-". Exact-Jaccard recall:
  character 4-grams 0.97, 5-grams 0.97, single words 0.94, word pairs 0.79, word triples 0.58.
  5-grams have the lower background (mean Jaccard of random pairs 0.007, 4-grams 0.017), so
  fewer unrelated articles share a band.

MinHash + LSH, not SimHash. A 64-bit SimHash over the same shingles reached recall 0.58 at its
best Hamming threshold (<= 17), MinHash 0.96: SimHash flips many bits when a few shingles of
a short item change, and "distance <= 17" has no banded index as selective as MinHash's. The
two signatures cost about the same to compute.

Signature: `NUM_PERM` = 256 min-hashes, each an affine permutation a*h+b mod 2^32 (a odd: the
"affine32" scheme of datasketch 2.0) of a 64-bit rolling hash of each 5-gram mixed with the
MurmurHash3 finalizer. With 128 the estimate is noisier near the threshold (dev precision
0.944 and recall 0.922 against 0.957 and 0.942 at the same threshold). The permutations come
from a fixed seed, are built once at import and reused; numpy does in one matrix operation
what datasketch's `update_batch` does (datasketch rebuilt per article costs 3.4-3.7x ours,
with reused permutations 1.7-2.2x).

Stored and compared: the low 16 bits of each min-hash ("b-bit minwise hashing", Li and König
2010), 512 bytes an article instead of 1,024. Two unrelated values agree in their low 16 bits
by chance once in 65,536, so a pair's estimate rises by at most 256/65,536 of one agreeing
value on average: on tests/data/story_pairs.jsonl every decision is the same as with all 32
bits (8 bits gained a false positive, so not 8). Band hashes are made from the full values,
in memory, before the signature is stored.

LSH: the first 64 values in 32 bands of 2 rows. A copy at the threshold (J = 0.34) shares a
band with probability 1 - (1 - 0.34**2)**32 = 0.98; on dev no copy above the threshold was
missed (42 bands of 3 rows missed 3). Each band hash carries its band number and is a
non-negative 63-bit integer, so it fits a signed BigInteger and equal rows in two bands
never collide.

Decision: estimated Jaccard >= `THRESHOLD` (0.34, the best recall at precision >= 0.95 on
dev). No guard is applied, because none earned its place on dev (pairs above the threshold):
- numbers in both titles, none shared: 2 false positives removed, 2 copies lost (outlet
  suffixes such as "KTVN Channel 2" against "13abc.com");
- each title with a number the other lacks: 3 removed, 4 lost ("-- 3rd Update" / "4th");
- preview words in one title only (to, will, could...): 4 removed, 37 lost ("Men's
  Wearhouse to buy" / "buys": one deal);
- negation words in one title only: nothing to remove, 1 lost;
- published more than 12 or 18 h apart: 6 removed, 9 lost; more than 24 h: 3 removed, 6
  lost; more than 36 h: nothing either way. The window (store side) is the only time rule.
(Since issue 9, adapters/db/story_store.py applies one guard after this decision, from
core.developments.kept_apart: a headline that flips the story's event to its opposite,
measured there to separate developments and no labelled copy.)
The hard different stories of the real feeds (talks previewed / concluded, a poisoning claim /
its denial, tariffs announced / dropped four days later, drills begun / the strait closed)
stay apart on similarity alone: one of 91 crosses the threshold, a TIME follow-up whose lede
restates the previous day's story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitor.core.folding import fold_text, spaced_form

NUM_PERM = 256
BANDS = 32
ROWS = 2  # BANDS * ROWS <= NUM_PERM; the remaining values only verify
SHINGLE_CHARS = 5
LEDE_WORDS = 50
THRESHOLD = 0.34
SEED = 0x5EED_5709

Signature = npt.NDArray[np.uint32]
# What is stored and compared: the low `STORED_BITS` of each value (see the docstring).
Stored = npt.NDArray[np.uint16]
STORED_BITS = 16

_MASK32 = np.uint64(0xFFFFFFFF)
_ROLL = np.uint64(0x100000001B3)  # FNV-64 prime: spreads each added character
_SIGNATURE_BYTES = NUM_PERM * STORED_BITS // 8


def _permutations(seed: int, num_perm: int) -> tuple[Signature, Signature]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a.astype(np.uint32)[:, None], b.astype(np.uint32)[:, None]


_PERM_A, _PERM_B = _permutations(SEED, NUM_PERM)
# The permutations repeated for _TILE_ROWS shingles (256 KB each), so that permuting that many
# is one flat operation; a signature input rarely has more (title and 50 words: ~200).
_TILE_ROWS = 256
_PERM_A_TILE = np.tile(_PERM_A.ravel(), _TILE_ROWS)
_PERM_B_TILE = np.tile(_PERM_B.ravel(), _TILE_ROWS)


def signature_input(title: str, text: str) -> str:
    """The folded words that are compared: the title and the lede of the text."""
    # Folding is per character: cut the text first. Four raw tokens per kept word leaves room
    # for tokens that fold to no word at all (dashes, bullets) or split in two ("U.S.").
    lede = " ".join(text.split(maxsplit=LEDE_WORDS * 4)[: LEDE_WORDS * 4])
    # The words are the runs of letters and digits ([^\W_]+): spaced_form makes every other
    # character a space in C, and str.split then finds them without a regex match object
    # per word (a third less; tests/core/test_dedup.py compares it with the regex).
    title_words = spaced_form(fold_text(title)).split()
    text_words = spaced_form(fold_text(lede)).split(maxsplit=LEDE_WORDS)[:LEDE_WORDS]
    return " ".join(title_words + text_words)


def _fmix64(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # MurmurHash3's finalizer: the rolling hash is linear, the permutations need mixed bits.
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(words: str) -> npt.NDArray[np.uint32]:
    """32-bit hashes of the distinct character 5-grams of `words` (one for shorter input)."""
    codes = np.frombuffer(words.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if codes.size == 0:
        return np.empty(0, dtype=np.uint32)
    width = min(SHINGLE_CHARS, codes.size)
    count = codes.size - width + 1
    h = codes[:count].copy()
    for offset in range(1, width):
        h = h * _ROLL + codes[offset : offset + count]
    return np.unique((_fmix64(h) & _MASK32).astype(np.uint32))


def minhash(title: str, text: str) -> Signature:
    """The MinHash signature of an article; all-max for an article with no words."""
    return _signature_of(shingle_hashes(signature_input(title, text)))


def minhashes(articles: Sequence[tuple[str, str]]) -> Signature:
    """`minhash(title, text)` of every article, as the rows of one matrix: for a whole feed.

    The same values, for less work: one rolling-hash pass over every article's input at once
    instead of a dozen small numpy operations per article, and no `np.unique` (a minimum does
    not care how often a value occurs). The permuted values stay one matrix per article: one
    for the whole feed (with np.minimum.reduceat) measured ten times slower.
    tests/core/test_dedup.py compares it with `minhash`.
    """
    signatures = np.empty((len(articles), NUM_PERM), dtype=np.uint32)
    inputs = [signature_input(title, text) for title, text in articles]
    joined = "".join(inputs)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    # Every window of SHINGLE_CHARS characters of the joined inputs; those that cross from
    # one article's input into the next are never looked at.
    count = max(codes.size - SHINGLE_CHARS + 1, 0)
    h = codes[:count].copy()
    for offset in range(1, SHINGLE_CHARS):
        h *= _ROLL
        h += codes[offset : offset + count]
    hashes = (_fmix64(h) & _MASK32).astype(np.uint32)
    start = 0
    for row, words in enumerate(inputs):
        if len(words) >= SHINGLE_CHARS:
            signatures[row] = _min_permuted(hashes[start : start + len(words) - SHINGLE_CHARS + 1])
        else:  # shorter input: one shingle of what there is, or none
            signatures[row] = _signature_of(shingle_hashes(words))
        start += len(words)
    return signatures


def _signature_of(hashes: npt.NDArray[np.uint32]) -> Signature:
    if hashes.size == 0:
        return np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    return _min_permuted(hashes)


def _min_permuted(hashes: npt.NDArray[np.uint32]) -> Signature:
    """The minimum of a*h+b mod 2^32 over the (one or more) hashes h, for each permutation."""
    signature = _min_permuted_tile(hashes[:_TILE_ROWS])
    for start in range(_TILE_ROWS, hashes.size, _TILE_ROWS):
        np.minimum(signature, _min_permuted_tile(hashes[start : start + _TILE_ROWS]), out=signature)
    return signature


def _min_permuted_tile(hashes: npt.NDArray[np.uint32]) -> Signature:
    # uint32 arithmetic wraps: that wrap is the "mod 2^32" of the affine permutation. One row
    # per shingle and the minimum down the columns: elementwise minima of whole rows, a
    # quarter faster than the minimum along each permutation's row. The rows are made by
    # flat operations on repeated hashes and tiled permutations: broadcasting a column of
    # hashes across the rows costs numpy a short inner loop per row, a third more in all.
    values = np.repeat(hashes, NUM_PERM)
    values *= _PERM_A_TILE[: values.size]
    values += _PERM_B_TILE[: values.size]
    signature: Signature = values.reshape(hashes.size, NUM_PERM).min(axis=0)
    return signature


def stored_form(signature: Signature | Stored) -> Stored:
    """The values as stored and compared: the low 16 bits of each (a no-op on stored ones)."""
    return signature.astype(np.uint16, copy=False)  # a narrowing cast keeps the low bits


def estimated_jaccard(a: Signature | Stored, b: Signature | Stored) -> float:
    return float(np.count_nonzero(stored_form(a) == stored_form(b))) / NUM_PERM


def band_hashes(signature: Signature) -> list[int]:
    """One hash per LSH band, each in [0, 2**63) so it fits a signed 64-bit BigInteger."""
    rows = signature[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    h = np.arange(1, BANDS + 1, dtype=np.uint64)  # the band number is part of the hash
    for column in range(ROWS):
        h = _fmix64(h * _ROLL + rows[:, column])
    return [int(value) for value in h >> np.uint64(1)]  # Python ints, not numpy scalars


def band_hashes_of(signatures: Signature) -> list[list[int]]:
    """`band_hashes` of each row of a signature matrix (from `minhashes`), in one pass: the
    same arithmetic on a matrix of bands, a dozen numpy calls per feed instead of per entry."""
    rows = signatures[:, : BANDS * ROWS].astype(np.uint64).reshape(-1, BANDS, ROWS)
    h = np.broadcast_to(np.arange(1, BANDS + 1, dtype=np.uint64), rows.shape[:2])
    for column in range(ROWS):
        h = _fmix64(h * _ROLL + rows[:, :, column])
    bands: list[list[int]] = (h >> np.uint64(1)).tolist()  # Python ints, not numpy scalars
    return bands


def signature_to_bytes(signature: Signature | Stored) -> bytes:
    """The stored form as little-endian uint16s, so the bytes read the same on every machine."""
    return stored_form(signature).astype("<u2").tobytes()


def signature_from_bytes(data: bytes) -> Stored:
    if len(data) != _SIGNATURE_BYTES:
        raise ValueError(
            f"a story signature is {_SIGNATURE_BYTES} bytes, got {len(data)}: "
            "it was written with another NUM_PERM or value width; recompute it from the article"
        )
    return np.frombuffer(data, dtype="<u2").astype(np.uint16)


def signatures_from_bytes(blobs: Sequence[bytes]) -> Stored:
    """Stored signatures as the rows of one matrix, for `similarities`."""
    for data in blobs:
        if len(data) != _SIGNATURE_BYTES:
            signature_from_bytes(data)  # raises, saying why
    joined = np.frombuffer(b"".join(blobs), dtype="<u2").astype(np.uint16)
    return joined.reshape(len(blobs), NUM_PERM)


def signature_matrix(signatures: Sequence[Signature | Stored]) -> Stored:
    """Signatures as the rows of one matrix, for `similarities` and `best_match`."""
    return np.stack([stored_form(s) for s in signatures])


def similarities(signature: Signature | Stored, others: Stored) -> npt.NDArray[np.float64]:
    """`estimated_jaccard(signature, row)` for every row of `others`, in one operation."""
    mine = stored_form(signature)
    agreeing: npt.NDArray[np.float64] = np.count_nonzero(others == mine, axis=1) / NUM_PERM
    return agreeing


def best_match(signature: Signature | Stored, others: Stored) -> int | None:
    """The row of `others` most similar to `signature` if it is the same story (the first
    of equals), else None: `compare` over every row, without a Python loop."""
    if len(others) == 0:
        return None
    scores = similarities(signature, others)
    best = int(np.argmax(scores))
    return best if scores[best] >= THRESHOLD else None


def is_candidate(a: Signature, b: Signature) -> bool:
    """Whether the LSH index would offer `b` when looking up `a`: some band agrees."""
    return not set(band_hashes(a)).isdisjoint(band_hashes(b))


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    similarity: float  # estimated Jaccard of the two shingle sets


def compare(a: Signature | Stored, b: Signature | Stored) -> Verdict:
    """Whether `a` and `b` carry the same story, with the similarity that decided it.

    Similarity alone decides: the guards tried on the dev split cost as many labelled copies
    as they saved false positives or more (see the module docstring), so none is applied.
    """
    similarity = estimated_jaccard(a, b)
    return Verdict(similarity >= THRESHOLD, similarity)


def same_story(a: Signature | Stored, b: Signature | Stored) -> bool:
    return compare(a, b).same
