"""canonical_url, resolve_url and is_web_url: named cases plus properties over generated URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.urls import (
    TRACKING_PARAMS,
    canonical_url,
    is_tracking_param,
    is_web_url,
    resolve_url,
)

CANONICAL_CASES = {
    "already canonical": ("https://example.com/a/b?x=1", "https://example.com/a/b?x=1"),
    "scheme and host lower-cased": ("HTTPS://WWW.Example.COM/News", "https://www.example.com/News"),
    "path case kept": ("https://example.com/Path/To/Item", "https://example.com/Path/To/Item"),
    "http default port dropped": ("http://example.com:80/a", "http://example.com/a"),
    "https default port dropped": ("https://example.com:443/a", "https://example.com/a"),
    "other port kept": ("http://example.com:8080/a", "http://example.com:8080/a"),
    "https on port 80 kept": ("https://example.com:80/a", "https://example.com:80/a"),
    "empty port dropped": ("http://example.com:/a", "http://example.com/a"),
    "fragment dropped": ("https://example.com/a#comments", "https://example.com/a"),
    "empty path becomes slash": ("https://example.com", "https://example.com/"),
    "empty path with query": ("https://example.com?b=1", "https://example.com/?b=1"),
    "utm parameters dropped": (
        "https://example.com/a?utm_source=rss&utm_medium=feed&id=7&utm_campaign=x",
        "https://example.com/a?id=7",
    ),
    "tracking names case-insensitive": (
        "https://example.com/a?UTM_Source=x&FBCLID=y",
        "https://example.com/a",
    ),
    "click ids dropped": (
        "https://example.com/a?gclid=1&fbclid=2&msclkid=3&dclid=4&yclid=5&igshid=6",
        "https://example.com/a",
    ),
    "mailchimp and analytics dropped": (
        "https://example.com/a?mc_cid=1&mc_eid=2&_ga=3&ref_src=twsrc",
        "https://example.com/a",
    ),
    "news campaign ids dropped": (
        "https://example.com/a?cmpid=rss&ocid=msn&at_medium=RSS",
        "https://example.com/a",
    ),
    "query sorted": ("https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"),
    "repeated keys sorted by value": (
        "https://example.com/a?t=2&t=1",
        "https://example.com/a?t=1&t=2",
    ),
    "percent-encoding kept": (
        "https://example.com/a%2Fb?q=a+b&r=%C3%A9",
        "https://example.com/a%2Fb?q=a+b&r=%C3%A9",
    ),
    "empty pieces dropped": ("https://example.com/a?&a=1&&b=&", "https://example.com/a?a=1&b="),
    "flag without value kept": ("https://example.com/a?z&a=1", "https://example.com/a?a=1&z"),
    "look-alike parameters kept": (
        "https://example.com/a?ref=home&source=x&utm=1",
        "https://example.com/a?ref=home&source=x&utm=1",
    ),
    "user info kept, host lowered": ("http://User:Pw@Host.COM:80/", "http://User:Pw@host.com/"),
    "ipv6 default port dropped": ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
    "ipv6 other port kept": ("http://[::1]:8000/x", "http://[::1]:8000/x"),
    "surrounding whitespace stripped": ("  https://example.com/a \n", "https://example.com/a"),
    "unparseable returned stripped": (" http://[::1/x ", "http://[::1/x"),
    "non-web scheme lower-cased only": ("MAILTO:Desk@Example.org", "mailto:Desk@Example.org"),
}


@pytest.mark.parametrize(("url", "expected"), CANONICAL_CASES.values(), ids=CANONICAL_CASES.keys())
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


RESOLVE_CASES = {
    "relative path": (
        "https://example.com/news/feed.xml",
        "item/1",
        "https://example.com/news/item/1",
    ),
    "absolute path": ("https://example.com/news/feed.xml", "/item/1", "https://example.com/item/1"),
    "protocol-relative": (
        "https://example.com/feed",
        "//cdn.example.org/a",
        "https://cdn.example.org/a",
    ),
    "absolute href unchanged": (
        "https://example.com/feed",
        "http://other.org/a",
        "http://other.org/a",
    ),
    "whitespace around href": ("https://example.com/feed", "\n  /a  ", "https://example.com/a"),
    "query-only href": ("https://example.com/feed?x=1", "?p=2", "https://example.com/feed?p=2"),
    "empty href": ("https://example.com/feed", "   ", None),
    "no href": ("https://example.com/feed", None, None),
    "no base": (None, "/a", "/a"),
    "unjoinable href": ("https://example.com/", "http://[::1/x", "http://[::1/x"),
}


@pytest.mark.parametrize(
    ("base", "href", "expected"), RESOLVE_CASES.values(), ids=RESOLVE_CASES.keys()
)
def test_resolve_url(base: str | None, href: str | None, expected: str | None) -> None:
    assert resolve_url(base, href) == expected


WEB_URL_CASES = {
    "https": ("https://example.com/a", True),
    "http upper-case scheme": ("HTTP://example.com/", True),
    "relative": ("/a/b", False),
    "javascript": ("javascript:alert(1)", False),
    "mailto": ("mailto:a@example.com", False),
    "no host": ("http:///a", False),
    "empty": ("", False),
    "none": (None, False),
    "broken ipv6": ("http://[::1/x", False),
}


@pytest.mark.parametrize(("url", "expected"), WEB_URL_CASES.values(), ids=WEB_URL_CASES.keys())
def test_is_web_url(url: str | None, expected: bool) -> None:
    assert is_web_url(url) is expected


def test_every_listed_tracking_param_is_recognised_in_any_case() -> None:
    for name in TRACKING_PARAMS:
        assert is_tracking_param(name)
        assert is_tracking_param(name.upper())
    assert is_tracking_param("utm_whatever")
    assert is_tracking_param("utm%5Fsource")  # percent-encoded underscore
    assert not is_tracking_param("page")


# --- properties ----------------------------------------------------------------------

_word = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%+", max_size=8
)
_host = st.lists(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=3,
).map(".".join)
_tracking_key = st.sampled_from([*TRACKING_PARAMS, "utm_source", "UTM_Campaign", "utm_x"])
_key = st.one_of(_word, _tracking_key)
_query = st.lists(st.tuples(_key, st.one_of(st.none(), _word)), max_size=6).map(
    lambda pairs: "&".join(k if v is None else f"{k}={v}" for k, v in pairs)
)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(_host)
    port = draw(st.sampled_from(["", ":", ":80", ":443", ":8080"]))
    path = draw(st.lists(_word, max_size=4).map(lambda parts: "".join("/" + p for p in parts)))
    query = draw(_query)
    fragment = draw(st.one_of(st.just(""), _word.map(lambda f: "#" + f)))
    return f"{scheme}://{host}{port}{path}{'?' + query if query else ''}{fragment}"


@given(_urls())
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(_urls())
def test_no_tracking_parameter_survives(url: str) -> None:
    query = urlsplit(canonical_url(url)).query
    keys = [piece.partition("=")[0] for piece in query.split("&") if piece]
    assert not [key for key in keys if is_tracking_param(key)]
    assert keys == sorted(keys)


@given(st.text(max_size=80))
def test_canonical_url_never_raises_and_is_idempotent_on_any_text(text: str) -> None:
    once = canonical_url(text)
    assert canonical_url(once) == once


@given(
    st.sampled_from(["", "http://", "HTTPS://Host", "//", "http:"]),
    st.text(alphabet=":/?#[]@!$&'()*+,;=%. \t\nAaZz09-_~\x85", max_size=30),
)
def test_canonical_url_is_idempotent_on_delimiter_soup(prefix: str, rest: str) -> None:
    once = canonical_url(prefix + rest)
    assert canonical_url(once) == once
