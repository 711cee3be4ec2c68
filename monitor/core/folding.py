"""Text folding for matching: the one place that decides when two spellings are the same.

Used by the watchlist compiler, the article text and the near-duplicate signature alike.
Pure: strings in, strings out; no I/O. Offsets into the folded text map back to the original
so that snippets and highlights point at what the author wrote.

Folding is Unicode NFKC, case folding with the Turkish I/ı/İ/i all folded to "i", diacritics
removed (Erdoğan = Erdogan, Çavuşoğlu = Cavusoglu), typographic dashes and apostrophes unified
to "-" and "'", invisible characters (soft hyphen, zero-width space, BOM) removed, and a word
split across lines by a hyphen ("Tur-\\nkey") rejoined. It runs on every article, so the work
stays in `str.translate` and a few regular expressions; Python loops only run over the few
characters whose folded form is not exactly one character long.

`spelling_variants` and `case_key` belong here too: they decide that S-400, S400 and S 400
are one spelling, and what "the same case" means for a case-sensitive term.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

_DASHES = "‐‑‒–—―−﹘﹣－⁃"
_APOSTROPHES = "’‘‛`´ʼʹ′＇"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"

# Folded forms decided by hand, before the generic rule: Turkish dotted and dotless i fold
# together ("İ".lower() would be "i" + U+0307, two code points), letters with a stroke have
# no Unicode decomposition, and apostrophes must be caught before NFKC turns "´" into " ́".
_SPECIAL: dict[str, str] = {
    "İ": "i",
    "ı": "i",
    "I": "i",
    "ß": "ss",
    "ẞ": "ss",
    "Ø": "o",
    "ø": "o",
    "Ł": "l",
    "ł": "l",
    "Đ": "d",
    "đ": "d",
    "Ð": "d",
    "ð": "d",
    "Æ": "ae",
    "æ": "ae",
    "Œ": "oe",
    "œ": "oe",
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_APOSTROPHES, "'"),
    **dict.fromkeys(_INVISIBLE, ""),
}


def _fold_char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch.isascii():
        return ch.lower()
    folded = unicodedata.normalize("NFKC", ch).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # NFKC can produce a dash or apostrophe of its own (U+2011 → U+2010); fold those too.
    return "".join(_SPECIAL.get(c, c) for c in stripped)


class _FoldTable(dict[int, str]):
    """A `str.translate` table that computes and remembers each character's folded form."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_TABLE = _FoldTable()
for _code in range(128):
    _TABLE[_code] = _fold_char(chr(_code))

# Characters seen so far whose folded form is not exactly one character: they are the only
# ones that shift offsets. Kept per character so each is decided once per process.
_IRREGULAR: dict[str, bool] = {}

# A word split at a line end: letter, hyphen (or soft hyphen), line break(s), a lower-case
# letter. A capital after the break ("US-\nTurkey") means a real hyphen that happens to end
# the line, so it stays.
_HYPHENATION = re.compile(r"(?<=[^\W\d_])[-\u00ad\u2010\u2011][ \t]*(?:\r?\n[ \t]*)+(?=[^\W\d_])")
_LINE_END_HYPHEN = re.compile(r"[-\u00ad\u2010\u2011][ \t]*\r?\n")
# A quick test before the scan: no hyphen that could end a line, no hyphenation.


