"""Entry identity: the per-feed key that says "same item", and the hash that says "same text".

Pure functions on strings; no I/O. The database only enforces these values with indexes.
"""

from __future__ import annotations

import hashlib
import unicodedata

# The kinds of evidence an identity key can rest on, strongest first. The prefix keeps a
# guid that happens to equal some URL from colliding with a key derived from that URL.
_GUID, _URL, _TEXT = "guid:", "url:", "text:"


def identity_key(guid: str | None, canonical_link: str | None, title: str, text: str) -> str:
    """The key of an entry within its feed: 64 hex characters (sha256).

    Per DESIGN "Identity and duplicates": the guid if the feed gives one, else the
    canonical link, else a hash of title and text. Blank values count as absent.
    """
    guid = (guid or "").strip()
    link = (canonical_link or "").strip()
    if guid:
        basis = _GUID + guid
    elif link:
        basis = _URL + link
    else:
        basis = _TEXT + content_hash(title, text)
    return _sha256(basis)


def content_hash(title: str, text: str) -> str:
    """sha256 hex of title and text, folded so the same copy in two feeds hashes the same.

    Folding: Unicode NFKC, case-folded, every run of whitespace collapsed to one space.
    It recognises exact copies only; near-copies are the job of story clustering.
    """
    return _sha256(_fold(title) + "\n" + _fold(text))


def _fold(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _sha256(value: str) -> str:
    # "surrogatepass": garbage from a broken feed must still hash, never raise.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
