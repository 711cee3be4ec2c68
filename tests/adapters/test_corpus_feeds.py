"""Every feed file of the shared real-world corpus through parse_feed, checked where fair.

The corpus (../shared/corpus, or $MONITOR_CORPUS) holds ~4,000 feed documents from
feedparser's, the W3C validator's, rss-parser's, fastfeedparser's and Miniflux's test
suites, plus 13 real news-outlet feeds. Each file is parsed once per session (`outcome`)
and the checks below share the results: parsing is what costs (about 10 s for all).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import pytest

from monitor.adapters.feed_parse import parse_feed
from monitor.core.dates import CLOCK_SKEW_ALLOWANCE
from monitor.core.html_text import html_to_text
from monitor.core.model import ParsedFeed
from monitor.core.urls import is_web_url
from monitor.errors import ParseError

CORPUS = Path(
    os.environ.get("MONITOR_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus"
)
if not (CORPUS / "manifest.tsv").is_file():
    pytest.skip(
        f"feed corpus not found at {CORPUS}: put it at ../shared/corpus or set MONITOR_CORPUS",
        allow_module_level=True,
    )

# After every snapshot in the corpus (the news feeds were saved on 2026-02-17), so no
# genuine date is clamped.
FETCHED = datetime(2026, 3, 1, tzinfo=UTC)

# Files that are not feeds we can read, each for a reason a user would accept.
UNREADABLE = {
    "feeds/feedparser/tests/json/example.json": "JSON Feed: feedparser 6 does not read it",
    "feeds/fastfeedparser/tests/integration/json_feed_sample.json": "JSON Feed",
    "feeds/fastfeedparser/benchmark_data/d4b7ab74da763119": "JSON Feed",
    "feeds/feedparser/tests/illformed/rss_empty_document.xml": "a comment and nothing else",
    "feeds/rss-parser/test/input/unrecognized.rss": "an HTML 'Document Moved' page",
    "feeds/miniflux/internal/reader/xml/testdata/iso88591.xml": "a <note> document, not a feed",
    "feeds/miniflux/internal/reader/xml/testdata/iso88591_utf8_mismatch.xml": "a <note> document",
}
# Whole folders of well-formed documents that are not RSS/Atom/RDF as feedparser knows them.
UNREADABLE_PREFIXES = (
    "feeds/feedparser/tests/wellformed/cdf/channel_",  # CDF channels without items
    "feeds/feedvalidator/testcases/opml/",  # subscription lists
    "feeds/feedvalidator/testcases/rss11/",  # RSS 1.1, which feedparser does not know
    "feeds/feedvalidator/testcases/ext/xrd/",
)


@dataclass(frozen=True, slots=True)
class Row:
    path: str
    source: str
    kind: str
    expect: str
    expected_output: str
    origin_url: str


def _read_manifest() -> dict[str, Row]:
    with (CORPUS / "manifest.tsv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [
            Row(
                r["path"],
                r["source"],
                r["kind"],
                r["expect"],
                r["expected_output_file"],
                r["origin_url"],
            )
            for r in reader
        ]
    # Golden outputs and the labelled news dataset are data about feeds, not feeds.
    return {r.path: r for r in rows if not r.kind.startswith(("expected-output", "labeled"))}


FEEDS = _read_manifest()
SOURCES = sorted({row.source for row in FEEDS.values()})


def _url_for(row: Row) -> str:
    if row.origin_url:
        return row.origin_url
    if row.source == "feedparser":
        # Where upstream serves its test files, which its expectations about links assume.
        return "http://127.0.0.1:8097/" + row.path.removeprefix("feeds/feedparser/")
    return "https://corpus.invalid/" + row.path


_HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+):[ \t]*(.*?)\s*$", re.MULTILINE)


def _headers_for(row: Row, body: bytes) -> dict[str, str]:
    if "served-over-HTTP" not in row.kind:
        return {}
    # As upstream's mock server does: text/xml unless the file says otherwise.
    headers = {"content-type": "text/xml"}
    for name, value in _HEADER_LINE.findall(body[:2000]):
        headers[name.decode().lower()] = value.decode("latin-1")
    return headers


@functools.cache
def outcome(path: str) -> ParsedFeed | ParseError:
    """parse_feed's answer for one corpus file, computed once and shared by every test."""
    row = FEEDS[path]
    body = (CORPUS / path).read_bytes()
    try:
        return parse_feed(
            body, url=_url_for(row), headers=_headers_for(row, body), fetched_at=FETCHED
        )
    except ParseError as exc:
        return exc


