"""The five shipped watchlists: valid, matching their seed documents and not everyday news."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.adapters.files.watchlists import load_watchlists
from monitor.core.matcher import Matcher, article_match_form, compile_matcher
from monitor.core.scoring import score_watchlists
from monitor.core.semantic import SemanticScore, Verdict

REPO = Path(__file__).resolve().parents[2]
IDS = ["caatsa", "idlib", "incirlik", "s400", "sochi"]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    loaded = load_watchlists(REPO / "watchlists", known_channels={"local"})
    assert loaded.problems == {}
    return compile_matcher(loaded.watchlists)


def matched(matcher: Matcher, title: str, text: str) -> set[str]:
    return {w for w, score in score_watchlists(matcher, title, text) if score.matched}


def test_all_five_ship_and_are_valid(matcher: Matcher) -> None:
    assert sorted(matcher.watchlists) == IDS
    for watchlist in matcher.watchlists.values():
        assert watchlist.channels == ("local",)
        assert watchlist.timezone == "Europe/Istanbul"
        text = (REPO / "watchlists" / f"{watchlist.id}.toml").read_text(encoding="utf-8")
        assert "seeds/" in text.split("\nname")[0], "the header names its seed documents"


SEEDS = {
    "000_09332e66fc34b1d3.txt": {"s400", "caatsa", "sochi", "idlib"},
    "001_5d9b8a6939599cab.txt": {"s400", "caatsa"},
    "002_b6ff66564c9d5c20.txt": {"s400", "sochi"},
    "003_95b6c295685bff79.txt": {"s400", "incirlik"},
    "004_8bd87a52c1780b3e.txt": {"s400", "caatsa", "incirlik", "idlib"},
}


@pytest.mark.parametrize(("name", "topics"), SEEDS.items(), ids=list(SEEDS))
def test_each_seed_matches_its_topics(matcher: Matcher, name: str, topics: set[str]) -> None:
    lines = (REPO / "seeds" / name).read_text(encoding="utf-8").strip().splitlines()
    assert topics <= matched(matcher, lines[0], "\n".join(lines[1:]))


UNRELATED = [
    (
        "sport",
        "Galatasaray beat Fenerbahce 3-1 in Istanbul derby",
        "Mauro Icardi scored twice as the champions moved five points clear at the top of the Super Lig.",
    ),
    (
        "sport",
        "Sochi Autodrom to host touring car race",
        "The former Formula One circuit at Sochi's Olympic Park will stage a round of the Russian "
        "touring car championship this summer.",
    ),
    (
        "sport",
        "Hamilton takes pole at the Russian Grand Prix in Sochi",
        "Lewis Hamilton set the fastest lap in qualifying on a wet track at the Sochi Autodrom.",
    ),
    (
        "sport",
        "Olympic champion returns to Sochi ice",
        "The figure skater trained at the Iceberg "
        "Skating Palace, the venue of her 2014 Winter Olympics gold medal.",
    ),
    (
        "cooking",
        "How to roast a turkey for Thanksgiving",
        "Brine the turkey overnight, roast it at 220C for 30 minutes, then lower the heat.",
    ),
    (
        "cooking",
        "Turkish fig jam with walnuts",
        "Fresh figs from an Aydın incirlik simmer with "
        "sugar and lemon; İncir reçeli keeps for a year.",
    ),
    (
        "cooking",
        "Adana kebab at home",
        "Minced lamb pressed on wide skewers, grilled over charcoal, served with sumac onions.",
    ),
    (
        "cars",
        "Mercedes-Benz S 400 d 4MATIC long-term test",
        "After 20,000 km the S400 diesel "
        "returns 7.1 l/100 km; the air suspension is superb and the rear seats are a lounge.",
    ),
    (
        "cars",
        "Mercedes S400 Hybrid recall",
        "Owners of the S400 Hybrid are asked to visit dealers "
        "to replace a battery cable in Russia, Turkey and India.",
    ),
    (
        "cars",
        "BMW 740i vs Audi A8",
        "Two German luxury saloons compared on a trip from Munich to Istanbul.",
    ),
    (
        "markets",
        "Turkish lira slides as inflation tops 60 percent",
        "The central bank in Ankara raised rates again; Borsa Istanbul fell 2 percent.",
    ),
    (
        "markets",
        "Oil rises on OPEC+ cuts; Russian exports steady",
        "Brent crude traded above $85 while Urals shipments from Black Sea ports held firm.",
    ),
    (
        "markets",
        "Gold hits record, dollar weakens",
        "Investors sought safety as US Treasury yields fell after weak jobs data.",
    ),
    (
        "travel",
        "Sochi hotels fully booked for the summer",
        "Russian tourists who used to fly to "
        "Antalya now holiday on the Black Sea coast in Sochi and Adler.",
    ),
    (
        "other sanctions",
        "EU adopts new sanctions on Russia",
        "The package targets diamonds and "
        "shadow-fleet tankers; Turkey is urged to stop re-exports of dual-use goods.",
    ),
]


@pytest.mark.parametrize(
    ("kind", "title", "text"), UNRELATED, ids=[f"{u[0]}: {u[1]}" for u in UNRELATED]
)
def test_unrelated_news_matches_none(matcher: Matcher, kind: str, title: str, text: str) -> None:
    assert matched(matcher, title, text) == set()


SEED_SENTENCES = [
    s.strip()
    for path in sorted((REPO / "seeds").glob("*.txt"))
    for s in path.read_text(encoding="utf-8").split(".")
    if s.strip()
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(SEED_SENTENCES), max_size=2),
    st.lists(st.sampled_from(SEED_SENTENCES), max_size=6),
    st.dictionaries(
        st.sampled_from(["caatsa", "idlib", "incirlik", "s400", "sochi"]),
        st.tuples(st.floats(0, 1), st.sampled_from(list(Verdict))),
    ),
)
def test_a_poll_stores_exactly_the_matching_scores(
    matcher: Matcher, title: list[str], text: list[str], similar: dict[str, tuple[float, Verdict]]
) -> None:
    """What a poll asks for (the match form the parse worker made, matching scores only) is
    what scoring every watchlist in full and keeping the matches gives."""
    title_text, body = ". ".join(title), ". ".join(text)
    semantic = {
        w: SemanticScore(8 * s if v is Verdict.SIMILAR else 0.0, s, ("seeds/x.txt",), v)
        for w, (s, v) in similar.items()
    }
    full = score_watchlists(matcher, title_text, body, semantic=semantic)
    poll = score_watchlists(
        matcher,
        title_text,
        body,
        semantic=semantic,
        match_text=article_match_form(title_text, body),
        matched_only=True,
    )
    assert poll == [(w, s) for w, s in full if s.matched]
