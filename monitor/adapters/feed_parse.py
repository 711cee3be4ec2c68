"""feedparser adapter: fetched bytes and headers in, a ParsedFeed of NormalizedEntry out.

The only module that sees feedparser's dicts; they never leave it. No network, no disk,
no clock: `parse_feed` is a top-level function of picklable values so the pipeline can run
it in a process pool. Every feedparser or lxml failure becomes a ParseError here.
"""

from __future__ import annotations

import codecs
import io
import multiprocessing.context
import os
import re
import select
import signal
import sys
import threading
import time
import types
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing import popen_forkserver
from typing import Any

import feedparser

from monitor.adapters.feed_fast import Doubt, read_fast
from monitor.adapters.feed_trim import keep_newest
from monitor.adapters.worker_scoring import FeedScoring, score_entries
from monitor.core import dedup
from monitor.core.dates import from_struct_time, published_time
from monitor.core.html_text import html_to_text, tidy_text
from monitor.core.identity import content_hash, identity_key
from monitor.core.match_form import article_match_form
from monitor.core.model import NormalizedEntry, ParsedFeed
from monitor.core.semantic_features import article_features
from monitor.core.urls import canonical_url, is_web_url, resolve_url
from monitor.errors import ParseError

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_ROOT_ELEMENT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_HTML_ROOTS = frozenset({b"html", b"head", b"body"})
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf:rdf", b"rdf", b"channel"})
_SNIFF_BYTES = 4096


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    fetched_at: datetime,
    max_entries: int | None = None,
    fast_path: bool = True,
) -> ParsedFeed:
    """Parse one fetched feed document and normalize its entries.

    `url` is the URL the body was fetched from (after redirects): relative links resolve
    against it, or against Content-Location and xml:base where the feed gives them.
    `fetched_at` stands in for missing dates and caps dates in the future.
    `max_entries`: read only the newest this many entries; the rest are counted as skipped.
    `fast_path`: read well-formed feeds with adapters/feed_fast.py, which gives feedparser's
    answer or declines before giving any; False sends every body to feedparser (the tests
    and bench/parse.py compare the two).
    Raises ParseError when the body is not a feed feedparser can read.
    """
    if not body or body.isspace():
        raise ParseError("empty response body")
    body, skipped = _bounded(body, max_entries)
    given = {key.lower(): value for key, value in headers.items()}
    base = _base_url(url, given.get("content-location"))
    fp_headers, charset_note = _feedparser_headers(body, given)
    result = _read(body, fp_headers, fast_path)
    if not result.get("version") and not result.get("entries"):
        raise ParseError(_unreadable_reason(body, given, result))
    bozo_reason = _bozo_reason(result, body, charset_note)
    try:
        parsed = replace(_normalize_feed(result, base, fetched_at, bozo_reason), skipped=skipped)
        if max_entries is not None:
            parsed = parsed.newest(max_entries)
        return replace(parsed, entries=derived(parsed.entries))
    except Exception as exc:  # a wire shape we did not foresee fails this feed, not the cycle
        raise ParseError(f"could not read the feed's entries: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ParseJob:
    """`parse_feed` as a picklable job for the parse processes. It lives here, not with the
    poll flow, so a worker unpickling it imports this module only and not the database and
    delivery stack: that cost each worker about 50 MB of its own."""

    body: bytes
    url: str
    headers: dict[str, str]
    fetched_at: datetime
    max_entries: int | None = None
    # Also score the entries (adapters/worker_scoring.py): set while the writer is behind.
    scoring: FeedScoring | None = None

    def __call__(self) -> ParsedFeed:
        parsed = parse_feed(
            self.body,
            url=self.url,
            headers=self.headers,
            fetched_at=self.fetched_at,
            max_entries=self.max_entries,
        )
        if self.scoring is None:
            return parsed
        return replace(parsed, entries=score_entries(parsed.entries, self.scoring))


# --- the parse processes -------------------------------------------------------------
# The worker initializer lives here too: it is unpickled in every worker, and were it in
# monitor.app, each worker would import the composition root and with it SQLAlchemy,
# pydantic and the config (about 50 MB per worker, unshared).


_MAIN_HIDDEN = threading.Lock()


class _ParsePopen(popen_forkserver.Popen):
    """Starts a parse worker that does not run the parent's `__main__` first.

    multiprocessing has every child it starts import the parent's main script, so that
    functions defined there unpickle. Ours is the `monitor` console script (or a benchmark),
    which imports the CLI and with it SQLAlchemy, pydantic and the delivery stack: 61 MB of
    private memory in each worker, more than the parser itself. The worker needs nothing
    from it (its jobs and initializer live in adapters/feed_parse.py), so while the start
    data is written, `__main__` is a bare module and the child is told of no main to run
    (a thread reading `__main__` in that moment would see the bare module: none of ours
    does)."""

    def _launch(self, process_obj: Any) -> None:
        with _MAIN_HIDDEN:
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                super()._launch(process_obj)  # type: ignore[misc]  # typeshed omits it
            finally:
                sys.modules["__main__"] = main


class _ParseProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _ParsePopen(process_obj)


class ParseProcessContext(multiprocessing.context.ForkServerContext):
    """The forkserver context the parse pool starts its workers with (see _ParsePopen). Its
    classes live here, not in monitor.app: the worker unpickles its Process object, and
    with it would import the composition root (SQLAlchemy, pydantic, the config)."""

    Process = _ParseProcess


def start_parse_worker(parent: int) -> None:
    """Ctrl-C reaches the whole process group; the parent decides how to stop its workers.
    And a worker must not outlive `monitor` itself: a killed parent cannot shut its pool
    down, the workers would wait on their queue for good, and the forkserver with them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(parent)


def exit_with(pid: int) -> None:
    """End this process as soon as process `pid` is gone, from a watching thread."""
    try:
        handle: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3+: look every second instead
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])  # readable once the process has exited
        else:
            while _alive(pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="monitor-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _bounded(body: bytes, max_entries: int | None) -> tuple[bytes, int]:
    """The body as the parsers get it, and how many entries were cut from it."""
    if body[:1].isspace() and body.lstrip().startswith(b"<?xml"):
        # A blank line before the declaration (a common CMS plugin defect) makes the
        # strict parser give up and the slower, sloppier loose parser take over.
        body = body.lstrip()
    if max_entries is not None and (trimmed := keep_newest(body, max_entries)) is not None:
        return trimmed.body, trimmed.total - trimmed.kept
    return body, 0


def fast_path_doubt(body: bytes, headers: Mapping[str, str]) -> str | None:
    """Why parse_feed would hand this body to feedparser, or None if the fast path reads it.
    For the corpus census in the tests and bench/parse.py."""
    body, _ = _bounded(body, None)
    fp_headers, _ = _feedparser_headers(body, {k.lower(): v for k, v in headers.items()})
    try:
        read_fast(body, fp_headers)
    except Doubt as doubt:
        return str(doubt)
    return None


def _read(body: bytes, fp_headers: dict[str, str], fast_path: bool) -> Any:
    if fast_path:
        try:
            return read_fast(body, fp_headers)
        except Doubt:
            pass  # feedparser reads what the fast path cannot vouch for
    return _run_feedparser(body, fp_headers)


def _run_feedparser(body: bytes, fp_headers: dict[str, str]) -> Any:
    try:
        return feedparser.parse(
            # A BytesIO, never the bytes: feedparser treats a bytes argument that names an
            # existing file as a path and would read it from our disk.
            io.BytesIO(body),
            response_headers=fp_headers,
            # We reduce HTML to plain text ourselves: sanitising and rewriting links
            # inside content cost half the parse and change nothing we keep.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser promises not to raise; its parsers still can
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from exc


def _base_url(url: str, content_location: str | None) -> str:
    # Content-Location names the document's own URL; a value that is not a web URL
    # (feedparser's tests include "javascript:...") must not become the base of links.
    location = resolve_url(url, content_location)
    return location if location and is_web_url(location) else url


# --- character encoding -------------------------------------------------------------


def _feedparser_headers(body: bytes, given: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The headers to hand feedparser, and a note when the declared charset was overruled.

    Only Content-Type and Content-Language. Not Content-Location: with a base URI feedparser
    joins it onto every element it opens (a third of the parse on a 1 MB feed), and we
    resolve the few links we keep ourselves.

    feedparser follows RFC 3023: no Content-Type means ISO-8859-1 and text/xml without a
    charset means US-ASCII. Servers get these wrong far more often than bodies do, so a
    body that is valid UTF-8 is read as UTF-8 whatever was declared (as Miniflux does);
    anything else goes through feedparser's own chain (header, XML declaration, fallbacks).
    """
    media_type, charset = _content_type(given.get("content-type", ""))
    if not media_type or (not charset and media_type.startswith("text/") and "xml" in media_type):
        # No label, or text/xml without a charset (which RFC 3023 made US-ASCII and RFC
        # 7303 fixed): let the document's own declaration decide, as application/xml does.
        media_type = "application/xml"
    fp_headers = {"content-type": f"{media_type}; charset={charset}" if charset else media_type}
    if "content-language" in given:
        fp_headers["content-language"] = given["content-language"]
    if not _is_utf8_text(body):
        return fp_headers, None
    fp_headers["content-type"] = f"{media_type}; charset=utf-8"
    if body.isascii():  # every ASCII-compatible declaration reads it the same way
        return fp_headers, None
    declared = charset or _xml_declared_encoding(body)
    if declared and not _is_utf8_name(declared):
        return fp_headers, f"declared as {declared} but the body is UTF-8; read as UTF-8"
    return fp_headers, None


def _content_type(value: str) -> tuple[str, str]:
    media_type, _, params = value.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'")
    return media_type.strip().lower(), charset


def _is_utf8_text(body: bytes) -> bool:
    # UTF-16/32 without a BOM is valid UTF-8 byte for byte when it is all ASCII; its NULs
    # give it away. Byte-order marks are left to feedparser, which handles them well.
    if body.startswith(_BOMS) or b"\x00" in body[:_SNIFF_BYTES]:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _xml_declared_encoding(body: bytes) -> str | None:
    match = _XML_ENCODING.match(body[:400].lstrip())
    return match.group(1).decode("ascii") if match else None


def _is_utf8_name(name: str) -> bool:
    try:
        return codecs.lookup(name).name == "utf-8"
    except LookupError:
        return False


# --- unreadable documents -----------------------------------------------------------


def _unreadable_reason(body: bytes, given: dict[str, str], result: Any) -> str:
    """A sentence saying why this body is not a feed, specific enough to act on."""
    media_type = _content_type(given.get("content-type", ""))[0]
    shown = media_type or "no Content-Type"
    head = _COMMENT.sub(b"", body[:_SNIFF_BYTES]).lstrip(b"\xef\xbb\xbf \t\r\n")
    root = _root_element(head)
    if root.lower() in _HTML_ROOTS or (
        media_type == "text/html" and root.lower() not in _FEED_ROOTS
    ):
        return f"not a feed: the server sent an HTML page ({shown})"
    if head[:1] in (b"{", b"["):
        return f"not a feed: the server sent a JSON document ({shown}); JSON Feed is not supported"
    exc = result.get("bozo_exception")
    if isinstance(exc, xml.sax.SAXParseException):
        return _xml_error(exc, body)
    if root:
        name = root.decode("ascii", "replace")
        return f"not a feed: the root element is <{name}>, not RSS, Atom or RDF ({shown})"
    return f"not a feed: no RSS, Atom or RDF document found ({shown})"


def _root_element(head: bytes) -> bytes:
    """The name of the first element, as written; b"" when there is none."""
    match = _ROOT_ELEMENT.search(head)
    return match.group(1) if match else b""


def _xml_error(exc: xml.sax.SAXParseException, body: bytes) -> str:
    # feedparser prepends an XML declaration and a newline when the document has none,
    # so the parser counts one line too many.
    offset = 0 if body.removeprefix(codecs.BOM_UTF8).startswith(b"<?xml") else 1
    line = max(1, (exc.getLineNumber() or 1) - offset)
    return f"XML error at line {line}: {exc.getMessage()}"


def _bozo_reason(result: Any, body: bytes, charset_note: str | None) -> str | None:
    """What was wrong with a feed feedparser could still read, or None."""
    reasons = [charset_note] if charset_note else []
    exc = result.get("bozo_exception") if result.get("bozo") else None
    if isinstance(exc, xml.sax.SAXParseException):
        reasons.append(_xml_error(exc, body))
    elif exc is not None:
        reasons.append(str(exc) or type(exc).__name__)
    return "; ".join(reasons) or None


# --- normalization ------------------------------------------------------------------


def _normalize_feed(
    result: Any, base: str, fetched_at: datetime, bozo_reason: str | None
) -> ParsedFeed:
    feed = result.get("feed") or {}
    entries = []
    dropped = 0
    for raw in result.get("entries") or []:
        entry = _normalize_entry(raw, base, fetched_at)
        if entry is not None:
            entries.append(entry)
        else:
            dropped += 1
    return ParsedFeed(
        title=_one_line(_detail_text(feed.get("title_detail"), feed.get("title"))) or None,
        link=_web_link(base, feed.get("link")),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
        entries=entries,
        bozo_reason=bozo_reason,
        dropped=dropped,
        format=str(result.get("version") or "") or None,
    )


# PostgreSQL refuses btree index entries over ~2.7 KB; real article URLs are far shorter.
MAX_INDEXED_URL = 2000


def _normalize_entry(raw: Any, base: str, fetched_at: datetime) -> NormalizedEntry | None:
    title = _one_line(_detail_text(_value(raw, "title_detail"), _value(raw, "title")))
    text = _entry_text(raw)
    href = _value(raw, "link")
    link = _web_link(base, href)
    if not (title or text or link):
        return None
    canonical = canonical_url(link) if link else None
    if canonical and len(canonical) > MAX_INDEXED_URL:
        canonical = None  # too long to index (PostgreSQL btree rows); identity falls back
    guid = _clean(_value(raw, "id"))
    published = from_struct_time(_value(raw, "published_parsed"))
    # The updated date only counts without a published one (and asking feedparser for it
    # when it is missing costs a DeprecationWarning).
    updated = from_struct_time(raw.get("updated_parsed")) if published is None else None
    identity_guid = _identity_guid(guid, base, canonical, href)
    return NormalizedEntry(
        identity_key=identity_key(identity_guid, canonical, title, text),
        guid=guid,
        url=link,
        canonical_url=canonical,
        title=title,
        text=text,
        author=_author(raw),
        published_at=published_time(published, updated, fetched_at),
        content_hash=content_hash(title, text),
        match_text=article_match_form(title, text),
        semantic_features=article_features(title, text),
    )


def derived(entries: list[NormalizedEntry]) -> list[NormalizedEntry]:
    """The entries with what is computed from them once, here, in the parse worker, instead
    of on the database writer: their story signatures and band hashes. The one place to add
    further per-entry features. A feed's entries at once: numpy's cost is mostly per call."""
    signatures = dedup.minhashes([(entry.title, entry.text) for entry in entries])
    stored = dedup.stored_form(signatures).astype("<u2")
    bands = dedup.band_hashes_of(signatures)
    return [
        replace(entry, story_signature=stored[row].tobytes(), story_bands=tuple(bands[row]))
        for row, entry in enumerate(entries)
    ]


def _value(raw: Any, key: str) -> Any:
    """raw.get(key), for a feedparser entry and a key FeedParserDict has no alias or computed
    value for (all those read here but updated_parsed, which falls back to published_parsed):
    the plain dict's lookup gives its answer without its four Python calls."""
    return dict.get(raw, key)


def _identity_guid(guid: str | None, base: str, canonical: str | None, href: object) -> str | None:
    """The guid to identify the entry by, or None to identify it by its canonical link.

    A guid that is the entry's own link (RSS permalinks, Atom ids that are URLs) says
    nothing the link does not, and taking it raw would make a tracking parameter added
    to both a new identity. `href` is the link as the feed wrote it, whose canonical form
    is `canonical`.
    """
    if guid is None or canonical is None:
        return guid
    if guid == href:
        # Written as the link was, so it resolves to the link and to `canonical`: no need
        # to parse it again (the case of half the entries of the outlet feeds, and URL
        # parsing is a fifth of normalising an entry).
        return None
    resolved = resolve_url(base, guid)
    if resolved and is_web_url(resolved) and canonical_url(resolved) == canonical:
        return None
    return guid


def _entry_text(raw: Any) -> str:
    """Plain text of the entry body: the longest content, else the summary."""
    contents = [c for c in _value(raw, "content") or [] if c.get("value")]
    if contents:
        longest = max(contents, key=lambda c: len(c.get("value") or ""))
        text = _detail_text(longest, longest.get("value"))
        if text:
            return text
    return _detail_text(_value(raw, "summary_detail"), _value(raw, "summary"))


def _detail_text(detail: Any, value: Any) -> str:
    """A feedparser text construct as plain text, by its declared type."""
    if detail:
        value = detail.get("value", value)
        kind = (detail.get("type") or "text/html").lower()
    else:
        kind = "text/html"
    if not isinstance(value, str) or not value:
        return ""
    if kind == "text/plain":
        # Already literal text: a "<" here is a character, not a tag.
        return tidy_text(value)
    if kind in _HTML_TYPES or "xml" in kind or "html" in kind:
        return html_to_text(value)
    if kind.startswith("text/"):
        return tidy_text(value)
    return ""  # base64 images and other binary payloads are not text


def _web_link(base: str, href: Any) -> str | None:
    if not isinstance(href, str):
        return None
    link = resolve_url(base, href)
    return link if is_web_url(link) else None


def _author(raw: Any) -> str | None:
    detail = _value(raw, "author_detail") or {}
    name = detail.get("name") or _value(raw, "author")
    if not isinstance(name, str):
        return None
    return _one_line(tidy_text(name)) or None


def _ttl_seconds(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


def _one_line(text: str) -> str:
    # Titles and names are headings: line breaks in them are layout, not meaning.
    return " ".join(text.split())


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None
