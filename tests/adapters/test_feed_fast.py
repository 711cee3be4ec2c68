"""The fast path (adapters/feed_fast.py) against feedparser: the same ParsedFeed, or a doubt.

Each case runs parse_feed twice, with the fast path and with feedparser alone, and asserts
the two ParsedFeeds are equal (every field of every entry: title, text, links, guid, author,
dates, identity, match text, story signature) and whether the fast path took the body.
The whole corpus is compared in the slow test at the end; a sample of it runs every time.
"""

from __future__ import annotations

import collections
import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser.urls
import pytest
from conftest import corpus_dir
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.adapters import feed_fast
from monitor.adapters.feed_parse import fast_path_doubt, parse_feed
from monitor.core.model import ParsedFeed
from monitor.errors import ParseError

URL = "https://news.example.com/world/feed.xml"
FETCHED = datetime(2026, 3, 1, tzinfo=UTC)
XML = {"content-type": "application/rss+xml"}
NS = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:atom="http://www.w3.org/2005/Atom"'
)


def rss(items: str, channel: str = "<title>World</title><link>/</link>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" {NS}>'
        f"<channel>{channel}\n{items}\n</channel></rss>"
    ).encode()


def atom(entries: str, attrs: str = "") -> bytes:
    return (
        f'<feed xmlns="http://www.w3.org/2005/Atom" {attrs}><title>A</title>'
        f'<link href="http://example.org/"/>{entries}</feed>'
    ).encode()


def both(
    body: bytes, headers: dict[str, str] | None = None, url: str = URL
) -> tuple[ParsedFeed | str, ParsedFeed | str]:
    def run(fast: bool) -> ParsedFeed | str:
        try:
            return parse_feed(
                body, url=url, headers=headers or XML, fetched_at=FETCHED, fast_path=fast
            )
        except ParseError as exc:
            return f"ParseError: {exc}"

    return run(True), run(False)


FAST_CASES = {
    "plain item": rss(
        "<item><title>Talks &amp; more</title><link>https://e.org/1?a=1&amp;b=2</link>"
        "<guid>https://e.org/1?a=1&amp;b=2</guid><pubDate>Tue, 17 Feb 2026 09:30:00 +0300"
        "</pubDate><description>&lt;p&gt;Short &lt;b&gt;text&lt;/b&gt;&lt;/p&gt;</description>"
        "</item>"
    ),
    "content:encoded is longer than the description": rss(
        "<item><title>t</title><description>short</description>"
        "<content:encoded><![CDATA[<p>The whole story, longer.</p><p>Two.</p>]]>"
        "</content:encoded></item>"
    ),
    # feedparser turns a second description-like element into content when there is no
    # content yet: media:description after description is the entry's content.
    "media:description after description": rss(
        "<item><title>t</title><description>one</description>"
        "<media:description>the longer media description</media:description></item>"
    ),
    "media:title before title; title wins": rss(
        "<item><media:content url='https://e.org/i.jpg'><media:title>Photo</media:title>"
        "</media:content><title>Headline</title></item>"
    ),
    "media:title after title; title stays": rss(
        "<item><title>Headline</title><media:content url='https://e.org/i.jpg'>"
        "<media:title>Photo</media:title></media:content></item>"
    ),
    # <image> inside an item resets feedparser's title depth: a later media:title wins.
    "image in an item, then media:title": rss(
        "<item><title>Headline</title><image>https://e.org/i.jpg</image>"
        "<media:title>Photo caption</media:title></item>"
    ),
    "two titles: the first stays": rss("<item><title>First</title><title>Second</title></item>"),
    "guid without a link is the link": rss("<item><guid>https://e.org/only-guid</guid></item>"),
    "guid isPermaLink=false is not a link": rss(
        "<item><title>t</title><guid isPermaLink='false'>/not/a/link</guid></item>"
    ),
    "author as email (name)": rss(
        "<item><title>t</title><author>desk@e.org (Ayşe Yılmaz)</author></item>"
    ),
    "two dc:creators: the first is the author": rss(
        "<item><title>t</title><dc:creator>First Writer</dc:creator>"
        "<dc:creator>Second Writer</dc:creator></item>"
    ),
    "html-looking plain title": rss("<item><title>A &lt;b&gt;bold&lt;/b&gt; move</title></item>"),
    "UTF-8 read as Latin-1 and re-encoded is repaired": rss(
        "<item><title>CafÃ© talks</title></item>"
    ),
    "cp1252 C1 controls are mapped": rss("<item><title>don\u0092t</title></item>"),
    "ttl and feed link": rss("<item><title>t</title></item>", "<title>W</title><ttl>30</ttl>"),
    "dc:date and no pubDate": rss(
        "<item><title>t</title><dc:date>2026-02-17T09:30:00Z</dc:date></item>"
    ),
    "atom:link alternate in an RSS channel": rss(
        "<item><title>t</title></item>",
        "<title>W</title><atom:link rel='alternate' type='text/html' href='https://e.org/h'/>",
    ),
    "atom entry with xml:base": atom(
        "<entry xml:base='http://example.org/2026/'><title type='html'>A &amp;lt;i&amp;gt;"
        "</title><link href='story.html'/><id>tag:e,2026:1</id><updated>2026-02-17T09:30:00Z"
        "</updated><summary>sum</summary><content type='html'>&lt;p&gt;body&lt;/p&gt;"
        "</content><author><name>Writer</name><email>w@e.org</email></author></entry>"
    ),
    "atom id as the link": atom("<entry><title>t</title><id>http://example.org/id/1</id></entry>"),
    "atom plain-text title keeps angle brackets": atom(
        "<entry><title type='text'>1 &lt; 2</title><id>x</id></entry>"
    ),
    "comments and processing instructions inside text": rss(
        "<item><title>Head<!-- a comment -->line<?pi x?></title></item>"
    ),
    "one unknown namespace under two prefixes (WSJ)": (
        b'<rss version="2.0" xmlns:wsj="http://dowjones.net/rss/" '
        b'xmlns:dj="http://dowjones.net/rss/"><channel><title>W</title><item><title>t</title>'
        b"<wsj:articletype>News</wsj:articletype></item></channel></rss>"
    ),
    "rss 1.0": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="http://e.org/"><title>R</title>'
        b'</channel><item rdf:about="http://e.org/1?a=1&amp;b=2"><title>t</title>'
        b"<link>http://e.org/1</link></item></rdf:RDF>"
    ),
}