@dataclass(frozen=True, slots=True)
class Folded:
    text: str
    # offsets[i] is the index in the original text of the character that produced text[i];
    # offsets[len(text)] is len(original). A `range` when folding changed no offsets.
    offsets: Sequence[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that produced folded text[start:end]."""
        if end <= start:
            return self.offsets[start], self.offsets[start]
        # end-1 + 1 rather than offsets[end]: characters removed after the span (a rejoined
        # line-end hyphen, a soft hyphen) are not part of what matched.
        return self.offsets[start], self.offsets[end - 1] + 1


def _hyphenation_cuts(text: str) -> list[tuple[int, int]]:
    # _HYPHENATION tries its look-behind at every character; a hyphen before a line end,
    # which every match contains, is searched for first, by its first character.
    if "\n" not in text or not _LINE_END_HYPHEN.search(text):
        return []
    return [match.span() for match in _HYPHENATION.finditer(text) if text[match.end()].islower()]


_ASCII_BYTES = bytes(range(128))


def _non_ascii_chars(text: str) -> set[str]:
    # Deleting the ASCII bytes of the UTF-8 form is a C loop; a regular expression over the
    # whole text would look at every character from Python's regex engine.
    return set(
        text.encode("utf-8", "surrogatepass")
        .translate(None, _ASCII_BYTES)
        .decode("utf-8", "surrogatepass")
    )


def _irregular_chars(text: str) -> str:
    """The distinct characters of `text` whose folded form is not one character."""
    found = []
    for ch in _non_ascii_chars(text):
        irregular = _IRREGULAR.get(ch)
        if irregular is None:
            irregular = _IRREGULAR[ch] = len(_TABLE[ord(ch)]) != 1
        if irregular:
            found.append(ch)
    return "".join(found)


def _fold_chars(text: str) -> str:
    """Character folding without the hyphenation rule; equal to text.translate(_TABLE).

    str.lower() does ASCII and most other letters in C; then each distinct non-ASCII
    character left (a handful per article) is replaced by its folded form, again in C.
    str.translate itself would look every character up from Python objects: five times
    slower. "İ" is the one letter whose lower() is two characters, so it goes first.
    """
    if "İ" in text:
        text = text.replace("İ", "I")
    folded = text.lower()
    if not folded.isascii():
        for ch in _non_ascii_chars(folded):
            replacement = _TABLE[ord(ch)]
            if replacement != ch:
                folded = folded.replace(ch, replacement)
    if "`" in folded:
        folded = folded.replace("`", "'")
    return folded


def fold(text: str) -> Folded:
    """Fold `text` and keep the map from folded offsets back to original offsets."""
    cuts = _hyphenation_cuts(text)
    irregular = "" if text.isascii() else _irregular_chars(text)
    if not cuts and not irregular:
        return Folded(_fold_chars(text), range(len(text) + 1))
    pieces: list[str] = []
    offsets: list[int] = []
    special = re.compile("[" + re.escape(irregular) + "]") if irregular else None
    position = 0
    for cut_start, cut_end in [*cuts, (len(text), len(text))]:
        _fold_segment(text, position, cut_start, special, pieces, offsets)
        position = cut_end
    offsets.append(len(text))
    return Folded("".join(pieces), offsets)


def _fold_segment(
    text: str,
    start: int,
    end: int,
    special: re.Pattern[str] | None,
    pieces: list[str],
    offsets: list[int],
) -> None:
    position = start
    if special is not None:
        for match in special.finditer(text, start, end):
            index = match.start()
            pieces.append(_fold_chars(text[position:index]))
            offsets.extend(range(position, index))
            piece = _TABLE[ord(text[index])]
            pieces.append(piece)
            offsets.extend([index] * len(piece))
            position = index + 1
    pieces.append(_fold_chars(text[position:end]))
    offsets.extend(range(position, end))


def rejoin_hyphenation(text: str) -> str:
    """`text` with words split across lines by a hyphen rejoined, nothing else changed."""
    cuts = _hyphenation_cuts(text)
    if not cuts:
        return text
    kept = []
    position = 0
    for start, end in cuts:
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return "".join(kept)


def fold_text(text: str) -> str:
    """Only the folded text, for callers that need no offsets (signatures, hashes)."""
    return _fold_chars(rejoin_hyphenation(text))


def case_key(text: str) -> str:
    """Letters and digits of `text` with case kept but diacritics removed: "ABD'nin" → "ABDnin".

    A case-sensitive term matches where the author's spelling has the same case key as one of
    the term's spellings; "İ" counts as "I" and "ı" as "i".
    """
    out = []
    for ch in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)):
        if ch == "ı":
            out.append("i")
        elif ch.isalnum():
            out.append(ch)
    return "".join(out)


# Pieces of a spelling: runs of letters or of digits. Whatever separates two pieces decides
# how the text may join them (see spelling_variants).
_PIECE = re.compile(r"([^\W\d_]+|\d+)")
MAX_TIGHT_JOINS = 6


def spelling_pieces(spelling: str) -> tuple[list[str], list[bool]]:
    """Split a folded spelling into pieces and, between each two, whether the join is tight.

    A join is tight (the text may write the pieces with or without a separator) when it is a
    change between letters and digits ("s400", "s 400") or a hyphen ("mercedes-benz"); any
    other separator (a space, a dot, an apostrophe) is loose: the text must separate the
    pieces by something that is neither a letter nor a digit.
    """
    # split() with a group: [separator, piece, separator, piece, ..., separator]
    parts = _PIECE.split(spelling)
    pieces = parts[1::2]
    tight = [
        pieces[i][-1].isdigit() != pieces[i + 1][0].isdigit()
        or (between != "" and between.strip("-") == "")
        for i, between in enumerate(parts[2:-1:2])
    ]
    return pieces, tight


def spelling_variants(spelling: str) -> tuple[str, ...]:
    """Every form a folded spelling may take in match text (see `match_form`).

    "s-400" → ("s 400", "s400"); "recep tayyip erdogan" → ("recep tayyip erdogan",). Raises
    ValueError for a spelling with more than MAX_TIGHT_JOINS tight joins (2^n forms).
    """
    if spelling.isalpha() or spelling.isdecimal():
        return (spelling,)  # one piece: the common case, without the regular expression
    if spelling.replace(" ", "").isalpha() and " ".join(spelling.split()) == spelling:
        return (spelling,)  # words of letters one space apart ("recep tayyip erdogan")
    pieces, tight = spelling_pieces(spelling)
    if not pieces:
        return ()
    tight_count = sum(tight)
    if tight_count > MAX_TIGHT_JOINS:
        raise ValueError(
            f"has {tight_count} hyphens or letter-digit changes; at most "
            f"{MAX_TIGHT_JOINS} are supported"
        )
    variants = []
    for choice in product((" ", ""), repeat=tight_count):
        joins = iter(choice)
        out = [pieces[0]]
        for piece, is_tight in zip(pieces[1:], tight, strict=True):
            out.append(next(joins) if is_tight else " ")
            out.append(piece)
        variants.append("".join(out))
    return tuple(variants)


# Match text: folded text with every run of characters that are neither letters nor digits
# written as one space. Matching compares spellings and text in this form.
_SEPARATORS = re.compile(r"[\W_]+")
_ASCII_SEPARATORS = bytes(c if chr(c).isalnum() or c >= 0x80 else 0x20 for c in range(256))
_OTHER_SEPARATORS = re.compile(r"[^\w\x00-\x7f]")


def match_form(folded: str) -> str:
    """Folded text as the matcher reads it: words separated by single spaces."""
    return _SEPARATORS.sub(" ", folded)


def spaced_form(folded: str) -> str:
    """Folded text with every character that is not a letter or digit made a space.

    Same length as `folded`, so positions carry over; " ".join(spaced.split()) is the match
    form without its outer spaces. Bytes.translate keeps the common (ASCII) case in C.
    """
    spaced = (
        folded.encode("utf-8", "surrogatepass")
        .translate(_ASCII_SEPARATORS)
        .decode("utf-8", "surrogatepass")
    )
    if not spaced.isascii():
        spaced = _OTHER_SEPARATORS.sub(" ", spaced)
    return spaced