def parsed(path: str) -> ParsedFeed:
    result = outcome(path)
    if isinstance(result, ParseError):
        pytest.fail(f"{path}: {result}")
    return result


def _unreadable(path: str) -> bool:
    return path in UNREADABLE or path.startswith(UNREADABLE_PREFIXES)


def _invalid_on_purpose(row: Row) -> bool:
    # The validator's negative cases; "!Error" marks the ones that are valid feeds.
    return row.source == "feedvalidator" and not row.expect.startswith("!Error")


def _problems(feed: ParsedFeed) -> list[str]:
    """What a normalized feed must never contain, whatever the input."""
    problems = []
    for i, entry in enumerate(feed.entries):
        where = f"entry {i}"
        if (
            entry.published_at.tzinfo is not UTC
            or entry.published_at > FETCHED + CLOCK_SKEW_ALLOWANCE
        ):
            problems.append(f"{where}: published_at {entry.published_at!r}")
        if entry.url is not None and not is_web_url(entry.url):
            problems.append(f"{where}: url {entry.url!r}")
        if "\n" in entry.title or entry.title != entry.title.strip():
            problems.append(f"{where}: title {entry.title!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", entry.identity_key):
            problems.append(f"{where}: identity_key {entry.identity_key!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", entry.content_hash):
            problems.append(f"{where}: content_hash {entry.content_hash!r}")
        if not (entry.title or entry.text or entry.url):
            problems.append(f"{where}: empty entry kept")
    return problems


@pytest.mark.parametrize("source", SOURCES)
def test_every_feed_file_parses_or_is_refused_with_a_parse_error(source: str) -> None:
    # Anything but ParseError propagates from outcome() and fails this test with its trace.
    failures = []
    for path in sorted(p for p, row in FEEDS.items() if row.source == source):
        result = outcome(path)
        if isinstance(result, ParseError):
            if not (_unreadable(path) or _invalid_on_purpose(FEEDS[path])):
                failures.append(f"{path}: unexpected ParseError: {result}")
            elif not str(result):
                failures.append(f"{path}: ParseError without a reason")
            continue
        if path in UNREADABLE:
            failures.append(f"{path}: read, but expected a ParseError ({UNREADABLE[path]})")
        failures += [f"{path}: {problem}" for problem in _problems(result)]
    assert not failures, "\n".join(failures)


# --- golden outputs ----------------------------------------------------------------------

FASTFEEDPARSER = "feeds/fastfeedparser/tests/integration/"
# Where the golden output and ours differ by design, not by bug.
GOLDEN_EXCEPTIONS = {
    # feedparser refuses elements in an undeclared "rss:" namespace; fastfeedparser guesses.
    FASTFEEDPARSER + "malformed_rss_namespaced.xml": "undeclared rss: prefix",
}


def _one_line_text(markup: str | None) -> str:
    # Golden titles are raw (rss-parser keeps "<sup>" and "&#x0024;"): reduce them as we do.
    return " ".join(html_to_text(markup or "").split())


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # rss-parser wrote encoding.json in Latin-1
        return data.decode("latin-1")


def _golden_cases() -> list[tuple[str, list[dict[str, object]]]]:
    cases = []
    for row in FEEDS.values():
        if not row.expected_output or row.path in GOLDEN_EXCEPTIONS or _unreadable(row.path):
            continue
        golden = json.loads(_decode((CORPUS / row.expected_output).read_bytes()))
        # fastfeedparser writes feedparser's shape, rss-parser {"feed": {"items": [...]}}.
        items = golden["entries"] if "entries" in golden else golden["feed"].get("items", [])
        cases.append((row.path, items))
    return sorted(cases, key=lambda case: case[0])


GOLDEN = _golden_cases()


