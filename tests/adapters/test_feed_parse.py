"""parse_feed: wire documents in, NormalizedEntry out; every unreadable body a ParseError."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from monitor.adapters.feed_parse import _identity_guid, _value, _web_link, parse_feed
from monitor.core.identity import content_hash, identity_key
from monitor.core.model import ParsedFeed
from monitor.core.urls import canonical_url
from monitor.errors import ParseError

URL = "https://news.example.com/world/feed.xml"
FETCHED = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
RSS_TYPE = {"content-type": "application/rss+xml; charset=utf-8"}


def parse(body: bytes | str, headers: dict[str, str] | None = None, url: str = URL) -> ParsedFeed:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(
        data, url=url, headers=RSS_TYPE if headers is None else headers, fetched_at=FETCHED
    )


def rss(
    items: str, channel: str = "<title>World</title><link>https://news.example.com/</link>"
) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f"<channel>{channel}\n{items}\n</channel></rss>"
    )


FULL_ITEM = """<item>
  <title>Turkey &amp; Russia: S-400 talks</title>
  <link>https://news.example.com/a/1?utm_source=rss&amp;id=7</link>
  <guid isPermaLink="false">item-1</guid>
  <description>&lt;p&gt;Short &lt;b&gt;summary&lt;/b&gt;.&lt;/p&gt;</description>
  <content:encoded><![CDATA[<p>Full text, first paragraph.</p>
    <p>Second paragraph.</p>]]></content:encoded>
  <dc:creator>Ayşe Yılmaz</dc:creator>
  <pubDate>Tue, 17 Feb 2026 09:30:00 +0300</pubDate>