@pytest.mark.parametrize("body", FAST_CASES.values(), ids=FAST_CASES.keys())
def test_the_fast_path_reads_it_as_feedparser_does(body: bytes) -> None:
    assert fast_path_doubt(body, XML) is None
    fast, slow = both(body)
    assert isinstance(fast, ParsedFeed)
    assert fast == slow


def test_a_declared_charset_the_body_contradicts_gives_the_same_note() -> None:
    body = rss("<item><title>Çavuşoğlu</title></item>")
    fast, slow = both(body, {"content-type": "text/xml; charset=iso-8859-1"})
    assert isinstance(fast, ParsedFeed)
    assert fast == slow
    assert fast.bozo_reason and "iso-8859-1" in fast.bozo_reason


@given(
    base=st.sampled_from(["", "http://e.org/a/b", "https://e.org/", "tag:e.org,2026:"]),
    uri=st.text(alphabet="htps:/ae.1+-?#[] \t", max_size=30),
)
@example(base="http://e.org/a/b", uri="http:////x/y")
@example(base="", uri="https:///e.org/a")
@example(base="https://e.org/", uri="a+b-c.d://///x")
@example(base="https://e.org/", uri="http://[::1")
def test_links_join_as_feedparsers_urljoin_joins_them(base: str, uri: str) -> None:
    # feed_fast._urljoin skips feedparser's slash-fixing substitution where it would change
    # nothing; the joined link must be feedparser's.
    assert feed_fast._urljoin(base, uri) == feedparser.urls._urljoin(base, uri)


DOUBTS = {
    "not well-formed": (rss("<item><title>t</title></itme>"), "not well-formed"),
    "an HTML entity": (rss("<item><title>a&nbsp;b</title></item>"), "not well-formed"),
    "a DOCTYPE": (b'<!DOCTYPE rss [<!ENTITY x "y">]>' + rss("")[39:], "DOCTYPE"),
    "atom xhtml content": (
        atom(
            "<entry><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
            "<p>x</p></div></content></entry>"
        ),
        "xhtml",
    ),
    "markup inside a title": (rss("<item><title>a <b>bold</b> one</title></item>"), "markup"),
    "base64 content": (
        atom("<entry><content type='image/png'>iVBORw0KGgo=</content></entry>"),
        "base64",
    ),
    "an iTunes summary": (
        rss("<item><itunes:summary>s</itunes:summary></item>").replace(
            b"<rss ", b'<rss xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
        ),
        "itunes",
    ),
    "an undeclared prefix": (rss("<item><x:title>t</x:title></item>"), "NS_ERR"),
    "an unknown root": (b"<channel><title>CDF</title></channel>", "root"),
    "an attribute in an unknown namespace": (
        rss("<item xmlns:q='http://q.example/' q:type='x'><title>t</title></item>"),
        "attribute",
    ),
}


