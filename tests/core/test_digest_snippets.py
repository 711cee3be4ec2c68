"""The snippet a digest shows: from the text around the strongest body hit (not a repeat of
the title), with every matched term highlighted, from real scoring explanations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.digest import Candidate
from monitor.core.digest.planning import digest_item
from monitor.core.matcher import compile_matcher
from monitor.core.scoring import score_watchlists
from monitor.core.watchlist import Term, Watchlist

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WATCHLIST = Watchlist(
    id="s400",
    name="S-400",
    threshold=1.0,
    terms=(Term("S-400", weight=5.0), Term("CAATSA", weight=3.0), Term("Ankara", weight=1.0)),
)


def item(title: str, text: str):  # type: ignore[no-untyped-def]
    [(_, score)] = score_watchlists(
        compile_matcher([WATCHLIST]), title, text, feed_name="ap", feed_tags=()
    )
    candidate = Candidate(
        match_id=1,
        story_id=None,
        score=score.score,
        explanation=score.explanation(),
        title=title,
        url=None,
        source="ap",
        published_at=NOW,
    )
    return digest_item(candidate, ["ap"])


@pytest.mark.parametrize(
    ("title", "text", "expected_hits"),
    [
        pytest.param(
            "Turkey takes delivery of the S-400",
            "In Ankara the S-400 is active despite CAATSA sanctions.",
            {"Ankara", "S-400", "CAATSA"},
            id="title hit, body hits: the body passage, every term marked",
        ),
        pytest.param(
            "S-400 talks resume",
            "The talks resumed on Monday without any statement from either side.",
            {"S-400"},
            id="the only hit is in the title: the title snippet is the fallback",
        ),
    ],
)
def test_snippet(title: str, text: str, expected_hits: set[str]) -> None:
    shown = item(title, text)
    assert shown.snippet is not None
    marked = {shown.snippet.text[a:b] for a, b in shown.snippet.highlights}
    assert marked == expected_hits
    if len(expected_hits) > 1:
        assert shown.snippet.text.strip("… ") not in title
        assert "Ankara" in shown.snippet.text