</item>"""


ENTRY_KEYS = (
    "title_detail",
    "title",
    "content",
    "summary_detail",
    "summary",
    "link",
    "id",
    "published_parsed",
    "author_detail",
    "author",
)


def test_entry_fields_read_from_the_plain_dict_are_feedparsers() -> None:
    # _value skips FeedParserDict.get for the keys it reads; its answers must be the same,
    # also for fields the feed wrote under an alias (description, guid, issued, dc:date).
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title><id>x</id>'
        "<issued>2026-02-17T09:30:00Z</issued><summary>s</summary><content>c</content>"
        "<author><name>n</name></author></entry></feed>"
    )
    bare = rss("<item><title>t</title><dc:date>2026-02-17T09:30:00Z</dc:date></item>")
    for body in (rss(FULL_ITEM), atom, bare):
        for raw in feedparser.parse(body)["entries"]:
            for key in ENTRY_KEYS:
                assert _value(raw, key) == raw.get(key), key


def test_a_full_rss_item() -> None:
    feed = parse(
        rss(FULL_ITEM, channel="<title>World &amp; more</title><link>/</link><ttl>15</ttl>")
    )
    assert (feed.title, feed.link, feed.ttl_seconds, feed.bozo_reason) == (
        "World & more",
        "https://news.example.com/",
        900,
        None,
    )
    [entry] = feed.entries
    assert entry.title == "Turkey & Russia: S-400 talks"
    assert entry.text == "Full text, first paragraph.\n\nSecond paragraph."
    assert entry.url == "https://news.example.com/a/1?utm_source=rss&id=7"
    assert entry.canonical_url == "https://news.example.com/a/1?id=7"
    assert entry.guid == "item-1"
    assert entry.author == "Ayşe Yılmaz"
    assert entry.published_at == datetime(2026, 2, 17, 6, 30, tzinfo=UTC)
    assert entry.identity_key == identity_key(
        "item-1", entry.canonical_url, entry.title, entry.text
    )
    assert entry.content_hash == content_hash(entry.title, entry.text)


TEXT_CASES = {
    "summary when no content": (
        "<item><title>t</title>"
        "<description>&lt;p&gt;Only &lt;i&gt;this&lt;/i&gt;&lt;/p&gt;</description></item>",
        "Only this",
    ),
    "longest content wins": (
        "<item><title>t</title><description>short</description>"
        "<content:encoded>&lt;p&gt;a much longer body&lt;/p&gt;</content:encoded></item>",
        "a much longer body",
    ),
    "plain description": (
        "<item><title>t</title><description>3 &lt; 5, fine</description></item>",
        "3 < 5, fine",
    ),
    "double-escaped description": (
        "<item><title>t</title><description>Fish &amp;amp;amp; chips</description></item>",
        "Fish & chips",
    ),
    "no body at all": ("<item><title>t</title></item>", ""),
}


@pytest.mark.parametrize(("item", "expected"), TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_entry_text(item: str, expected: str) -> None:
    assert parse(rss(item)).entries[0].text == expected


TITLE_CASES = {
    "entities": ("<title>Erdo&#287;an &amp; Putin</title>", "Erdoğan & Putin"),
    "double-escaped": ("<title>Science &amp;amp; technology</title>", "Science & technology"),
    "double-escaped numeric": ("<title>Ankara&amp;#8217;s answer</title>", "Ankara’s answer"),
    "markup stripped": ("<title>&lt;b&gt;Breaking:&lt;/b&gt; talks</title>", "Breaking: talks"),
    "whitespace tidied": ("<title>\n   Two\n   lines  </title>", "Two lines"),
}


@pytest.mark.parametrize(("title", "expected"), TITLE_CASES.values(), ids=TITLE_CASES.keys())
def test_entry_title(title: str, expected: str) -> None:
    assert (
        parse(rss(f"<item>{title}<link>https://e.example/x</link></item>")).entries[0].title
        == expected
    )


def test_atom_plain_text_title_keeps_angle_brackets() -> None:
    atom = """<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>
      <entry><title type="text">Why a &lt;b&gt; tag</title><id>urn:x:1</id>
      <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
        <p>Body <b>bold</b></p></div></content>
      </entry></feed>"""
    [entry] = parse(atom, {"content-type": "application/atom+xml"}).entries
    assert (entry.title, entry.text) == ("Why a <b> tag", "Body bold")


LINK_CASES = {
    "relative to the feed URL": (
        "<link>../story/1</link>",
        URL,
        "https://news.example.com/story/1",
    ),
    "absolute path": ("<link>/story/1</link>", URL, "https://news.example.com/story/1"),
    "protocol-relative": ("<link>//cdn.example.org/s</link>", URL, "https://cdn.example.org/s"),
    "absolute kept": ("<link>http://other.example/s</link>", URL, "http://other.example/s"),
    "surrounding whitespace": (
        "<link>\n  https://e.example/s  \n</link>",
        URL,
        "https://e.example/s",
    ),
    "javascript dropped": ("<link>javascript:alert(1)</link>", URL, None),
    "permalink guid used as link": ("<guid>https://e.example/g</guid>", URL, "https://e.example/g"),
}


@pytest.mark.parametrize(("link", "url", "expected"), LINK_CASES.values(), ids=LINK_CASES.keys())
def test_entry_links_resolved(link: str, url: str, expected: str | None) -> None:
    [entry] = parse(rss(f"<item><title>t</title>{link}</item>"), url=url).entries
    assert entry.url == expected


def test_atom_xml_base_resolves_links() -> None:
    atom = """<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/base/">
      <title>F</title><link href="/"/>
      <entry xml:base="posts/"><title>a</title><id>urn:a</id><link href="one.html"/></entry>
      <entry><title>b</title><id>urn:b</id><link href="../two.html"/></entry></feed>"""
    feed = parse(atom, {"content-type": "application/atom+xml"})
    assert feed.link == "https://blog.example.org/"
    assert [e.url for e in feed.entries] == [
        "https://blog.example.org/base/posts/one.html",
        "https://blog.example.org/two.html",
    ]


def test_relative_xml_base_resolves_against_the_feed_url() -> None:
    atom = """<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>F</title>
      <entry><title>a</title><id>urn:a</id><link href="p/1"/></entry></feed>"""
    [entry] = parse(atom, {"content-type": "application/atom+xml"}).entries
    assert entry.url == "https://news.example.com/blog/p/1"


CONTENT_LOCATION_CASES = {
    "absolute": ("https://mirror.example.net/feeds/x.xml", "https://mirror.example.net/feeds/a"),
    "relative to the request URL": ("/other/feed.xml", "https://news.example.com/other/a"),
    "unsafe scheme ignored": ("javascript:alert(1)", "https://news.example.com/world/a"),
}


@pytest.mark.parametrize(
    ("location", "expected"), CONTENT_LOCATION_CASES.values(), ids=CONTENT_LOCATION_CASES.keys()
)
def test_content_location_is_the_base(location: str, expected: str) -> None:
    headers = {**RSS_TYPE, "Content-Location": location}
    [entry] = parse(rss("<item><title>t</title><link>a</link></item>"), headers).entries
    assert entry.url == expected


DATE_CASES = {
    "pubDate converted to UTC": (
        "<pubDate>Tue, 17 Feb 2026 11:00:00 +0300</pubDate>",
        datetime(2026, 2, 17, 8, 0, tzinfo=UTC),
    ),
    "missing date is the fetch time": ("", FETCHED),
    "unparseable date is the fetch time": ("<pubDate>sometime soon</pubDate>", FETCHED),
    "future date clamped": ("<pubDate>Fri, 20 Feb 2026 09:00:00 GMT</pubDate>", FETCHED),
    "a few minutes ahead kept": (
        "<pubDate>Tue, 17 Feb 2026 12:05:00 GMT</pubDate>",
        FETCHED + timedelta(minutes=5),
    ),
    "dc:date when no pubDate": (
        "<dc:date>2026-02-16T10:00:00Z</dc:date>",
        datetime(2026, 2, 16, 10, tzinfo=UTC),
    ),
}


@pytest.mark.parametrize(("date", "expected"), DATE_CASES.values(), ids=DATE_CASES.keys())
def test_entry_published_time(date: str, expected: datetime) -> None:
    [entry] = parse(rss(f"<item><title>t</title>{date}</item>")).entries
    assert entry.published_at == expected
    assert entry.published_at.tzinfo is UTC


def test_atom_updated_used_when_no_published() -> None:
    atom = """<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>
      <entry><title>a</title><id>urn:a</id>
        <updated>2026-02-15T08:00:00+01:00</updated></entry></feed>"""
    [entry] = parse(atom, {"content-type": "application/atom+xml"}).entries
    assert entry.published_at == datetime(2026, 2, 15, 7, 0, tzinfo=UTC)


IDENTITY_CASES = {
    "opaque guid": (
        '<guid isPermaLink="false">abc-123</guid><link>https://e.example/a</link>',
        "guid:abc-123",
    ),
    "guid equal to link is the link": (
        "<guid>https://e.example/a?utm_source=x</guid><link>https://e.example/a</link>",
        "url:https://e.example/a",
    ),
    "permalink guid alone is the link": (
        "<guid>https://e.example/a#top</guid>",
        "url:https://e.example/a",
    ),
    "guid that is another URL": (
        "<guid>https://e.example/?p=7</guid><link>https://e.example/a</link>",
        "guid:https://e.example/?p=7",
    ),
    "no guid is the canonical link": (
        "<link>https://E.example:443/a?b=2&amp;a=1</link>",
        "url:https://e.example/a?a=1&b=2",
    ),
}


@pytest.mark.parametrize(("fields", "basis"), IDENTITY_CASES.values(), ids=IDENTITY_CASES.keys())
def test_entry_identity(fields: str, basis: str) -> None:
    [entry] = parse(rss(f"<item><title>t</title>{fields}</item>")).entries
    kind, _, value = basis.partition(":")
    expected = (
        identity_key(value, None, "", "") if kind == "guid" else identity_key(None, value, "", "")
    )
    assert entry.identity_key == expected


@pytest.mark.parametrize(
    "link",
    [
        "https://e.example/a?utm_source=x",
        "/relative/a",
        " https://e.example/a ",
        "HTTPS://E.EXAMPLE:443/a#top",
        "mailto:desk@e.example",
        "",
    ],
)
def test_a_guid_written_as_the_link_is_decided_as_any_other_guid(link: str) -> None:
    # _identity_guid skips parsing a guid that is the link as written; the answer must be
    # the one parsing it gives.
    web_link = _web_link(URL, link)
    canonical = canonical_url(web_link) if web_link else None
    for guid in (link, link.strip()):
        assert _identity_guid(guid, URL, canonical, link) == _identity_guid(
            guid, URL, canonical, None
        )


def test_identity_without_guid_or_link_is_the_text() -> None:
    [entry] = parse(
        rss("<item><title>Only a title</title><description>and text</description></item>")
    ).entries
    assert (entry.guid, entry.url, entry.canonical_url) == (None, None, None)
    assert entry.identity_key == identity_key(None, None, "Only a title", "and text")


def test_entry_with_nothing_is_skipped() -> None:
    items = (
        '<item><guid isPermaLink="false">x</guid><pubDate>Tue, 17 Feb 2026 09:00:00 GMT</pubDate>'
        "</item><item><title>kept</title></item>"
    )
    assert [e.title for e in parse(rss(items)).entries] == ["kept"]


TTL_CASES = {
    "minutes to seconds": ("<ttl>60</ttl>", 3600),
    "garbage": ("<ttl>soon</ttl>", None),
    "zero": ("<ttl>0</ttl>", None),
    "absent": ("", None),
}


@pytest.mark.parametrize(("ttl", "expected"), TTL_CASES.values(), ids=TTL_CASES.keys())
def test_ttl(ttl: str, expected: int | None) -> None:
    assert parse(rss("", channel=f"<title>x</title>{ttl}")).ttl_seconds == expected


# --- broken, wrong and hostile bodies ----------------------------------------------------


def test_malformed_xml_that_feedparser_still_reads() -> None:
    body = rss(
        "<item><title>Fish & chips</title><link>/a</link></item>\n"
        "<item><title>second</title></item>"
    )
    feed = parse(body)
    assert [e.title for e in feed.entries] == ["Fish & chips", "second"]
    assert feed.bozo_reason is not None and feed.bozo_reason.startswith("XML error at line 4:")


def test_a_broken_feed_served_as_html_is_a_broken_feed_not_a_page() -> None:
    body = rss("<item><title>a</title></item>\n<item><title>b & c</title></item>")
    feed = parse(body, {"content-type": "text/html; charset=utf-8"})
    assert [e.title for e in feed.entries] == ["a", "b & c"]
    assert feed.bozo_reason is not None and feed.bozo_reason.startswith("XML error at line 5")


def test_blank_line_before_the_xml_declaration_is_tolerated() -> None:
    feed = parse("\n\n" + rss("<item><title>t</title></item>"))
    assert feed.bozo_reason is None
    assert [e.title for e in feed.entries] == ["t"]


UNREADABLE_CASES = {
    "empty body": (b"", RSS_TYPE, "empty response body"),
    "whitespace body": (b"  \r\n\t ", RSS_TYPE, "empty response body"),
    "HTML page": (
        b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
        b"<body><p>Welcome</p></body></html>",
        {"content-type": "text/html; charset=utf-8"},
        "not a feed: the server sent an HTML page (text/html)",
    ),
    "HTML page without a content type": (
        b"\n<html><body>Moved</body></html>",
        {},
        "not a feed: the server sent an HTML page (no Content-Type)",
    ),
    "HTML page labelled as XML": (
        b"<head><title>Document Moved</title></head><body>here</body>",
        {"content-type": "application/xml"},
        "not a feed: the server sent an HTML page (application/xml)",
    ),
    "JSON": (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        {"content-type": "application/json"},
        "not a feed: the server sent a JSON document (application/json);"
        " JSON Feed is not supported",
    ),
    "XML that is not a feed": (
        b'<?xml version="1.0"?>\n<note><to>x</to></note>',
        {"content-type": "text/xml"},
        "not a feed: the root element is <note>, not RSS, Atom or RDF (text/xml)",
    ),
    "XML error": (
        b'<?xml version="1.0"?>\n<doc>\n<p></doc>',
        RSS_TYPE,
        "XML error at line 3: mismatched tag",
    ),
    "XML error without declaration": (
        b"<doc>\n\n<p></doc>",
        RSS_TYPE,
        "XML error at line 3: mismatched tag",
    ),
    "binary garbage": (
        bytes(range(1, 256)) * 8,
        {},
        "XML error at line 1: not well-formed (invalid token)",
    ),
    "plain text": (
        b"Service temporarily unavailable",
        {"content-type": "text/plain"},
        "XML error at line 1: syntax error",
    ),
}


@pytest.mark.parametrize(
    ("body", "headers", "reason"), UNREADABLE_CASES.values(), ids=UNREADABLE_CASES.keys()
)
def test_unreadable_bodies_raise_a_specific_parse_error(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse(body, headers)
    assert str(caught.value) == reason


CHARSET_CASES = {
    "header says latin-1, body is UTF-8": (
        rss("<item><title>Café in İzmir</title></item>").encode("utf-8"),
        {"content-type": "application/rss+xml; charset=iso-8859-1"},
        "declared as iso-8859-1 but the body is UTF-8; read as UTF-8",
    ),
    "header says UTF-8, body is latin-1 as its declaration says": (
        rss("<item><title>Café</title></item>").replace("utf-8", "iso-8859-1").encode("latin-1"),
        {"content-type": "application/rss+xml; charset=utf-8"},
        "document declared as utf-8, but parsed as iso-8859-1",
    ),
    "no content type, UTF-8 without declaration": (
        rss("<item><title>Café</title></item>").split("\n", 1)[1].encode("utf-8"),
        {},
        None,
    ),
    "text/xml without charset, UTF-8 body": (
        rss("<item><title>Café</title></item>").encode("utf-8"),
        {"content-type": "text/xml"},
        None,
    ),
    "windows-1252 as declared": (
        rss("<item><title>Café – ok</title></item>")
        .replace("utf-8", "windows-1252")
        .encode("cp1252"),
        {"content-type": "text/xml; charset=windows-1252"},
        None,
    ),
    "text/xml without charset follows the XML declaration": (
        rss("<item><title>Café</title></item>").replace("utf-8", "iso-8859-1").encode("latin-1"),
        {"content-type": "text/xml"},
        None,
    ),
}


@pytest.mark.parametrize(
    ("body", "headers", "bozo"), CHARSET_CASES.values(), ids=CHARSET_CASES.keys()
)
def test_charset_conflicts(body: bytes, headers: dict[str, str], bozo: str | None) -> None:
    feed = parse(body, headers)
    assert feed.entries[0].title.startswith("Café")
    assert feed.bozo_reason == bozo


def test_utf16_with_bom() -> None:
    body = rss("<item><title>Привет</title></item>").replace("utf-8", "utf-16").encode("utf-16")
    assert parse(body, {"content-type": "application/xml"}).entries[0].title == "Привет"


def test_a_body_naming_a_file_is_not_read_from_disk(tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_text(rss("<item><title>secret</title></item>"), encoding="utf-8")
    with pytest.raises(ParseError):
        parse(str(feed_file).encode(), {})


# An HTML entity XML does not define: not well-formed, so the fast path declines it and
# feedparser (its loose parser) reads it.
FEEDPARSER_ONLY = rss("<item><title>t&nbsp;1</title></item>")


def test_feedparser_exceptions_become_parse_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(feedparser, "parse", explode)
    with pytest.raises(ParseError, match=r"^feedparser failed: UnicodeDecodeError"):
        parse(FEEDPARSER_ONLY)


def test_feedparser_runs_without_sanitising_or_rewriting(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real = feedparser.parse

    def spy(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spy)
    assert parse(FEEDPARSER_ONLY).entries[0].title == "t 1"
    assert seen["sanitize_html"] is False
    assert seen["resolve_relative_uris"] is False


def test_arguments_and_result_cross_a_process_boundary() -> None:
    feed = parse(rss(FULL_ITEM))
    assert pickle.loads(pickle.dumps(feed)) == feed
    assert pickle.loads(pickle.dumps(parse_feed)) is parse_feed
    error = ParseError("empty response body")
    assert str(pickle.loads(pickle.dumps(error))) == "empty response body"
