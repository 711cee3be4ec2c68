"""Snippets for readers: the matched terms of a stored explanation, the passage to show and
the character ranges of every hit in it. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.core.digest.model import Snippet
from monitor.core.folding import fold
from monitor.core.scoring import MARK_CLOSE, MARK_OPEN

_MARKED = re.compile(re.escape(MARK_OPEN) + r"(.+?)" + re.escape(MARK_CLOSE), flags=re.DOTALL)


def _term_entries(explanation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = explanation.get("terms", [])
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _hits(entry: Mapping[str, Any]) -> int:
    counts = (entry.get("title_count", 0), entry.get("body_count", 0), entry.get("count", 0))
    return sum(c for c in counts if isinstance(c, int))


def _contribution(entry: Mapping[str, Any]) -> float:
    value = entry.get("contribution", 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def matched_terms(explanation: Mapping[str, Any]) -> tuple[str, ...]:
    """The terms that matched, strongest contribution first."""
    found = [
        e
        for e in _term_entries(explanation)
        if isinstance(e.get("term"), str) and (_hits(e) > 0 or _contribution(e) > 0)
    ]
    found.sort(key=lambda e: (-_contribution(e), str(e["term"]).casefold()))
    unique: dict[str, None] = dict.fromkeys(str(e["term"]) for e in found)
    return tuple(unique)


def best_snippet(
    explanation: Mapping[str, Any], terms: Sequence[str], *, title: str | None = None
) -> Snippet | None:
    """The passage around the strongest term's first hit in the body (its hits in the title
    only repeat the title, which the reader sees anyway), with the hits of every matched term
    marked. Falls back to a title snippet when the body has none."""
    by_term = {str(e.get("term")): e for e in _term_entries(explanation)}
    fallback: Snippet | None = None
    for term in terms:
        snippets = by_term[term].get("snippets") or []
        for raw in snippets if isinstance(snippets, list) else []:
            snippet = _snippet_from(raw, terms)
            if snippet is None:
                continue
            if title is not None and _same_text(snippet.text, title):
                fallback = fallback or snippet
                continue
            return snippet
    return fallback


def _same_text(snippet: str, title: str) -> bool:
    """Is the snippet (perhaps cut, with "…") just the title, or a piece of it?"""
    a = " ".join(fold(snippet.strip("… ")).text.split())
    b = " ".join(fold(title).text.split())
    return bool(a) and a in b


def _snippet_from(raw: Any, terms: Sequence[str]) -> Snippet | None:
    """A snippet from the explanation: scoring's "…**hit**…" strings, or text with offsets."""
    if isinstance(raw, str):
        text, spans = unmark(raw)
        # Scoring marks only its own term's hits; the reader is promised every matched term.
        spans = _merge((*spans, *find_hits(text, terms)))
    elif isinstance(raw, Mapping) and isinstance(raw.get("text"), str):
        text = raw["text"]
        spans = _valid_spans(raw.get("highlights"), len(text))
    else:
        return None
    return Snippet(text=text, highlights=spans) if text.strip() else None


def unmark(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Scoring's marked snippet ("the **S-400** deal") as plain text and hit ranges."""
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    position = 0
    for found in _MARKED.finditer(marked):
        before = marked[position : found.start()]
        text.append(before)
        length += len(before)
        hit = found.group(1)
        spans.append((length, length + len(hit)))
        text.append(hit)
        length += len(hit)
        position = found.end()
    text.append(marked[position:])
    return "".join(text), _merge(spans)


def _valid_spans(given: Any, length: int) -> tuple[tuple[int, int], ...]:
    spans = []
    for span in given if isinstance(given, list | tuple) else []:
        if (
            isinstance(span, list | tuple)
            and len(span) == 2
            and all(isinstance(v, int) for v in span)
            and 0 <= span[0] < span[1] <= length
        ):
            spans.append((span[0], span[1]))
    return _merge(spans)


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def find_hits(text: str, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Where `terms` occur in `text` as whole words, compared folded (İdlib = idlib).

    A fallback for snippets that come without offsets; spans are in the original text.
    """
    folded = fold(text)
    spans = []
    for term in terms:
        needle = fold(term).text.strip()
        if not needle:
            continue
        # Whole words, but a plain suffix or an apostrophe suffix still counts (S-400s, İdlib'de).
        pattern = r"(?<!\w)" + re.escape(needle) + r"(?:'\w+|e?s)?(?!\w)"
        for found in re.finditer(pattern, folded.text):
            spans.append(folded.original_span(found.start(), found.end()))
    return _merge(spans)
