"""The match form of a text: what the term automaton (core.matcher) reads and
articles.match_text stores.

Apart from the matcher so that a parse worker, which makes every entry's match form, imports
the folding alone and not the watchlist model the matcher compiles: that import was nearly a
quarter of a parse worker's start (305 -> 235 ms of CPU), paid again at each pool recycle.
"""

from __future__ import annotations

from monitor.core.folding import fold_text, spaced_form


def padded(spaced: str) -> str:
    """Single spaces, and one on each side: a pattern padded alike matches whole words."""
    return f" {' '.join(spaced.split())} "


def match_form(text: str) -> str:
    """`text` folded and in match form, padded with a space on each side: what the automaton
    reads. Only letters, digits and single spaces."""
    # fold_text, not fold(): the same text (tests/core/test_folding.py checks it), without
    # the offsets map back to the original, which the match form does not keep.
    return padded(spaced_form(fold_text(text))) if text else " "


def article_match_form(title: str, text: str) -> str:
    """An article's title and text in match form, joined by a newline (which no pattern
    holds, so no hit spans the two): what articles.match_text stores."""
    return f"{match_form(title)}\n{match_form(text)}"
