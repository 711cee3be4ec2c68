"""HTML (fragment or document) to tidy plain text, for every title and body we store.

Pure and total: no I/O, and it never raises, whatever a feed put in an entry. It runs for
every entry, so the work stays in C (lxml, str methods, regexes): Python touches each tag
once, for a dict lookup, and never loops over characters or tree nodes.
"""

from __future__ import annotations

import html
import re
import threading

from lxml import etree

# Break markers, written into the markup in front of block tags so that they land in the
# text at the block boundaries. lxml accepts only XML characters in text, and a marker
# outside Latin-1 would widen every ASCII string (Python stores a string at the width of
# its widest character), so they are C1 controls that cp1252 leaves undefined: no real
# or mis-decoded text carries them, and the input is cleared of them first.
_LINE = "\x81"
_PARA = "\x8d"
_BR = "\x8f"  # a line, but two in a row ("<br><br>") make a paragraph
_MARKERS = (_LINE, _PARA, _BR)

# C0 controls other than tab, newline and carriage return, and DEL: never text, and lxml
# refuses or truncates on some of them. The input loses our markers too.
_C0 = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROLS = {**_C0, **dict.fromkeys(map(ord, _MARKERS))}
# Any character _CONTROLS removes. Real text almost never has one, and str.translate with a
# dict looks every character up from Python objects (1 ms per outlet feed, a tenth of the
# parse): searching first, in C, costs a twentieth of that.
_ANY_CONTROL = re.compile("[" + re.escape("".join(map(chr, _CONTROLS))) + "]")

# Only these start markup; "3 < 5" or "a <= b" stay plain text and skip the parser.
_MARKUP = re.compile(r"<[A-Za-z!/?]")

# A complete entity reference (with its semicolon), named or numeric. html.unescape alone
# would also expand HTML's legacy forms without a semicolon ("&copy", "&not"), which
# mangles ordinary text such as "&notes"; this pattern leaves those alone.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# A numeric reference to a C0 control or DEL (and to tab and newline, which is harmless).
_CONTROL_REF = re.compile(r"&#(?:[xX]0*(?:1?[0-9a-fA-F]|7[fF])|0*(?:[12]?[0-9]|3[01]|127));")


# What goes in front of each block tag, opening or closing: a paragraph break (a blank
# line), a line break, a <br>, or a space between table cells.
_BLOCK_MARKERS: dict[str, str] = {
    **dict.fromkeys(
        ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl",
         "table", "figure", "section", "article", "aside", "header", "footer", "nav", "main",
         "address", "hr", "form", "fieldset", "details"),
        _PARA,
    ),
    **dict.fromkeys(
        ("div", "li", "tr", "dt", "dd", "figcaption", "caption", "summary", "option",
         "legend", "center"),
        _LINE,
    ),
    "br": _BR,
    "td": " ",
    "th": " ",
}  # fmt: skip
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")

# Subtrees whose text is never article text.
_DROPPED = ("script", "style", "noscript", "template", "head")

# A run of break markers, spaces between them included ("</p> <p>" is one run). It starts
# with a marker, not an optional space, so the regex engine looks for its first character
# with a quick scan instead of trying a match at every position.
_BREAK_RUN = re.compile("[{0}](?: ?[{0}])*".format("".join(_MARKERS)))
_ANY_TAG = re.compile(r"<[^>]*>?")

