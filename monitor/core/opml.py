"""OPML 2.0 subscription lists: reading feeds out of one, writing feeds into one. Pure.

Nested outlines (folders) become tags, which is how feed readers export categories.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

# Defined with the rest of the tree in monitor.errors; importable from here as before.
from monitor.errors import OPMLError


@dataclass(frozen=True, slots=True)
class OPMLFeed:
    name: str
    url: str
    tags: tuple[str, ...] = ()


def slug(text: str) -> str:
    """A feed name that config and the CLI accept: letters, digits, '-', '_' and '.'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.]+", "-", text.strip()).strip("-._").lower()
    return cleaned[:80] or "feed"


def _walk(element: ET.Element, tags: tuple[str, ...]) -> Iterator[OPMLFeed]:
    for outline in element.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        label = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            yield OPMLFeed(slug(label or url), url, tags)
        else:
            yield from _walk(outline, (*tags, slug(label)) if label else tags)


def read_opml(data: bytes) -> list[OPMLFeed]:
    """Every feed (outline with xmlUrl) in the document; names made unique."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OPMLError(f"not a valid OPML file: {exc}") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise OPMLError("not an OPML file: expected <opml> with a <body>")
    feeds: list[OPMLFeed] = []
    names: set[str] = set()
    for feed in _walk(body, ()):
        name, counter = feed.name, 2
        while name in names:
            name, counter = f"{feed.name}-{counter}", counter + 1
        names.add(name)
        feeds.append(OPMLFeed(name, feed.url, feed.tags))
    return feeds


def write_opml(feeds: Iterable[OPMLFeed], *, title: str, created: datetime) -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.tags:
            attributes["category"] = ",".join(feed.tags)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
