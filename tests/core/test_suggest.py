"""`watchlists suggest`: distinctive terms of documents, grouped and ranked, as TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from monitor.core.suggest import Document, rank_terms, suggest_watchlist
from monitor.core.watchlist import parse_watchlist

REPO = Path(__file__).resolve().parents[2]

# A tiny stand-in for an English frequency list (Zipf scale: 7 = "the", 0 = unseen), so the
# tests do not depend on wordfreq's data; the CLI test runs the real one.
COMMON = {
    "the": 7.7,
    "said": 6.0,
    "talks": 4.6,
    "base": 4.8,
    "air": 5.2,
    "us": 6.0,
    "turkey": 4.6,
    "russia": 4.9,
    "president": 5.4,
    "meeting": 5.0,
    "missile": 4.0,
    "and": 7.5,
    "report": 5.0,
    "sanctions": 4.2,
    "act": 5.0,
    "nato": 4.0,
}


def frequency(text: str) -> float:
    words = text.lower().split()
    return min((COMMON.get(w, 0.0) for w in words), default=0.0)


DOCS = [
    Document(
        "a.txt",
        "Turkish President Recep Tayyip Erdoğan said Turkey will buy more S-400 "
        "systems. Erdogan met Putin. The S400 deal angered Washington, which sanctioned "
        "Turkey under the Countering America’s Adversaries Through Sanctions Act (CAATSA).",
    ),
    Document(
        "b.txt",
        "Erdogan’s government says the S-400s are not negotiable. CAATSA sanctions "
        "hit the SSB. US jets fly from İncirlik Air Base. The F-35 program dropped Turkey. "
        "Incirlik hosts US bombs. The F-35 jets will not come.",
    ),
]


@pytest.fixture(scope="module")
def ranked() -> dict[str, object]:
    return {s.match: s for s in rank_terms(DOCS, frequency, max_terms=20)}


def test_designations_acronyms_and_names(ranked: dict[str, object]) -> None:
    assert {"S-400", "CAATSA", "F-35", "Erdogan", "Incirlik"} <= set(ranked)


def test_spelling_variants_are_grouped(ranked: dict[str, object]) -> None:
    s400 = ranked["S-400"]
    assert s400.aliases == ("S400",)  # type: ignore[attr-defined]
    assert s400.count == 3  # type: ignore[attr-defined]  # S-400, S400, S-400s
    # "Erdogan’s" is Erdogan; the full name joins the surname that stands alone elsewhere.
    erdogan = ranked["Erdogan"]
    assert (erdogan.count, erdogan.aliases) == (2, ("Recep Tayyip Erdoğan",))  # type: ignore[attr-defined]
    # A name followed by ordinary words is that name.
    assert ranked["Incirlik"].aliases == ("İncirlik Air Base",)  # type: ignore[attr-defined]


def test_acronym_joins_its_spelled_out_name(ranked: dict[str, object]) -> None:
    assert ranked["CAATSA"].aliases == (  # type: ignore[attr-defined]
        "Countering America’s Adversaries Through Sanctions Act",
    )


def test_common_words_are_not_suggested(ranked: dict[str, object]) -> None:
    assert not {"Turkey", "The", "US", "Washington jets"} & set(ranked)


def test_ranked_by_distinctiveness_with_weights(ranked: dict[str, object]) -> None:
    values = [s.distinctiveness for s in ranked.values()]  # type: ignore[attr-defined]
    assert values == sorted(values, reverse=True)
    weights = [s.weight for s in ranked.values()]  # type: ignore[attr-defined]
    assert weights[0] == 5.0 and all(1.0 <= w <= 5.0 for w in weights)


def test_output_is_a_valid_watchlist_with_comments() -> None:
    text = suggest_watchlist(DOCS, frequency=frequency, watchlist_id="turkey-ties")
    watchlist = parse_watchlist(text, watchlist_id="turkey-ties", source="draft.toml")
    assert {t.match for t in watchlist.terms[:3]} == {"CAATSA", "Erdogan", "S-400"}
    assert text.startswith(
        "# watchlists/turkey-ties.toml: drafted by `monitor watchlists suggest` from: a.txt, b.txt"
    )
    assert "# 3× (a.txt 2, b.txt 1); distinctiveness" in text
    assert tomllib.loads(text)["name"] == "turkey-ties"


@pytest.mark.parametrize("docs", [DOCS, [Document("x.txt", "the and the")]], ids=["terms", "none"])
def test_the_documents_become_its_examples(docs: list[Document]) -> None:
    examples = ["../seeds/a.txt", "../seeds/b [draft].txt"]
    text = suggest_watchlist(docs, frequency=frequency, examples=examples)
    watchlist = parse_watchlist(text, watchlist_id="draft", source="draft.toml")
    assert watchlist.examples == tuple(examples)
    assert "examples" not in tomllib.loads(suggest_watchlist(docs, frequency=frequency))


def test_no_documents_worth_a_term_still_gives_valid_toml() -> None:
    text = suggest_watchlist([Document("x.txt", "the and the")], frequency=frequency)
    assert "CHANGE ME" in text
    parse_watchlist(text, watchlist_id="draft", source="draft.toml")


def test_seeds_give_the_topics_they_are_about() -> None:
    from wordfreq import zipf_frequency

    docs = [
        Document(p.name, p.read_text(encoding="utf-8"))
        for p in sorted((REPO / "seeds").glob("*.txt"))
    ]
    top = [s.match for s in rank_terms(docs, lambda t: zipf_frequency(t, "en"), max_terms=30)]
    assert top[0] == "S-400"
    assert {"CAATSA", "F-35", "Erdogan", "Idlib", "Sochi", "İncirlik", "Rosoboronexport"} - set(
        top
    ) <= {"Rosoboronexport"}


def test_draft_delivers_to_the_configured_channels() -> None:
    text = suggest_watchlist(DOCS, frequency=frequency, channels=["analysts", "local"])
    assert tomllib.loads(text)["channels"] == ["analysts", "local"]
    parse_watchlist(
        text, watchlist_id="draft", source="d.toml", known_channels={"analysts", "local"}
    )
