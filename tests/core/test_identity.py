"""identity_key and content_hash: which evidence wins, and what counts as the same text."""

from __future__ import annotations

import hashlib
import re

import pytest

from monitor.core.identity import content_hash, identity_key

GUID = "tag:example.com,2026:item-1"
LINK = "https://example.com/a"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


KEY_CASES = {
    "guid wins over link": ((GUID, LINK, "T", "x"), _sha("guid:" + GUID)),
    "link when no guid": ((None, LINK, "T", "x"), _sha("url:" + LINK)),
    "blank guid counts as absent": (("  ", LINK, "T", "x"), _sha("url:" + LINK)),
    "guid is stripped": ((f"  {GUID}\n", None, "T", "x"), _sha("guid:" + GUID)),
    "text when neither": ((None, None, "T", "x"), _sha("text:" + content_hash("T", "x"))),
    "blank link counts as absent": ((None, "", "T", "x"), _sha("text:" + content_hash("T", "x"))),
}


@pytest.mark.parametrize(("args", "expected"), KEY_CASES.values(), ids=KEY_CASES.keys())
def test_identity_key(args: tuple[str | None, str | None, str, str], expected: str) -> None:
    assert identity_key(*args) == expected


def test_identity_key_fits_an_indexed_64_character_column() -> None:
    for key in (
        identity_key("g" * 5000, None, "", ""),
        identity_key(None, LINK, "", ""),
        identity_key(None, None, "", ""),
    ):
        assert re.fullmatch(r"[0-9a-f]{64}", key)


def test_a_guid_equal_to_a_link_is_not_the_same_key_as_that_link() -> None:
    # The prefix keeps the two kinds of evidence apart.
    assert identity_key(LINK, None, "", "") != identity_key(None, LINK, "", "")


def test_identity_by_text_ignores_only_case_and_whitespace() -> None:
    key = identity_key(None, None, "Turkey buys S-400", "Ankara  confirmed\nthe deal.")
    assert key == identity_key(None, None, "TURKEY buys  S-400 ", "ankara confirmed the deal.")
    assert key != identity_key(None, None, "Turkey buys S-400", "Ankara denied the deal.")


SAME_HASH_CASES = {
    "case": (("Erdoğan meets Putin", "Talks in Sochi"), ("ERDOĞAN MEETS PUTIN", "talks in sochi")),
    "whitespace runs": (("A  b", " c\n\td "), ("A b", "c d")),
    "compatibility forms (NFKC)": (("ﬁle", "①"), ("file", "1")),
    "casefold beyond lower (ß)": (("Straße", ""), ("STRASSE", "")),
}


@pytest.mark.parametrize(("left", "right"), SAME_HASH_CASES.values(), ids=SAME_HASH_CASES.keys())
def test_content_hash_same(left: tuple[str, str], right: tuple[str, str]) -> None:
    assert content_hash(*left) == content_hash(*right)


DIFFERENT_HASH_CASES = {
    "different words": (("S-400", "delivered"), ("S-400", "delayed")),
    "title and text boundary": (("a b", "c"), ("a", "b c")),
    "punctuation": (("S-400", ""), ("S400", "")),
}


@pytest.mark.parametrize(
    ("left", "right"), DIFFERENT_HASH_CASES.values(), ids=DIFFERENT_HASH_CASES.keys()
)
def test_content_hash_different(left: tuple[str, str], right: tuple[str, str]) -> None:
    assert content_hash(*left) != content_hash(*right)


def test_content_hash_survives_lone_surrogates() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash("\ud800", "x"))