@pytest.mark.parametrize(("body", "reason"), DOUBTS.values(), ids=DOUBTS.keys())
def test_doubtful_bodies_go_to_feedparser(body: bytes, reason: str) -> None:
    doubt = fast_path_doubt(body, XML)
    assert doubt is not None and reason in doubt
    fast, slow = both(body)
    assert fast == slow


# --- the corpus ----------------------------------------------------------------------------

CORPUS = corpus_dir()


def _corpus_rows() -> list[tuple[str, str, str]]:
    """(path, kind, url) of every feed document in the corpus's manifest."""
    if not (CORPUS / "manifest.tsv").is_file():
        return []
    with (CORPUS / "manifest.tsv").open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            (r["path"], r["kind"], r["origin_url"] or "https://corpus.invalid/" + r["path"])
            for r in rows
            if not r["kind"].startswith(("expected-output", "labeled"))
        ]


ROWS = _corpus_rows()
_HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+):[ \t]*(.*?)\s*$", re.MULTILINE)


def _headers(kind: str, body: bytes) -> dict[str, str]:
    if "served-over-HTTP" not in kind:
        return {}
    headers = {"content-type": "text/xml"}
    for name, value in _HEADER_LINE.findall(body[:2000]):
        headers[name.decode().lower()] = value.decode("latin-1")
    return headers


def _compare(rows: list[tuple[str, str, str]]) -> tuple[int, collections.Counter[str], list[str]]:
    """How many bodies took the fast path, the doubts of the others, and every difference."""
    fast_count, doubts, differences = 0, collections.Counter[str](), []
    for path, kind, url in rows:
        body = (CORPUS / path).read_bytes()
        headers = _headers(kind, body)
        if body.strip():
            doubt = fast_path_doubt(body, headers)
            if doubt is not None:
                doubts[re.sub(r"<[^>]*>|\S+://\S+|\[.*\]", "…", doubt)] += 1
                continue
        fast_count += 1
        fast, slow = both(body, headers, url)
        if fast != slow:
            differences.append(path)
    return fast_count, doubts, differences


@pytest.fixture(scope="module")
def corpus_rows() -> list[tuple[str, str, str]]:
    if not ROWS:
        pytest.skip(f"feed corpus not found at {CORPUS} (set MONITOR_CORPUS)")
    return ROWS


def test_a_sample_of_the_corpus_reads_the_same(corpus_rows: list[tuple[str, str, str]]) -> None:
    # Every 15th document and every real outlet feed: a few seconds.
    sample = [row for i, row in enumerate(corpus_rows) if i % 15 == 0 or row[1] == "real-news-feed"]
    fast_count, _, differences = _compare(sample)
    assert not differences
    assert fast_count > len(sample) // 2


def test_every_real_outlet_feed_takes_the_fast_path(
    corpus_rows: list[tuple[str, str, str]],
) -> None:
    news = [row for row in corpus_rows if row[1] == "real-news-feed"]
    assert len(news) == 13
    assert {p: fast_path_doubt((CORPUS / p).read_bytes(), {}) for p, _, _ in news} == dict.fromkeys(
        (p for p, _, _ in news), None
    )


@pytest.mark.slow
def test_the_whole_corpus_reads_the_same(
    corpus_rows: list[tuple[str, str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    fast_count, doubts, differences = _compare(corpus_rows)
    with capsys.disabled():
        print(f"\nfast path: {fast_count} documents; feedparser: {sum(doubts.values())}")
        for reason, count in doubts.most_common():
            print(f"  {count:5d}  {reason}")
    assert not differences, differences
    # A floor, not a figure: fewer would mean the fast path stopped taking what it can read.
    assert fast_count >= 2900


def test_corpus_helpers_find_the_files(corpus_rows: list[tuple[str, str, str]]) -> None:
    assert len(corpus_rows) > 3900
    assert all(Path(CORPUS / path).is_file() for path, _, _ in corpus_rows[:50])