@pytest.mark.parametrize(("path", "items"), GOLDEN, ids=[p.rsplit("/", 1)[1] for p, _ in GOLDEN])
def test_golden_item_counts_titles_and_links(path: str, items: list[dict[str, object]]) -> None:
    feed = parsed(path)
    # We skip entries with neither title, text nor link; the golden parsers keep them.
    kept = [item for item in items if item.get("title") or item.get("link") or item.get("content")]
    assert len(feed.entries) == len(kept)
    base = _url_for(FEEDS[path])
    for entry, item in zip(feed.entries, kept, strict=True):
        assert entry.title == _one_line_text(str(item.get("title") or ""))
        link = str(item.get("link") or "").strip()
        expected = urljoin(base, link) if link else None
        assert entry.url == (expected if is_web_url(expected) else None)


def test_golden_outputs_were_found() -> None:
    sources = {path.split("/")[1] for path, _ in GOLDEN}
    assert sources == {"rss-parser", "fastfeedparser"}
    assert len(GOLDEN) >= 30


# --- expectations written in the files themselves ------------------------------------------

_LINK_EXPECTATION = re.compile(r"(entries\[(\d)\]|feed)\['link'\] == '([^']*)'")


def _link_expectations() -> list[tuple[str, str, int | None, str]]:
    cases = []
    for row in FEEDS.values():
        if row.source != "feedparser" or _unreadable(row.path):
            continue
        for match in _LINK_EXPECTATION.finditer(row.expect.split("||")[0]):
            index = None if match.group(1) == "feed" else int(match.group(2))
            cases.append((row.path, match.group(0), index, match.group(3)))
    return cases


LINK_EXPECTATIONS = _link_expectations()


@pytest.mark.parametrize(
    ("path", "expect", "index", "link"),
    LINK_EXPECTATIONS,
    ids=[c[0].rsplit("/", 1)[1] + ":" + c[1] for c in LINK_EXPECTATIONS],
)
def test_feedparser_link_expectations(path: str, expect: str, index: int | None, link: str) -> None:
    feed = parsed(path)
    ours = feed.link if index is None else feed.entries[index].url
    assert ours == link


MINIFLUX_ENCODING = "feeds/miniflux/internal/reader/encoding/testdata/"
CHARSET_EXPECTATIONS = {
    "utf8.xml": "Café",
    "iso-8859-1.xml": "Café",
    "invalid-prolog.xml": "Café",  # encoding="invalid"; the bytes are UTF-8
    "utf8-incorrect-prolog.xml": "Café",  # prolog says ISO-8859-1; the bytes are UTF-8
    "windows-1252.xml": "Euro €",
    "windows-1252-incorrect-prolog.xml": "Euro €",  # the manifest says Café; the file says €
    "koi8r.xml": "Пример RSS ленты",
}


@pytest.mark.parametrize(("name", "text"), CHARSET_EXPECTATIONS.items())
def test_miniflux_charset_cases(name: str, text: str) -> None:
    feed = parsed(MINIFLUX_ENCODING + name)
    everything = " ".join([feed.title or "", *(f"{e.title} {e.text}" for e in feed.entries)])
    assert text in everything


# --- real news feeds ---------------------------------------------------------------------

NEWS = sorted(path for path, row in FEEDS.items() if row.kind == "real-news-feed")


def test_the_thirteen_news_feeds_are_there() -> None:
    assert len(NEWS) == 13


@pytest.mark.parametrize("path", NEWS, ids=[FEEDS[p].origin_url for p in NEWS])
def test_real_news_feed(path: str) -> None:
    feed = parsed(path)
    body = (CORPUS / path).read_bytes()
    assert len(feed.entries) == body.count(b"<item>") + body.count(b"<item ")
    assert feed.title
    for entry in feed.entries:
        assert entry.title
        assert is_web_url(entry.url), entry.url
        assert entry.canonical_url is not None
        assert entry.published_at.tzinfo is UTC
        assert entry.published_at <= FETCHED
    dated = [e for e in feed.entries if e.published_at != FETCHED]
    assert len(dated) == len(feed.entries), "every outlet here dates its items"
    assert len({e.identity_key for e in feed.entries}) == len(feed.entries)
