"""An article's words as the semantic model reads them, hashed: made once per new article.

Holds the tokenising (folded words of two characters or more) and the hashing; must not know
the model's vocabulary, weights or examples (adapters/embed.py does). Pure: the same text
gives the same bytes in every process, so the parse workers make them and the database
stores them (articles.semantic_features) for `backtest`, `backfill` and `explain`.

Why hashed words in order, and not the vector itself: the TF-IDF vocabulary is fitted on the
watchlists' examples, which a parse worker does not have and which change on every reload,
so a vector made in the worker would go stale with the next edit. What does not change is
the article's folded words; folding them is most of the cost of embedding (regular
expression, Unicode folding), and what is left for the writer is a vectorised lookup
(adapters/embed.py). Order is kept because the model counts word pairs too. A word is its
32-bit BLAKE2b hash (4 bytes, less than the text itself): two words of one model's
vocabulary never share one (tests/core/test_semantic.py checks the shipped one), and an
article word that shares one with a vocabulary word, about one distinct word in a billion
for a vocabulary of a few thousand, adds one small weight where it should add none.
"""

from __future__ import annotations

import hashlib
import re

from monitor.core.folding import fold_text

# The layout of the bytes: this prefix, then one little-endian uint32 per word. A new prefix
# (other words, another hash) makes stored features unreadable, and they are then made again
# from the stored text.
FEATURES_VERSION = b"sw1\x00"
_TOKEN_CACHE = 50_000  # distinct tokens remembered per process: a few MB at most

# Runs of letters and digits of the lower-cased text; each is then folded (Erdoğan = erdogan,
# İdlib = idlib) and kept when it still has two characters or more. "İ" goes first:
# "İ".lower() is "i" and a combining dot, which would split the word in two. (str.replace,
# not str.translate: translating every character of 5 KB cost more than the rest together.)
_RAW_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    raw = _RAW_WORD.findall(text.replace("İ", "i").lower())
    return [f for w in raw if len(f := fold_text(w)) >= 2]


def word_hash(word: str) -> int:
    """The 32-bit hash a folded word is stored as."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little")


def article_text(title: str, text: str) -> str:
    """What the model reads of an article: its title and its text."""
    return f"{title}\n{text}"


# A whitespace-separated token → the hashes of its words, as stored (little-endian uint32s).
# Splitting on whitespace and looking each token up once is several times faster than
# running the word pattern over the whole text, and gives the same words in the same order
# (the pattern never spans whitespace); keeping each token's bytes lets one bytes.join
# make the features, a fifth cheaper than an array filled from Python ints.
# A memo of a pure function: it changes no result, and is cleared when it grows too big.
_TOKENS: dict[str, bytes] = {}


def text_features(text: str) -> bytes:
    """The hashed words of `text`, in order, as stored."""
    global _TOKENS
    cache = _TOKENS
    if len(cache) > _TOKEN_CACHE:
        # A new dict, not clear(): another thread (a backfill beside a parse thread) may be
        # reading the old one between filling it and looking its tokens up.
        cache = _TOKENS = {}
    tokens = text.split()
    for token in set(tokens).difference(cache):
        # Little-endian whatever machine makes them, as they are stored.
        cache[token] = b"".join(word_hash(w).to_bytes(4, "little") for w in words(token))
    return FEATURES_VERSION + b"".join(map(cache.__getitem__, tokens))


def article_features(title: str, text: str) -> bytes:
    """What a parse worker computes once per entry (NormalizedEntry.semantic_features)."""
    return text_features(article_text(title, text))


def is_current(features: bytes) -> bool:
    """Are these features of this version (else they must be made again from the text)?"""
    return features.startswith(FEATURES_VERSION) and len(features) % 4 == 0


def features_or_text(features: bytes | None, title: str, text: str) -> bytes:
    """Stored features when they are of this version, else made now from the text."""
    if features is not None and is_current(features):
        return features
    return article_features(title, text)
