"""The fast path of the feed parser: well-formed feeds read with lxml, to the same result.

feedparser costs 15-50 ms for a typical outlet feed, almost all of it in its Python handlers
(per element and per text chunk), not in the XML parser. This module drives lxml's C parser
with a target that ports the part of feedparser's state machine (feedparser/mixin.py and
namespaces/_base.py, dc.py, mediarss.py) that decides the fields adapters/feed_parse.py
keeps: titles and their types, links (xml:base included), guids, authors, dates, summaries
and contents, the feed's title, link and ttl, the format name. It builds the same
FeedParserDicts (their key aliases matter: "description" is "summary"), so the
normalisation that follows is shared code, and uses feedparser's own helpers wherever there
is one: the character decoding (`convert_to_utf8`), the date handlers (`_parse_date`), URL
joining, the HTML guess for plain-text elements.

It does not guess. `read_fast` raises `Doubt`, and the caller hands the body to feedparser,
on anything it cannot show to give feedparser's answer: a document the strict parser would
not read (XML errors, a DOCTYPE and its entities, an encoding feedparser could not decode),
a root other than RSS, Atom or RDF, an element for which feedparser has a handler that is not
ported here (iTunes, GeoRSS, CDF attributes...), markup inside a text element (Atom xhtml,
escaped-markup mistakes), base64 content, attributes in undeclared-looking namespaces, and
any error inside the port itself. The decision is made before any output exists.

No network, no disk, no clock: bytes in, a feedparser-shaped dict out.
"""

from __future__ import annotations

import contextlib
import copy
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import (
    CharacterEncodingOverride,
    NonXMLContentType,
    convert_to_utf8,
)
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urifixer, make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

# feedparser's table of namespace URIs to its own prefixes ('' for the feed formats).
_MATCH: dict[str, str] = {
    uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()
}
_STANDARD_PREFIXES = frozenset(_MATCH.values())
_CAN_BE_RELATIVE = frozenset(_FeedParserMixin.can_be_relative_uri)
_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_XHTML = "application/xhtml+xml"
_ROOTS = frozenset({"rss", "feed", "rdf:rdf"})
# Unprefixed elements that do not end feedparser's "in textinput" and "in image" states.
_KEEP_TEXTINPUT = frozenset({"title", "link", "description", "name"})
_KEEP_IMAGE = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_UNSTORED = frozenset({"category", "tags", "itunes_keywords"})  # pop returns, stores not
_ALIASES = {
    key: alias[0] if isinstance(alias, list) else alias
    for key, alias in FeedParserDict.keymap.items()
}
_C1_CONTROLS = re.compile("[\x80-\x9f]")  # what feedparser's _cp1252 table maps
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
_ATOM_VERSIONS = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
_looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html
_map_content_type: Callable[[str], str] = _FeedParserMixin.map_content_type


class Doubt(Exception):
    """The fast path cannot show it would give feedparser's answer; str() says why."""


