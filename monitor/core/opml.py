"""OPML subscription lists: reading feeds out of one, writing feeds into one, and deciding the
names of imported feeds. Pure: bytes in, values out.

What readers export, and how it maps (Feedly, Inoreader, FreshRSS, Miniflux, Thunderbird...):

- a feed is an `<outline>` with an `xmlUrl` (any case: some write `xmlurl`); its name comes
  from `title`, else `text`, else the URL's host, folded the way watchlists fold text
  (Erdoğan -> erdogan) but keeping letters ASCII has no spelling for (Новости, الجزيرة);
- its tags are the folders it sits in (outlines without `xmlUrl`) and the OPML 2.0 `category`
  attribute (comma-separated, each a slash-delimited path, every segment a tag);
- only http(s) URLs with a host are feeds (config's rule): `javascript:`, `file:`, `data:`,
  `gopher:` outlines are reported, never imported nor exported.

Exports put each feed in a folder named after its first tag, which every reader understands,
and list all its tags in `category`, so an export reads back with every tag.

The XML goes through defusedxml (no entity expansion, no external entities), and the outline
tree is walked with an explicit stack: nesting deeper than MAX_DEPTH is an error, not a crash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from monitor.core.folding import fold_text

# Defined with the rest of the tree in monitor.errors; importable from here as before.
from monitor.errors import OPMLError

MAX_DEPTH = 100  # readers nest folders one or two deep
MAX_NAME = 80
FEED_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OPMLFeed:
    name: str
    url: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OPMLDocument:
    """The feeds of a document, and the outlines that were not imported, with why."""

    feeds: list[OPMLFeed]
    rejected: list[str] = field(default_factory=list)


def is_feed_url(url: str) -> bool:
    """config.toml's rule for a feed URL: http:// or https://, a host, no spaces."""
    if not FEED_URL.match(url):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def slug(text: str) -> str:
    """A feed name or tag: folded text (lower case, no diacritics, Turkish i's joined) with
    every run of other characters turned into '-'; letters of any script are kept."""
    folded = fold_text(text.strip())
    cleaned = re.sub(r"[^\w.]+", "-", folded).strip("-._")
    return cleaned[:MAX_NAME].rstrip("-._")


def _name_for(label: str, url: str) -> str:
    name = slug(label)
    if not name:
        try:
            name = slug(urlsplit(url).hostname or "")
        except ValueError:
            name = ""
    return name or "feed"


def _attributes(outline: ET.Element) -> dict[str, str]:
    """Attributes by lower-case local name: `xmlurl`, `xmlUrl` and `{ns}xmlUrl` alike."""
    return {key.rpartition("}")[2].lower(): value for key, value in outline.attrib.items()}


def _category_tags(value: str) -> list[str]:
    return [slug(part) for path in value.split(",") for part in path.split("/") if slug(part)]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _parse(data: bytes) -> ET.Element:
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        root: ET.Element = SafeET.fromstring(data, forbid_dtd=False)
    except DefusedXmlException as exc:
        raise OPMLError(f"refused: the file declares entities ({exc})") from None
    except ET.ParseError as exc:
        raise OPMLError(f"not a valid OPML file: {exc}") from None
    return root


def read_opml(data: bytes) -> OPMLDocument:
    """Every feed of the document (outlines with an xmlUrl), with unique names."""
    root = _parse(data)
    body = root.find("body")
    if root.tag.rpartition("}")[2] != "opml" or body is None:
        raise OPMLError("not an OPML file: expected <opml> with a <body>")
    feeds: list[OPMLFeed] = []
    rejected: list[str] = []
    # (outline, the folder tags above it, its depth); reversed so the file's order is kept.
    stack: list[tuple[ET.Element, tuple[str, ...], int]] = [
        (child, (), 1) for child in reversed(body.findall("outline"))
    ]
    while stack:
        outline, folders, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise OPMLError(
                f"outlines nested deeper than {MAX_DEPTH} levels; is this a reader's export?"
            )
        attributes = _attributes(outline)
        url = attributes.get("xmlurl", "").strip()
        label = (attributes.get("title") or attributes.get("text") or "").strip()
        if url:
            if not is_feed_url(url):
                rejected.append(f"{label or url}: {url[:100]!r} is not an http(s) feed URL")
                continue
            tags = _unique([*folders, *_category_tags(attributes.get("category", ""))])
            feeds.append(OPMLFeed(_name_for(label, url), url, tags))
            continue
        inner = (*folders, slug(label)) if slug(label) else folders
        stack.extend((child, inner, depth + 1) for child in reversed(outline.findall("outline")))
    return OPMLDocument(_unique_names(feeds), rejected)


def _unique_names(feeds: Sequence[OPMLFeed], taken: Collection[str] = ()) -> list[OPMLFeed]:
    names = set(taken)
    unique: list[OPMLFeed] = []
    for feed in feeds:
        name = free_name(feed.name, names)
        names.add(name)
        unique.append(OPMLFeed(name, feed.url, feed.tags))
    return unique


def free_name(name: str, taken: Collection[str]) -> str:
    """`name`, else `name-2`, `name-3`... whichever is not taken."""
    candidate, counter = name, 2
    while candidate in taken:
        candidate, counter = f"{name[: MAX_NAME - 6]}-{counter}", counter + 1
    return candidate


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What importing does: feeds to add (renamed where the name was taken by another URL),
    and feeds already there under the same URL."""

    add: list[OPMLFeed]
    renamed: dict[str, str]  # the name in the file -> the name it gets
    present: list[OPMLFeed]


def plan_import(
    found: Sequence[OPMLFeed], *, names: Collection[str], urls: Collection[str]
) -> ImportPlan:
    """A feed is already present when its URL is; a name already in use by another URL gets
    the next free `-2`, `-3` suffix instead of the feed being skipped."""
    add: list[OPMLFeed] = []
    renamed: dict[str, str] = {}
    present: list[OPMLFeed] = []
    taken, known = set(names), set(urls)
    for feed in found:
        if feed.url in known:
            present.append(feed)
            continue
        name = free_name(feed.name, taken)
        if name != feed.name:
            renamed[feed.name] = name
        taken.add(name)
        known.add(feed.url)
        add.append(OPMLFeed(name, feed.url, feed.tags))
    return ImportPlan(add, renamed, present)


def write_opml(feeds: Iterable[OPMLFeed], *, title: str, created: datetime) -> str:
    """OPML 2.0: a folder per first tag (what readers show), every tag in `category`."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        if not is_feed_url(feed.url):
            continue
        attributes = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        parent = body
        if feed.tags:
            attributes["category"] = ",".join(feed.tags)
            first = feed.tags[0]
            if first not in folders:
                folders[first] = ET.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        ET.SubElement(parent, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