_local = threading.local()


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment or document.

    Block elements become line breaks or paragraphs, script/style/noscript are dropped,
    entities are decoded (a second time for double-escaped text such as "&amp;amp;"),
    whitespace is collapsed within lines, at most one blank line separates paragraphs,
    and the result is stripped. Text without markup passes through, decoded and tidied.
    """
    if not markup:
        return ""
    try:
        return _convert(_without_controls(markup))
    except Exception:  # the contract is "never raises": a crude strip beats losing the entry
        return _fallback(markup)


def tidy_text(text: str) -> str:
    """Tidy plain text (a feed's text/plain field): decode entities left double-escaped,
    collapse whitespace within lines, keep at most one blank line between paragraphs."""
    if not text:
        return ""
    return _tidy_lines(decode_entities(_without_controls(text)))


def _without_controls(text: str) -> str:
    """`text` without C0 controls, DEL and our break markers: text.translate(_CONTROLS)."""
    return text.translate(_CONTROLS) if _ANY_CONTROL.search(text) else text


def decode_entities(text: str) -> str:
    """Decode complete entity references once; anything else is left as it is."""
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


def _convert(markup: str) -> str:
    if not _MARKUP.search(markup):
        # Plain text still carries the markup level's escaping, so decode twice as the
        # HTML path does (once by the parser, once for double-escaping).
        return _tidy_lines(decode_entities(decode_entities(markup)))
    root = etree.fromstring(_mark_blocks(markup).encode("utf-8", "replace"), _parser())
    if root is None:  # nothing but whitespace, comments or a doctype
        return ""
    etree.strip_elements(root, *_DROPPED, with_tail=False)
    for pre in root.iter("pre"):
        _keep_preformatted_lines(pre)
    text = etree.tostring(root, method="text", encoding="unicode", with_tail=False)
    if _CONTROL_REF.search(markup):  # the parser turns "&#1;" into a control character
        text = text.translate(_C0)  # slow on non-ASCII text, hence only when needed
    return _layout(decode_entities(text))


def _mark_blocks(markup: str) -> str:
    # One regex pass with a dict lookup per tag beats a pass per kind of tag, and beats
    # editing the parsed tree element by element (both measured on a 1 MB feed).
    return _TAG_NAME.sub(_marked_tag, markup)


def _marked_tag(match: re.Match[str]) -> str:
    marker = _BLOCK_MARKERS.get(match.group(1).lower())
    return marker + match.group() if marker else match.group()


def _parser() -> etree.HTMLParser:
    # lxml parsers must not be shared between threads; one per thread is cheap to reuse.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8",
            recover=True,
            no_network=True,
            remove_comments=True,
            remove_pis=True,
            default_doctype=False,
        )
        _local.parser = parser
    return parser


def _keep_preformatted_lines(pre: etree._Element) -> None:
    # Everywhere else a newline in the source is just a space; inside <pre> it is a line.
    for node in pre.iter():
        if node.text:
            node.text = node.text.replace("\n", _LINE)
        if node is not pre and node.tail:
            node.tail = node.tail.replace("\n", _LINE)


def _layout(text: str) -> str:
    """Collapse whitespace, then turn each run of break markers into one or two newlines.

    A run with a paragraph marker or two <br> is a blank line, any other run a newline.
    One regex pass with a call per run: half the cost of merging marker pairs with
    str.replace until none is left (which rescans the whole text for each of nine pairs;
    measured on the outlet feeds and on a 3 MB document).
    """
    text = " ".join(text.split())  # the markers are not whitespace: they survive this
    # Spaces are single now and every newline is a break just made: drop the spaces next
    # to one ("</p> <p>" around a run).
    text = _BREAK_RUN.sub(_break, text)
    return text.replace(" \n", "\n").replace("\n ", "\n").strip()


def _break(run: re.Match[str]) -> str:
    markers = run.group()
    return "\n\n" if _PARA in markers or markers.count(_BR) > 1 else "\n"


def _tidy_lines(text: str) -> str:
    """Plain text: newlines are real; collapse within lines, at most one blank line."""
    out: list[str] = []
    blank = False
    for line in text.splitlines():
        words = " ".join(line.split())
        if not words:
            blank = bool(out)
            continue
        if out:
            out.append("\n\n" if blank else "\n")
        out.append(words)
        blank = False
    return "".join(out)


def _fallback(markup: str) -> str:
    text = _ANY_TAG.sub(" ", _without_controls(markup))
    return _tidy_lines(decode_entities(decode_entities(text)))