def read_fast(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser.parse(body, response_headers=headers, sanitize_html=False,
    resolve_relative_uris=False), for the fields feed_parse keeps; or Doubt.

    `headers` are the ones feed_parse hands feedparser (Content-Type, Content-Language).
    """
    result = FeedParserDict(bozo=False, entries=[], feed=FeedParserDict(), headers={})
    result["headers"].update(headers)
    data = convert_to_utf8(result["headers"], body, result)
    if not result.get("encoding"):
        raise Doubt("encoding unknown to feedparser")
    exc = result.get("bozo_exception")
    if exc is not None and not isinstance(exc, (NonXMLContentType, CharacterEncodingOverride)):
        raise Doubt(f"feedparser would flag {type(exc).__name__}")
    machine = _Machine()
    parser = etree.XMLParser(
        target=machine,
        # No DOCTYPE gets this far (doctype() refuses it), so there are no entities to
        # resolve; False would make libxml2 hand attribute values over with "&#38;".
        resolve_entities="internal",
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        etree.fromstring(data, parser)
    except Doubt:
        raise
    except etree.XMLSyntaxError as error:
        raise Doubt("not well-formed XML") from error
    except Exception as error:  # anything the port did not foresee: feedparser decides
        raise Doubt(f"unexpected {type(error).__name__} in the fast reader") from error
    if parser.error_log:
        # Errors libxml2 recovers from and expat does not: an undeclared prefix (which a
        # target parser silently drops), an invalid namespace URI.
        raise Doubt(f"XML warning: {parser.error_log[0].type_name}")
    result["feed"] = machine.feeddata
    result["entries"] = machine.entries
    result["version"] = machine.version
    return result


# A handler takes the element's attributes (start) or nothing (end).
_Start = Callable[["_Machine", dict[str, str]], None]
_End = Callable[["_Machine"], None]


class _Machine:
    """An lxml parser target with feedparser's state: the element stack, the in-entry and
    in-image flags, the base URI stack, the title depth. Method names follow feedparser's
    so each port can be read side by side with the original."""

    def __init__(self) -> None:
        self.feeddata = FeedParserDict()
        self.entries: list[Any] = []
        self.version = ""
        self.infeed = self.inentry = self.incontent = 0
        self.intextinput = self.inimage = self.inauthor = 0
        self.incontributor = self.inpublisher = self.insource = 0
        self.sourcedata = FeedParserDict()
        # A plain dict: feedparser's FeedParserDict, but none of its keys has an alias.
        self.contentparams: dict[str, str] = {}
        self.summary_key: str | None = None
        self.namespacemap: dict[str | None, str] = {}
        self.namespaces_in_use: dict[str, str] = {}
        self.elementstack: list[list[Any]] = []
        self.basestack: list[str] = []
        self.baseuri = ""
        self.joined: dict[tuple[str, str], str] = {}
        self.title_depth = -1
        self.depth = 0
        self.has_content = 0
        self.guidislink = False
        # feedparser's property_depth_map, one dict per entry, in step with self.entries.
        self.depths: list[dict[str, int]] = []
        # In-scope namespace declarations, innermost last, and those made on the next start.
        self.bindings: list[tuple[str | None, str]] = []
        self.pending: list[tuple[str | None, str]] = []
        self.scopes: list[int] = []
        self.tags: list[str] = []
        # Per document: lxml's tag -> feedparser's tag, and feedparser's tag -> (handler
        # name, has a prefix); both cleared when a namespace declaration changes them.
        self.names: dict[str, str] = {}
        self.dispatch: dict[str, tuple[str, bool]] = {}
        self.seen_root = False

    # --- lxml's target interface ------------------------------------------------------

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise Doubt("a DOCTYPE (feedparser rewrites its entities)")

    def start_ns(self, prefix: str | None, uri: str) -> None:
        prefix = prefix or None
        if not uri:
            return
        if prefix and uri == "http://www.w3.org/1999/xlink":
            raise Doubt("an xlink declaration (feedparser adds it to the next attributes)")
        known = _MATCH.get(uri.lower())
        if (
            known is not None
            and prefix is not None
            and prefix != known
            and prefix in _STANDARD_PREFIXES
        ):
            # feedparser would rename this prefix's elements to another family's
            raise Doubt(f"prefix {prefix}: bound to a namespace of another prefix")
        self.pending.append((prefix, uri))
        self._track_namespace(prefix, uri)
        self.dispatch.clear()  # namespacemap may have changed

    def end_ns(self, prefix: str | None) -> None:
        pass  # scopes are closed in end(), with the element that opened them

    # start, end and data run for every element and text chunk (some 300 and 1,000 in an
    # outlet feed): they keep the common case (no namespace declaration, no attribute) to
    # a few dict and list operations.

    def start(self, tag: str, attrib: Any) -> None:
        pending = self.pending
        if pending:
            self.bindings.extend(pending)
            self.names.clear()  # a new prefix may name this element's family
            self.scopes.append(len(pending))
            self.pending = []
        else:
            self.scopes.append(0)
        name = self.names.get(tag)
        if name is None:
            name = self.names[tag] = self._element_name(tag)
        if not self.seen_root:
            self.seen_root = True
            if name not in _ROOTS:
                raise Doubt(f"root element <{name}>")
        self.tags.append(name)
        self._unknown_starttag(name, self._attributes(attrib) if attrib else {})

    def end(self, tag: str) -> None:
        self._unknown_endtag(self.tags.pop())
        scope = self.scopes.pop()
        if scope:
            del self.bindings[-scope:]

    def data(self, text: str) -> None:
        if self.elementstack:
            self.elementstack[-1][2].append(text)

    def close(self) -> None:
        return None

    # --- names, as the SAX driver and startElementNS make them -------------------------

    def _element_name(self, tag: str) -> str:
        if tag[0] == "{":
            uri, local = tag[1:].split("}", 1)
        else:
            uri, local = "", tag
        lower = uri.lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        local = local.lower()
        prefix = _MATCH.get(lower)
        if prefix is None:
            prefix = self._given_prefix(uri, local)
        return f"{prefix.lower()}:{local}" if prefix else local

    def _given_prefix(self, uri: str, local: str) -> str | None:
        """The document's prefix for a namespace feedparser does not know. SAX reports the
        prefix as written and lxml's target interface does not; it names the element's
        handler and its key. With one prefix for the URI in scope there is no question;
        with several (WSJ binds wsj: and dj: to one URI), any of them will do as long as
        none names a handler, so that every choice means the same generic element."""
        prefixes = sorted({prefix or "" for prefix, bound in self.bindings if bound == uri})
        if not prefixes or (len(prefixes) > 1 and "" in prefixes):
            raise Doubt(f"namespace {uri} bound to prefixes {prefixes}")
        for prefix in prefixes:
            if prefix and self.namespacemap.get(prefix, prefix) != prefix:
                raise Doubt(f"prefix {prefix}: bound to two namespaces")
            if len(prefixes) > 1 and f"{prefix.lower()}_{local}" in _HANDLED:
                raise Doubt(f"namespace {uri} bound to prefixes {prefixes}")
        return prefixes[0] or None

    def _attributes(self, attrib: Any) -> dict[str, str]:
        attrs: dict[str, str] = {}
        for key, value in attrib.items():
            if key[0] == "{":
                uri, local = key[1:].split("}", 1)
                prefix = _MATCH.get(uri.lower())
                if prefix is None:
                    raise Doubt(f"an attribute in namespace {uri}")
                # SAX reports the mapped name and the name as written; both are kept.
                name = f"{prefix}:{local}" if prefix else local
                attrs[name.lower()] = value
                given = "xml" if prefix == "xml" else self._written_prefix(uri)
                attrs[f"{given}:{local}".lower()] = value
            else:
                attrs[key.lower()] = value
        return {k: v.lower() if k in ("rel", "type") else v for k, v in attrs.items()}

    def _written_prefix(self, uri: str) -> str:
        prefixes = {prefix for prefix, bound in self.bindings if bound == uri and prefix}
        if len(prefixes) != 1:
            raise Doubt(f"attribute namespace {uri} bound to {len(prefixes)} prefixes")
        return prefixes.pop()

    def _track_namespace(self, prefix: str | None, uri: str) -> None:
        loweruri = uri.lower()
        if not self.version:
            if (prefix, loweruri) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
                self.version = "rss090"
            elif loweruri == "http://purl.org/rss/1.0/":
                self.version = "rss10"
            elif loweruri == "http://www.w3.org/2005/atom":
                self.version = "atom10"
        if "backend.userland.com/rss" in loweruri:
            uri = loweruri = "http://backend.userland.com/rss"
        if loweruri in _MATCH:
            self.namespacemap[prefix] = _MATCH[loweruri]
            self.namespaces_in_use[_MATCH[loweruri]] = uri
        else:
            self.namespaces_in_use[prefix or ""] = uri

    # --- feedparser's unknown_starttag / unknown_endtag --------------------------------

    def _unknown_starttag(self, tag: str, attrs_d: dict[str, str]) -> None:
        self.depth += 1
        current = self.baseuri
        baseuri = (attrs_d.get("xml:base", attrs_d.get("base")) if attrs_d else None) or current
        key = (current, baseuri)
        joined = self.joined.get(key)
        if joined is None:  # the same pair on nearly every element: join it once
            if current:
                joined = make_safe_absolute_uri(current, baseuri) or current
            else:
                joined = _urljoin(current, baseuri)
            self.joined[key] = joined
        self.baseuri = joined
        self.basestack.append(joined)
        if self.incontent:
            # markup inside a text element: feedparser re-serialises it as xhtml
            raise Doubt(f"markup <{tag}> inside a text element")
        known = self.dispatch.get(tag)
        name, prefixed = known if known is not None else self._dispatch_name(tag)
        if not prefixed and tag not in _KEEP_TEXTINPUT:
            self.intextinput = 0
        if not prefixed and tag not in _KEEP_IMAGE:
            self.inimage = 0
        handler = _STARTS.get(name)
        if handler is not None:
            handler(self, attrs_d)
        elif name in _UNPORTED_STARTS:
            raise Doubt(f"element <{tag}> (feedparser's _start_{name} is not ported)")
        elif not attrs_d:
            self.push(name, 1)
        else:
            self._get_context()[name] = attrs_d

    def _dispatch_name(self, tag: str) -> tuple[str, bool]:
        """The name of feedparser's handler for a tag, and whether it has a prefix."""
        known = self.dispatch.get(tag)
        if known is None:
            prefix, _, suffix = tag.rpartition(":")
            prefix = self.namespacemap.get(prefix, prefix)
            known = self.dispatch[tag] = (f"{prefix}_{suffix}" if prefix else suffix, bool(prefix))
        return known

    def _unknown_endtag(self, tag: str) -> None:
        known = self.dispatch.get(tag)
        name = (known if known is not None else self._dispatch_name(tag))[0]
        handler = _ENDS.get(name)
        if handler is not None:
            handler(self)
        elif name in _UNPORTED_ENDS:
            raise Doubt(f"element <{tag}> (feedparser's _end_{name} is not ported)")
        else:
            self.pop(name)
        basestack = self.basestack
        if basestack:
            basestack.pop()
            if basestack and basestack[-1]:
                self.baseuri = basestack[-1]
        self.depth -= 1

    # --- the element stack (mixin.push / pop / push_content / pop_content) -------------

    def push(self, element: str, expecting_text: Any) -> None:
        self.elementstack.append([element, expecting_text, []])

    def pop(self, element: str) -> str | None:
        if not self.elementstack or self.elementstack[-1][0] != element:
            return None
        element, expecting_text, pieces = self.elementstack.pop()
        output: str = "".join(pieces).strip()
        if not expecting_text:
            return output
        if element in _CAN_BE_RELATIVE and output and (element != "id" or self.guidislink):
            output = _urljoin(self.baseuri or "", output)
        params = self.contentparams
        if (
            params
            and params["type"] == "text/plain"
            and not self.version.startswith("atom")
            and _looks_like_html(output)
        ):
            params["type"] = "text/html"
        if not output.isascii():  # both steps below leave ASCII as it is
            # feedparser's repair of UTF-8 that was decoded as Latin-1 and re-encoded
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            if _C1_CONTROLS.search(output):  # str.translate with a dict is slow per char
                output = output.translate(_cp1252)
        if element in _UNSTORED:
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                dict.setdefault(entry, "content", []).append(self._detail(output))
            elif element == "link":
                if not self.inimage:
                    output = _LINK_ENTITY.sub(r"&\g<1>", output.replace("&amp;", "&"))
                    _put(entry, element, output)
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self.depths[-1]
                old_depth = depths.get(element)
                if old_depth is None or self.depth <= old_depth:
                    depths[element] = self.depth
                    _put(entry, element, output)
                if self.incontent:
                    _put(entry, element + "_detail", self._detail(output))
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            _put(context, element, output)
            if element == "link":
                output = _LINK_ENTITY.sub(r"&\g<1>", output)
                _put(context, element, output)
                context["links"][-1]["href"] = output
            elif self.incontent:
                _put(context, element + "_detail", self._detail(output))
        return output

    def _detail(self, output: str) -> Any:
        # feedparser deep-copies; every value here is a string, so a copy is as deep.
        detail = dict(self.contentparams)
        detail["value"] = output
        return detail

    def push_content(self, tag: str, attrs_d: dict[str, str], default: str, expecting: Any) -> None:
        self.incontent += 1
        kind = _map_content_type(attrs_d.get("type", default))
        if kind == _XHTML:
            raise Doubt(f"<{tag}> of type xhtml")
        if attrs_d.get("mode", "") == "base64" or not (
            kind.startswith("text/") or kind.endswith("+xml") or kind.endswith("/xml")
        ):
            raise Doubt(f"<{tag}> of type {kind} (base64)")
        self.contentparams = {"type": kind, "base": self.baseuri}
        self.push(tag, expecting)

    def pop_content(self, tag: str) -> str | None:
        value = self.pop(tag)
        self.incontent -= 1
        self.contentparams.clear()
        return value

    # --- contexts and authors ----------------------------------------------------------

    def _get_context(self) -> Any:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            return self.feeddata["image"]
        if self.intextinput:
            return self.feeddata["textinput"]
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def _save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self._get_context()
        if overwrite:
            context[key] = value
        else:
            _setdefault(context, key, value)

    def _save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self._get_context()
        context.setdefault(prefix + "_detail", FeedParserDict())
        context[prefix + "_detail"][key] = value
        self._sync_author_detail()
        context.setdefault("authors", [FeedParserDict()])
        context["authors"][-1][key] = value

    def _save_contributor(self, key: str, value: Any) -> None:
        context = self._get_context()
        context.setdefault("contributors", [FeedParserDict()])
        context["contributors"][-1][key] = value

    def _sync_author_detail(self, key: str = "author") -> None:
        context = self._get_context()
        detail = context.get(f"{key}s", [FeedParserDict()])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context[key] = f"{name} ({email})"
            elif name:
                context[key] = name
            elif email:
                context[key] = email
            return
        author, email = context.get(key), None
        if not author:
            return
        match = _EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault(f"{key}_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _add_tag(self, term: Any, scheme: Any, label: Any) -> None:
        tags = _setdefault(self._get_context(), "tags", [])
        if not term and not scheme and not label:
            return
        value = FeedParserDict(term=term, scheme=scheme, label=label)
        if value not in tags:
            tags.append(value)

    # --- ported handlers (namespaces/_base.py) -----------------------------------------

    def _start_rss(self, attrs_d: dict[str, str]) -> None:
        if not self.version or not self.version.startswith("rss"):
            attr_version = attrs_d.get("version", "")
            version = _RSS_VERSIONS.get(attr_version)
            if version:
                self.version = version
            elif attr_version.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"

    def _start_channel(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        self._no_cdf(attrs_d)

    def _no_cdf(self, attrs_d: dict[str, str]) -> None:
        if "lastmod" in attrs_d or "href" in attrs_d:
            raise Doubt("CDF attributes (lastmod, href)")

    def _start_feed(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        if not self.version:
            self.version = _ATOM_VERSIONS.get(attrs_d.get("version", ""), "atom")

    def _end_channel(self) -> None:
        self.infeed = 0

    def _start_image(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if not self.inentry:
            context.setdefault("image", FeedParserDict())
        self.inimage = 1
        self.title_depth = -1
        self.push("image", 0)

    def _end_image(self) -> None:
        self.pop("image")
        self.inimage = 0

    def _start_textinput(self, attrs_d: dict[str, str]) -> None:
        self._get_context().setdefault("textinput", FeedParserDict())
        self.intextinput = 1
        self.title_depth = -1
        self.push("textinput", 0)

    def _end_textinput(self) -> None:
        self.pop("textinput")
        self.intextinput = 0

    def _start_author(self, attrs_d: dict[str, str]) -> None:
        self.inauthor = 1
        self.push("author", 1)
        context = self._get_context()
        context.setdefault("authors", [])
        context["authors"].append(FeedParserDict())

    def _end_author(self) -> None:
        self.pop("author")
        self.inauthor = 0
        self._sync_author_detail()

    def _start_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append(FeedParserDict())
        self.push("contributor", 0)

    def _end_contributor(self) -> None:
        self.pop("contributor")
        self.incontributor = 0

    def _start_dc_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append(FeedParserDict())
        self.push("name", 0)

    def _end_dc_contributor(self) -> None:
        self._end_name()
        self.incontributor = 0

    def _start_name(self, attrs_d: dict[str, str]) -> None:
        self.push("name", 0)

    def _end_name(self) -> None:
        value = self.pop("name")
        if self.inpublisher:
            self._save_author("name", value, "publisher")
        elif self.inauthor:
            self._save_author("name", value)
        elif self.incontributor:
            self._save_contributor("name", value)
        elif self.intextinput:
            self._get_context()["name"] = value

    def _start_url(self, attrs_d: dict[str, str]) -> None:
        self.push("href", 1)

    def _end_url(self) -> None:
        value = self.pop("href")
        if self.inauthor:
            self._save_author("href", value)
        elif self.incontributor:
            self._save_contributor("href", value)

    def _start_email(self, attrs_d: dict[str, str]) -> None:
        self.push("email", 0)

    def _end_email(self) -> None:
        value = self.pop("email")
        if self.inpublisher:
            self._save_author("email", value, "publisher")
        elif self.inauthor:
            self._save_author("email", value)
        elif self.incontributor:
            self._save_contributor("email", value)

    def _start_subtitle(self, attrs_d: dict[str, str]) -> None:
        self.push_content("subtitle", attrs_d, "text/plain", 1)

    def _end_subtitle(self) -> None:
        self.pop_content("subtitle")

    def _start_rights(self, attrs_d: dict[str, str]) -> None:
        self.push_content("rights", attrs_d, "text/plain", 1)

    def _end_rights(self) -> None:
        self.pop_content("rights")

    def _start_item(self, attrs_d: dict[str, str]) -> None:
        self.entries.append(FeedParserDict())
        self.depths.append({})
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = False
        self.title_depth = -1
        about = attrs_d.get(self._map_to_standard_prefix("rdf:about"))
        if about:
            self._get_context()["id"] = about
        self._no_cdf(attrs_d)

    def _map_to_standard_prefix(self, name: str) -> str:
        prefix, _, suffix = name.partition(":")
        return self.namespacemap.get(prefix, prefix) + ":" + suffix

    def _end_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.has_content = 0

    def _start_language(self, attrs_d: dict[str, str]) -> None:
        self.push("language", 1)

    def _end_language(self) -> None:
        self.pop("language")  # feedparser keeps it as the language of what follows

    def _start_webmaster(self, attrs_d: dict[str, str]) -> None:
        self.push("publisher", 1)

    def _end_webmaster(self) -> None:
        self.pop("publisher")
        self._sync_author_detail("publisher")

    def _start_published(self, attrs_d: dict[str, str]) -> None:
        self.push("published", 1)

    def _end_published(self) -> None:
        self._save("published_parsed", _parse_date(self.pop("published")), overwrite=True)

    def _start_updated(self, attrs_d: dict[str, str]) -> None:
        self.push("updated", 1)

    def _end_updated(self) -> None:
        self._save("updated_parsed", _parse_date(self.pop("updated")), overwrite=True)

    def _start_created(self, attrs_d: dict[str, str]) -> None:
        self.push("created", 1)

    def _end_created(self) -> None:
        self._save("created_parsed", _parse_date(self.pop("created")), overwrite=True)

    def _start_expirationdate(self, attrs_d: dict[str, str]) -> None:
        self.push("expired", 1)

    def _end_expirationdate(self) -> None:
        self._save("expired_parsed", _parse_date(self.pop("expired")), overwrite=True)

    def _start_category(self, attrs_d: dict[str, str]) -> None:
        scheme = attrs_d.get("scheme", attrs_d.get("domain"))
        self._add_tag(attrs_d.get("term"), scheme, attrs_d.get("label"))
        self.push("category", 1)

    def _end_category(self) -> None:
        value = self.pop("category")
        if not value:
            return
        tags = _item(self._get_context(), "tags")
        if value and len(tags) and not _item(tags[-1], "term"):
            tags[-1]["term"] = value
        else:
            self._add_tag(value, None, None)

    def _start_cloud(self, attrs_d: dict[str, str]) -> None:
        self._get_context()["cloud"] = FeedParserDict(attrs_d)

    def _start_link(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("rel", "alternate")
        if attrs_d["rel"] == "self":
            attrs_d.setdefault("type", "application/atom+xml")
        else:
            attrs_d.setdefault("type", "text/html")
        context = self._get_context()
        attrs_d = _enforce_href(attrs_d)
        if "href" in attrs_d:
            attrs_d["href"] = _urljoin(self.baseuri or "", attrs_d["href"])
        expecting_text = self.infeed or self.inentry or self.insource
        links = _setdefault(context, "links", [])
        if not (self.inentry and self.inimage):
            links.append(FeedParserDict(attrs_d))
        if "href" in attrs_d:
            if (
                attrs_d.get("rel") == "alternate"
                and _map_content_type(attrs_d.get("type", "")) in _HTML_TYPES
            ):
                context["link"] = attrs_d["href"]
        else:
            self.push("link", expecting_text)

    def _end_link(self) -> None:
        self.pop("link")

    def _start_guid(self, attrs_d: dict[str, str]) -> None:
        self.guidislink = attrs_d.get("ispermalink", "true") == "true"
        self.push("id", 1)

    def _end_guid(self) -> None:
        value = self.pop("id")
        self._save("guidislink", self.guidislink and "link" not in self._get_context())
        if self.guidislink:
            self._save("link", value)

    def _start_title(self, attrs_d: dict[str, str]) -> None:
        expecting = self.infeed or self.inentry or self.insource
        self.push_content("title", attrs_d, "text/plain", expecting)

    def _end_title(self) -> None:
        value = self.pop_content("title")
        if not value:
            return
        self.title_depth = self.depth

    def _start_description(self, attrs_d: dict[str, str]) -> None:
        if "summary" in self._get_context() and not self.has_content:
            self.summary_key = "content"
            self._start_content(attrs_d)
        else:
            expecting = self.infeed or self.inentry or self.insource
            self.push_content("description", attrs_d, "text/html", expecting)

    def _start_abstract(self, attrs_d: dict[str, str]) -> None:
        expecting = self.infeed or self.inentry or self.insource
        self.push_content("description", attrs_d, "text/plain", expecting)

    def _end_description(self) -> None:
        if self.summary_key == "content":
            self._end_content()
        else:
            self.pop_content("description")
        self.summary_key = None

    def _start_info(self, attrs_d: dict[str, str]) -> None:
        self.push_content("info", attrs_d, "text/plain", 1)

    def _end_info(self) -> None:
        self.pop_content("info")

    def _start_generator(self, attrs_d: dict[str, str]) -> None:
        if attrs_d:
            attrs_d = _enforce_href(attrs_d)
            if "href" in attrs_d:
                attrs_d["href"] = _urljoin(self.baseuri or "", attrs_d["href"])
        self._get_context()["generator_detail"] = FeedParserDict(attrs_d)
        self.push("generator", 1)

    def _end_generator(self) -> None:
        value = self.pop("generator")
        context = self._get_context()
        if "generator_detail" in context:
            context["generator_detail"]["name"] = value

    def _start_summary(self, attrs_d: dict[str, str]) -> None:
        if "summary" in self._get_context() and not self.has_content:
            self.summary_key = "content"
            self._start_content(attrs_d)
        else:
            self.summary_key = "summary"
            self.push_content(self.summary_key, attrs_d, "text/plain", 1)

    def _end_summary(self) -> None:
        if self.summary_key == "content":
            self._end_content()
        else:
            self.pop_content(self.summary_key or "summary")
        self.summary_key = None

    def _start_enclosure(self, attrs_d: dict[str, str]) -> None:
        attrs_d = _enforce_href(attrs_d)
        attrs_d["rel"] = "enclosure"
        _setdefault(self._get_context(), "links", []).append(FeedParserDict(attrs_d))

    def _start_source(self, attrs_d: dict[str, str]) -> None:
        if "url" in attrs_d:
            self.sourcedata["href"] = attrs_d["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def _end_source(self) -> None:
        self.insource = 0
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self._get_context()["source"] = copy.deepcopy(self.sourcedata)
        self.sourcedata.clear()

    def _start_content(self, attrs_d: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content("content", attrs_d, "text/plain", 1)
        src = attrs_d.get("src")
        if src:
            self.contentparams["src"] = src
        self.push("content", 1)

    def _start_content_encoded(self, attrs_d: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content("content", attrs_d, "text/html", 1)

    def _end_content(self) -> None:
        kind = _map_content_type(self.contentparams.get("type", ""))
        copy_to_summary = kind in {"text/plain"} | _HTML_TYPES
        value = self.pop_content("content")
        if copy_to_summary:
            self._save("summary", value)

    def _start_width(self, attrs_d: dict[str, str]) -> None:
        self.push("width", 0)

    def _end_width(self) -> None:
        self._image_size("width")

    def _start_height(self, attrs_d: dict[str, str]) -> None:
        self.push("height", 0)

    def _end_height(self) -> None:
        self._image_size("height")

    def _image_size(self, key: str) -> None:
        value = self.pop(key)
        try:
            size = int(value)  # type: ignore[arg-type]
        except ValueError:
            size = 0
        if self.inimage:
            self._get_context()[key] = size

    # --- media (namespaces/mediarss.py): only what moves the stack or the title ---------

    def _start_media_category(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self._start_category(attrs_d)

    def _end_media_keywords(self) -> None:
        for term in (self.pop("media_keywords") or "").split(","):
            if term.strip():
                self._add_tag(term.strip(), None, None)

    def _end_media_title(self) -> None:
        title_depth = self.title_depth
        self._end_title()
        self.title_depth = title_depth

    def _start_media_group(self, attrs_d: dict[str, str]) -> None:
        pass

    def _start_media_content(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        _setdefault(context, "media_content", []).append(attrs_d)

    def _start_media_thumbnail(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        thumbnails = _setdefault(context, "media_thumbnail", [])
        self.push("url", 1)
        thumbnails.append(attrs_d)

    def _end_media_thumbnail(self) -> None:
        url = self.pop("url")
        context = self._get_context()
        thumbnail = _item(context, "media_thumbnail")[-1]
        if url is not None and url.strip() and "url" not in thumbnail:
            thumbnail["url"] = url

    def _start_media_credit(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        _setdefault(context, "media_credit", []).append(attrs_d)
        self.push("credit", 1)

    def _end_media_credit(self) -> None:
        credit = self.pop("credit")
        if credit is not None and credit.strip():
            _item(self._get_context(), "media_credit")[-1]["content"] = credit


def _put(context: Any, key: str, value: Any) -> None:
    """FeedParserDict.__setitem__ (its aliases: "description" is stored as "summary"),
    without a Python call into it for every element."""
    dict.__setitem__(context, _ALIASES.get(key, key), value)


# Keys FeedParserDict reads or writes as another (its keymap) or computes ("category" from
# the tags, "updated" falling back to "published"...). For any other key its methods (four
# Python calls for a setdefault) do what the plain dict's do, and _setdefault and _item use
# those: tags, links and media lists are touched for every category and link element.
_MAPPED_KEYS = frozenset(FeedParserDict.keymap) | {
    "category",
    "enclosures",
    "license",
    "updated",
    "updated_parsed",
}


def _setdefault(context: Any, key: str, default: Any) -> Any:
    """context.setdefault(key, default), for a FeedParserDict or a plain dict."""
    if key in _MAPPED_KEYS:
        return context.setdefault(key, default)
    return dict.setdefault(context, key, default)


def _item(context: Any, key: str) -> Any:
    """context[key], for a FeedParserDict or a plain dict."""
    if key in _MAPPED_KEYS:
        return context[key]
    return dict.__getitem__(context, key)


def _urljoin(base: str, uri: str) -> str:
    """feedparser's urls._urljoin, which first drops extra slashes after "scheme://". It
    does so with a substitution whose template costs a Python call per match, and every
    absolute link matches; matching and rebuilding only when there are slashes to drop
    gives the same string (tests/adapters/test_feed_fast.py compares the two)."""
    fixed = _urifixer.match(uri)
    if fixed is not None and fixed.group(2):
        uri = fixed.group(1) + uri[fixed.end(2) :]
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _enforce_href(attrs_d: dict[str, str]) -> dict[str, str]:
    href = attrs_d.get("url", attrs_d.get("uri", attrs_d.get("href")))
    if href:
        attrs_d.pop("url", None)
        attrs_d.pop("uri", None)
        attrs_d["href"] = href
    return attrs_d


_M = _Machine
# feedparser's aliases: several elements share one handler.
_STARTS: dict[str, _Start] = {
    "rss": _M._start_rss,
    "channel": _M._start_channel,
    "feed": _M._start_feed,
    "image": _M._start_image,
    "textinput": _M._start_textinput,
    "author": _M._start_author,
    "managingeditor": _M._start_author,
    "dc_author": _M._start_author,
    "dc_creator": _M._start_author,
    "contributor": _M._start_contributor,
    "dc_contributor": _M._start_dc_contributor,
    "name": _M._start_name,
    "url": _M._start_url,
    "homepage": _M._start_url,
    "uri": _M._start_url,
    "email": _M._start_email,
    "subtitle": _M._start_subtitle,
    "tagline": _M._start_subtitle,
    "rights": _M._start_rights,
    "copyright": _M._start_rights,
    "dc_rights": _M._start_rights,
    "item": _M._start_item,
    "entry": _M._start_item,
    "language": _M._start_language,
    "dc_language": _M._start_language,
    "webmaster": _M._start_webmaster,
    "dc_publisher": _M._start_webmaster,
    "published": _M._start_published,
    "issued": _M._start_published,
    "pubdate": _M._start_published,
    "dcterms_issued": _M._start_published,
    "updated": _M._start_updated,
    "modified": _M._start_updated,
    "lastbuilddate": _M._start_updated,
    "dc_date": _M._start_updated,
    "dcterms_modified": _M._start_updated,
    "created": _M._start_created,
    "dcterms_created": _M._start_created,
    "expirationdate": _M._start_expirationdate,
    "category": _M._start_category,
    "keywords": _M._start_category,
    "dc_subject": _M._start_category,
    "cloud": _M._start_cloud,
    "link": _M._start_link,
    "guid": _M._start_guid,
    "id": _M._start_guid,
    "title": _M._start_title,
    "dc_title": _M._start_title,
    "media_title": _M._start_title,
    "description": _M._start_description,
    "dc_description": _M._start_description,
    "media_description": _M._start_description,
    "abstract": _M._start_abstract,
    "info": _M._start_info,
    "feedburner_browserfriendly": _M._start_info,
    "generator": _M._start_generator,
    "summary": _M._start_summary,
    "enclosure": _M._start_enclosure,
    "source": _M._start_source,
    "content": _M._start_content,
    "content_encoded": _M._start_content_encoded,
    "fullitem": _M._start_content_encoded,
    "media_category": _M._start_media_category,
    "media_group": _M._start_media_group,
    "media_content": _M._start_media_content,
    "media_thumbnail": _M._start_media_thumbnail,
    "media_credit": _M._start_media_credit,
    "width": _M._start_width,
    "height": _M._start_height,
}
_ENDS: dict[str, _End] = {
    "channel": _M._end_channel,
    "feed": _M._end_channel,
    "image": _M._end_image,
    "textinput": _M._end_textinput,
    "author": _M._end_author,
    "managingeditor": _M._end_author,
    "dc_author": _M._end_author,
    "dc_creator": _M._end_author,
    "contributor": _M._end_contributor,
    "dc_contributor": _M._end_dc_contributor,
    "name": _M._end_name,
    "url": _M._end_url,
    "homepage": _M._end_url,
    "uri": _M._end_url,
    "email": _M._end_email,
    "subtitle": _M._end_subtitle,
    "tagline": _M._end_subtitle,
    "rights": _M._end_rights,
    "copyright": _M._end_rights,
    "dc_rights": _M._end_rights,
    "item": _M._end_item,
    "entry": _M._end_item,
    "language": _M._end_language,
    "dc_language": _M._end_language,
    "webmaster": _M._end_webmaster,
    "dc_publisher": _M._end_webmaster,
    "published": _M._end_published,
    "issued": _M._end_published,
    "pubdate": _M._end_published,
    "dcterms_issued": _M._end_published,
    "updated": _M._end_updated,
    "modified": _M._end_updated,
    "lastbuilddate": _M._end_updated,
    "dc_date": _M._end_updated,
    "dcterms_modified": _M._end_updated,
    "created": _M._end_created,
    "dcterms_created": _M._end_created,
    "expirationdate": _M._end_expirationdate,
    "category": _M._end_category,
    "keywords": _M._end_category,
    "dc_subject": _M._end_category,
    "media_category": _M._end_category,
    "link": _M._end_link,
    "guid": _M._end_guid,
    "id": _M._end_guid,
    "title": _M._end_title,
    "dc_title": _M._end_title,
    "media_title": _M._end_media_title,
    "description": _M._end_description,
    "dc_description": _M._end_description,
    "media_description": _M._end_description,
    "abstract": _M._end_description,
    "info": _M._end_info,
    "feedburner_browserfriendly": _M._end_info,
    "generator": _M._end_generator,
    "summary": _M._end_summary,
    "source": _M._end_source,
    "content": _M._end_content,
    "content_encoded": _M._end_content,
    "fullitem": _M._end_content,
    "media_keywords": _M._end_media_keywords,
    "media_thumbnail": _M._end_media_thumbnail,
    "media_credit": _M._end_media_credit,
    "width": _M._end_width,
    "height": _M._end_height,
}
# Every element feedparser has a handler for that is not ported above: a doubt, never a
# guess. Computed from feedparser itself, so an upgrade that adds handlers adds doubts.
_UNPORTED_STARTS = frozenset(
    name[len("_start_") :]
    for name in dir(_FeedParserMixin)
    if name.startswith("_start_") and name[len("_start_") :] not in _STARTS
)
_UNPORTED_ENDS = frozenset(
    name[len("_end_") :]
    for name in dir(_FeedParserMixin)
    if name.startswith("_end_") and name[len("_end_") :] not in _ENDS
)
_HANDLED = frozenset(_STARTS) | frozenset(_ENDS) | _UNPORTED_STARTS | _UNPORTED_ENDS
