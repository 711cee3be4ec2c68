"""URL identity: the canonical form of an article URL, and resolving links against a base.

Pure string functions: no network, no DNS, no I/O. They never raise on odd input; a URL
they cannot take apart is returned stripped but otherwise unchanged.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

# Query parameters that only say how a reader arrived (campaign, click and share
# trackers). They never select content, so two URLs differing only in them are one article.
# Matched case-insensitively; anything starting with one of TRACKING_PREFIXES counts too.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",  # Facebook click
        "gclid",  # Google Ads click
        "dclid",  # Google Display click
        "gbraid",  # Google Ads (iOS, app to web)
        "wbraid",  # Google Ads (iOS, web to app)
        "msclkid",  # Microsoft Ads click
        "yclid",  # Yandex click
        "twclid",  # Twitter/X Ads click
        "ttclid",  # TikTok click
        "igshid",  # Instagram share
        "mc_cid",  # Mailchimp campaign
        "mc_eid",  # Mailchimp subscriber
        "_ga",  # Google Analytics cross-domain
        "_gl",  # Google Analytics cross-domain (gtag)
        "_hsenc",  # HubSpot
        "_hsmi",  # HubSpot
        "mkt_tok",  # Marketo
        "ref_src",  # Twitter/X embeds
        "ref_url",  # Twitter/X embeds
        "cmpid",  # Adobe campaign id (many news sites)
        "ocid",  # Microsoft/MSN campaign id
        "icid",  # internal campaign id (news sites)
        "ncid",  # Yahoo/AOL campaign id
        "smid",  # NYT share medium
        "smtyp",  # NYT share type
        "xtor",  # AT Internet campaign
        "at_medium",  # AT Internet
        "at_campaign",  # AT Internet
        "__twitter_impression",
        "oly_enc_id",  # Omeda
        "oly_anon_id",  # Omeda
        "vero_id",  # Vero
        "wt.mc_id",  # Webtrends
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)

_DEFAULT_PORTS: dict[str, str] = {"http": "80", "https": "443"}
# Whitespace and C0 controls: what str.strip and urlsplit each strip, so that one pass
# leaves nothing for the next one to strip.
_EDGE_JUNK = (
    "".join(map(chr, range(0x21)))
    + "\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(map(chr, range(0x2000, 0x200B)))
)


def is_tracking_param(name: str) -> bool:
    """True when a query parameter named `name` (raw or percent-encoded) is a tracker."""
    key = unquote_plus(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The form of `url` under which the same article is recognised.

    Lower-cases scheme and host, drops default ports (:80 for http, :443 for https), the
    fragment and tracking parameters (TRACKING_PARAMS, utm_*), sorts the remaining query
    parameters and turns an empty path into "/". The path, user info and parameter values
    keep their case and percent-encoding: servers may treat them as significant.
    Idempotent: canonical_url(canonical_url(u)) == canonical_url(u).
    """
    url = url.strip(_EDGE_JUNK)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return url
    if not parts.netloc and parts.path.startswith("//"):
        # "////x": urlunsplit would write this back as a different URL.
        return url
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts.netloc, scheme)
    path = parts.path
    if netloc and not path:
        path = "/"
    query = _canonical_query(parts.query)
    # Dropping the fragment or a parameter can leave trailing whitespace exposed.
    return urlunsplit((scheme, netloc, path, query, "")).strip(_EDGE_JUNK)


def _canonical_netloc(netloc: str, scheme: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = _split_port(hostport)
    if port == _DEFAULT_PORTS.get(scheme):
        port = ""
    hostport = host.lower() + (":" + port if port else "")
    return userinfo + at + hostport


def _split_port(hostport: str) -> tuple[str, str]:
    """Split "host:port" (or "[v6]:port"); the port is "" when absent or empty."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1:
            host, rest = hostport[: end + 1], hostport[end + 1 :]
            if rest.startswith(":"):
                return host, rest[1:]
        return hostport, ""
    if hostport.count(":") != 1:
        # No port, or a malformed host ("::", an unbracketed IPv6 address): leave it whole,
        # since peeling one colon per call would make canonical_url not idempotent.
        return hostport, ""
    host, _, port = hostport.partition(":")
    return host, port


def _canonical_query(query: str) -> str:
    # Work on the raw "k=v" pieces so their encoding survives untouched: decoding and
    # re-encoding would turn "+" into "%20" and similar, changing URLs servers tell apart.
    pairs = []
    for piece in query.split("&"):
        piece = piece.strip(_EDGE_JUNK)  # never valid in a URL; at the end it would move
        if not piece:
            continue
        key, _, value = piece.partition("=")
        if is_tracking_param(key):
            continue
        pairs.append((key, value, piece))
    pairs.sort()
    return "&".join(piece for _, _, piece in pairs)


def resolve_url(base: str | None, href: str | None) -> str | None:
    """`href` made absolute against `base` (a feed URL or xml:base), or None if empty.

    An href that cannot be joined (malformed IPv6 host and the like) is returned stripped.
    """
    if href is None:
        return None
    href = href.strip()
    if not href:
        return None
    if not base:
        return href
    try:
        return urljoin(base.strip(), href)
    except ValueError:
        return href


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host: the only links we store as article URLs."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
