"""Bounding the work of one feed before feedparser sees it: a document with more entries than
`[polling] max_entries` is cut down to its newest ones by a streaming lxml pass.

A 10 MB feed of 187,000 tiny items is within the size limit but would cost feedparser
minutes and hundreds of megabytes, and the store a transaction as long. The pass keeps at
most `limit` entries in memory (a heap by date), detaches every other one as soon as it has
been read, and writes the channel with the kept entries back out for feedparser. A document
lxml cannot read, or one with no dates to rank by, goes to feedparser whole; the parse then
keeps the newest entries it finds (adapters/feed_parse.py).
"""

from __future__ import annotations

import heapq
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from lxml import etree

_ENTRY_TAGS = frozenset({"item", "entry"})
_DATE_TAGS = ("pubDate", "published", "updated", "date", "issued", "modified")
_ENTRY_START = re.compile(rb"<(?:[\w-]+:)?(?:item|entry)[\s>/]")


@dataclass(frozen=True, slots=True)
class Trimmed:
    body: bytes
    total: int  # entries the document held
    kept: int


def count_entries(body: bytes) -> int:
    """Roughly how many entries the document holds (start tags), without parsing it."""
    return len(_ENTRY_START.findall(body))


def keep_newest(body: bytes, limit: int) -> Trimmed | None:
    """The document with only its `limit` newest entries, or None when it has no more than
    that (or cannot be trimmed safely: then feedparser reads it whole)."""
    if count_entries(body) <= limit:
        return None
    kept: list[tuple[float, int, bytes]] = []  # (timestamp, -position, serialized entry)
    parent: etree._Element | None = None
    total = 0
    try:
        events = etree.iterparse(
            io.BytesIO(body), events=("end",), huge_tree=False, resolve_entities=False
        )
        for _, element in events:
            if etree.QName(element).localname not in _ENTRY_TAGS:
                continue
            total += 1
            parent = element.getparent()
            rank = (_timestamp(element), -total)
            # Serialized only when kept: most entries of a huge feed are read and let go.
            if len(kept) < limit:
                heapq.heappush(kept, (*rank, etree.tostring(element)))
            elif rank > kept[0][:2]:
                heapq.heapreplace(kept, (*rank, etree.tostring(element)))
            # Detach it at once: memory holds the channel and the kept entries, no more.
            element.clear()
            if parent is not None:
                parent.remove(element)
        root = events.root
    except (etree.XMLSyntaxError, ValueError):
        return None
    if parent is None or total <= limit:
        return None
    for _, _, serialized in sorted(kept, key=lambda entry: -entry[1]):  # document order
        parent.append(etree.fromstring(serialized))
    return Trimmed(etree.tostring(root, xml_declaration=True, encoding="utf-8"), total, len(kept))


def _timestamp(element: etree._Element) -> float:
    """The entry's date as a POSIX time; undated entries rank as oldest."""
    for child in element:
        if not isinstance(child.tag, str) or etree.QName(child).localname not in _DATE_TAGS:
            continue
        text = (child.text or "").strip()
        moment = _parse_date(text)
        if moment is not None:
            return moment.timestamp()
    return float("-inf")


def _parse_date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)  # RSS: RFC 822
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))  # Atom: RFC 3339
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
