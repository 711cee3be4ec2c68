"""html_to_text and tidy_text: named cases, hostile input, and properties over tag soup."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import html_text
from monitor.core.html_text import decode_entities, html_to_text, tidy_text

CASES = {
    "empty": ("", ""),
    "plain text passes through": ("Turkey buys S-400", "Turkey buys S-400"),
    "plain text whitespace tidied": ("  a  b \t c  ", "a b c"),
    "plain text keeps its lines": ("line one\nline two", "line one\nline two"),
    "plain text blank lines collapsed": ("a\n\n\n\n b", "a\n\nb"),
    "plain text entities decoded": ("AT&amp;T &lt;3 &#8217; &#x2019;", "AT&T <3 ’ ’"),
    "plain less-than is not markup": ("3 < 5 and 7 > 2, a <= b", "3 < 5 and 7 > 2, a <= b"),
    "bare ampersand kept": ("R&D, AT&T &notes", "R&D, AT&T &notes"),
    "inline tags removed": ("<b>Bold</b> and <i>it</i><a href='/x'>link</a>", "Bold and itlink"),
    "source newlines are spaces": ("<p>Hello\n   world</p>", "Hello world"),
    "paragraphs separated by a blank line": ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    "headings are paragraphs": ("<h2>Title</h2>Body", "Title\n\nBody"),
    "br is a line break": ("a<br>b<br/>c", "a\nb\nc"),
    "two br are a paragraph": ("a<br><br>b", "a\n\nb"),
    "br with whitespace between": ("a<br>\n  <br />b", "a\n\nb"),
    "divs are lines": ("<div>a</div><div>b</div>", "a\nb"),
    "list items are lines": ("<ul><li>a</li><li>b</li></ul>after", "a\nb\n\nafter"),
    "table cells spaced, rows on lines": (
        "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>",
        "a b\nc",
    ),
    "upper-case tags": ("<P CLASS=x>One</P><P>Two</P>", "One\n\nTwo"),
    "at most one blank line": ("<p>a</p><p></p><p> </p><br><br><br><p>b</p>", "a\n\nb"),
    "script style noscript dropped": (
        "<script>var x = '<p>no</p>';</script><style>p {}</style><noscript>no</noscript>yes",
        "yes",
    ),
    "comments dropped": ("a<!-- <p>hidden</p> -->b", "ab"),
    "document head dropped": (
        "<!DOCTYPE html><html><head><title>Page</title></head><body><p>Body</p></body></html>",
        "Body",
    ),
    "pre keeps its lines": ("<pre>x = 1\ny = 2</pre>after", "x = 1\ny = 2\n\nafter"),
    "nbsp collapsed": ("<p>a&nbsp;&nbsp; b</p>", "a b"),
    "entities decoded in markup": ("<p>&ldquo;Hi&rdquo; &amp; bye&#8230;</p>", "“Hi” & bye…"),
    "double-escaped entity decoded": ("<p>Tom &amp;amp; Jerry</p>", "Tom & Jerry"),
    "double-escaped numeric entity decoded": ("<p>It&amp;#8217;s</p>", "It’s"),
    "triple escaping decoded only twice": ("<p>a &amp;amp;amp; b</p>", "a &amp; b"),
    "escaped markup stays text": (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        "<script>alert(1)</script>",
    ),
    "plain double-escaped": ("Tom &amp;amp; Jerry", "Tom & Jerry"),
    "broken markup": ("<p>unclosed <b>bold <i>both</p> tail", "unclosed bold both\n\ntail"),
    "stray closing tags": ("</div></p>text</span>", "text"),
    "lone angle bracket at end": ("text <", "text <"),
    "unfinished tag": ("text <a href=", "text"),
    "control characters removed": ("a\x00b\x01c<b>d\x7f</b>", "abcd"),
    "cdata section dropped": ("<![CDATA[x]]>y", "y"),
    "only whitespace and comments": ("  <!-- c -->  ", ""),
    "lone surrogate survives": ("\ud800<b>x</b>", "?x"),
}


@pytest.mark.parametrize(("markup", "expected"), CASES.values(), ids=CASES.keys())
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


TIDY_CASES = {
    "literal angle brackets kept": ("A <b> B", "A <b> B"),
    "double escaping repaired": ("AT&amp;T", "AT&T"),
    "whitespace within lines": (" a \t b \n\n\n c ", "a b\n\nc"),
    "control characters removed": ("a\x00b", "ab"),
    "empty": ("", ""),
}


@pytest.mark.parametrize(("text", "expected"), TIDY_CASES.values(), ids=TIDY_CASES.keys())
def test_tidy_text(text: str, expected: str) -> None:
    assert tidy_text(text) == expected


def test_decode_entities_needs_the_semicolon() -> None:
    assert decode_entities("&copy; &copy &amp;x &#65;") == "© &copy &x A"


HOSTILE = {
    "nul bytes": "\x00" * 100,
    "only tags": "<" * 1000 + ">" * 1000,
    "deep nesting": "<div>" * 5000 + "x" + "</div>" * 5000,
    "unterminated comment": "<!-- never closed <p>x</p>",
    "unterminated script": "<script>while(1){}",
    "xml declaration in a string": "<?xml version='1.0' encoding='latin-1'?><p>x</p>",
    "meta charset": "<meta charset='koi8-r'><p>Привет</p>",
    "markers used as input": "\x81\x8d\x8f<p>a</p>",
    "invalid numeric entities": "&#0; &#xD800; &#x110000; &#99999999;<p>&#1;</p>",
    "binary garbage": bytes(range(256)).decode("latin-1") * 4,
}


@pytest.mark.parametrize("markup", HOSTILE.values(), ids=HOSTILE.keys())
def test_html_to_text_never_raises_on_hostile_input(markup: str) -> None:
    text = html_to_text(markup)
    assert isinstance(text, str)
    assert text == text.strip()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x81\x8d\x8f]", text)


def test_meta_charset_does_not_change_the_decoding() -> None:
    assert html_to_text("<meta charset='koi8-r'><p>Привет</p>") == "Привет"


def test_huge_input_is_linear_not_quadratic() -> None:
    paragraph = "<p>Ankara said the <b>S-400</b> deal stands &amp; more.</p>\n"
    markup = paragraph * 50_000  # 2.8 MB
    started = time.perf_counter()
    text = html_to_text(markup)
    elapsed = time.perf_counter() - started
    assert text.count("S-400") == 50_000
    assert elapsed < 5.0  # about 0.3 s here; generous for a loaded CI machine


# --- properties ----------------------------------------------------------------------

_TAG_NAMES = ["p", "div", "b", "i", "a", "span", "br", "li", "ul", "td", "tr", "table", "h1",
              "pre", "img", "script", "style", "noscript", "em", "blockquote"]  # fmt: skip
_words = st.text(alphabet=st.characters(blacklist_characters="<&"), max_size=12)
_attrs = st.sampled_from(["", ' class="x"', " href='/a?b=1&c=2'", ' title="a > b"', " data-x=1"])


@st.composite
def _tag(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_TAG_NAMES))
    form = draw(st.sampled_from(["open", "close", "empty"]))
    if form == "close":
        return f"</{name}>"
    return f"<{name}{draw(_attrs)}{' /' if form == 'empty' else ''}>"


_soup = st.lists(st.one_of(_tag(), _words), max_size=30).map("".join)


@given(st.text(max_size=200))
def test_html_to_text_never_raises_on_any_text(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


@given(_soup)
def test_no_tag_survives_from_tag_soup(markup: str) -> None:
    text = html_to_text(markup)
    assert not re.search(r"<[A-Za-z/!?]", text)
    assert text == text.strip()
    assert "\n\n\n" not in text


@given(_words)
def test_text_without_markup_keeps_its_words(words: str) -> None:
    assert html_to_text(words).split() == tidy_text(words).split()


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(max_codepoint=0xA0), st.sampled_from("\x81\x8d\x8fé€İ\U0001f600")
        )
    )
)
def test_controls_are_removed_as_translate_removes_them(text: str) -> None:
    # _without_controls searches before it translates (translate is slow per character);
    # the answer must be the plain translate's.
    assert html_text._without_controls(text) == text.translate(html_text._CONTROLS)


_MERGES = (  # how _layout merged adjacent markers before it matched whole runs
    ("\x81\x8f", "\x8f"),
    ("\x8f\x81", "\x8f"),
    ("\x81\x8d", "\x8d"),
    ("\x8d\x81", "\x8d"),
    ("\x81\x81", "\x81"),
    ("\x8f\x8f", "\x8d"),
    ("\x8d\x8f", "\x8d"),
    ("\x8f\x8d", "\x8d"),
    ("\x8d\x8d", "\x8d"),
)


def _layout_by_merging(text: str) -> str:
    text = " ".join(text.split())
    for marker in "\x81\x8d\x8f":
        text = text.replace(" " + marker, marker).replace(marker + " ", marker)
    for pair, merged in _MERGES:
        while pair in text:
            text = text.replace(pair, merged)
    return text.replace("\x8d", "\n\n").replace("\x81", "\n").replace("\x8f", "\n").strip()


@given(st.text(alphabet="ab \t\n\xa0\x81\x8d\x8f", max_size=60))
def test_break_runs_lay_out_as_pairwise_merging_laid_them_out(text: str) -> None:
    # _layout decides each run of markers at once; the answer must be the one merging
    # adjacent pairs until none is left gives (line, paragraph and <br> markers).
    assert html_text._layout(text) == _layout_by_merging(text)
