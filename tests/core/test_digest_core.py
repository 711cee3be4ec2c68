"""The pure digest and alert decisions (core.digest): plain data in, decisions out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fixed_time import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.db.schema import DigestKind
from monitor.core.developments import WindowTerms
from monitor.core.digest import (
    Candidate,
    Copy,
    DigestContent,
    Snippet,
    alert_window_key,
    best_snippet,
    find_hits,
    matched_terms,
    plan_alerts,
    plan_digest,
    should_send,
    unmark,
)
from monitor.core.digest.updates import KnownItem, StoryHistory


def explain(*terms: tuple[str, float, str]) -> dict[str, Any]:
    return {
        "terms": [
            {"term": t, "title_count": 0, "body_count": 1, "contribution": c, "snippets": [s]}
            for t, c, s in terms
        ]
    }


def cand(
    match_id: int,
    score: float,
    *,
    story: int | None = None,
    source: str = "outlet",
    hours_ago: float = 1.0,
    alerted: bool = False,
    title: str | None = None,
    text: str = "",
) -> Candidate:
    return Candidate(
        match_id=match_id,
        story_id=story,
        score=score,
        explanation=explain(("S-400", score, "the **S-400** deal")),
        title=title if title is not None else f"title {match_id}",
        url=f"https://example.org/{match_id}",
        source=source,
        published_at=NOW - timedelta(hours=hours_ago),
        alerted=alerted,
        text=text,
        article_id=match_id + 1000,
    )


def history(story: int, *delivered: tuple[int, str], text: str = "") -> StoryHistory:
    """A story this watchlist was sent: (match id, title) items, a day before NOW."""
    return StoryHistory(
        story,
        tuple(
            KnownItem(m, m + 1000, title, text, f"https://example.org/{m}",
                      NOW - timedelta(days=1), digest_id=77)
            for m, title in delivered
        ),
    )  # fmt: skip


WINDOW = WindowTerms(0, {})


def plan(candidates: list[Candidate], **options: Any) -> Any:
    defaults: dict[str, Any] = {
        "histories": {},
        "window": WINDOW,
        "story_outlets": {},
        "max_items": 25,
        "repeat_alerts": False,
    }
    return plan_digest(candidates, **{**defaults, **options})


# ---- digests ------------------------------------------------------------------------------


def test_also_reported_by_links_one_copy_per_other_outlet() -> None:
    result = plan(
        [cand(1, 9.0, story=10, source="AP"), cand(2, 5.0, story=10, source="Reuters")],
        story_outlets={
            10: [
                Copy("BBC", None, "no link known"),
                Copy("BBC", "https://bbc.example/b", "BBC's copy"),
                Copy("AP", "https://example.org/other-ap", "AP again"),  # the item's own outlet
                "dw",  # an outlet whose copy is not known
            ]
        },
    )
    (item,) = result.items
    assert item.copies == (
        Copy("BBC", "https://bbc.example/b", "BBC's copy"),  # the copy with a link wins
        Copy("dw", None, ""),
        Copy("Reuters", "https://example.org/2", "title 2"),  # a matched copy is a copy too
    )
    assert item.also_reported_by == ("BBC", "dw", "Reuters")


def test_the_stories_beyond_max_items_are_kept_for_complete_listings() -> None:
    result = plan([cand(n, 10.0 - n) for n in range(1, 6)], max_items=2)
    content = result.content(
        kind=DigestKind.DIGEST,
        watchlist_id="w",
        watchlist_name="W",
        generated_at=NOW,
        window_start=None,
        window_end=NOW,
    )
    assert [i.match_id for i in content.items] == [1, 2] and content.omitted == 3
    whole = content.complete()
    assert [i.match_id for i in whole.items] == [1, 2, 3, 4, 5] and whole.omitted == 0
    # A digest stored before copies and the rest were kept still reads.
    old = content.to_dict()
    old.pop("rest")
    for item in old["items"]:
        item.pop("copies")
    legacy = DigestContent.from_dict(old)
    assert legacy.complete().omitted == 3 and legacy.items[0].copies == ()


def test_one_item_per_story_represented_by_its_best_copy() -> None:
    result = plan(
        [
            cand(1, 5.0, story=10, source="ap"),
            cand(2, 9.0, story=10, source="reuters"),
            cand(3, 7.0, story=10, source="ap"),
            cand(4, 6.0, source="hurriyet"),
        ],
        story_outlets={10: {"ap", "reuters", "bbc"}},
    )
    assert [item.match_id for item in result.items] == [2, 4]
    assert result.items[0].also_reported_by == ("ap", "bbc")
    assert result.items[1].also_reported_by == ()
    assert result.total == 2
    assert result.consumed == (1, 2, 3, 4)
    assert result.duplicates == {1: 2, 3: 2}


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param([cand(1, 5.0), cand(2, 9.0), cand(3, 7.0)], [2, 3, 1], id="by-score"),
        pytest.param(
            [cand(1, 5.0, hours_ago=3), cand(2, 5.0, hours_ago=1)], [2, 1], id="tie-newer-first"
        ),
        pytest.param([cand(7, 5.0), cand(3, 5.0)], [3, 7], id="tie-same-time-lower-id"),
        pytest.param(
            [cand(1, 5.0, story=1, hours_ago=2), cand(2, 5.0, story=1, hours_ago=1)],
            [1],
            id="story-tie-earliest-copy-represents",
        ),
    ],
)
def test_ranking_is_deterministic(candidates: list[Candidate], expected: list[int]) -> None:
    assert [item.match_id for item in plan(candidates).items] == expected
    assert [item.match_id for item in plan(list(reversed(candidates))).items] == expected


def test_at_most_max_items_and_the_rest_counted() -> None:
    result = plan([cand(i, float(i)) for i in range(1, 8)], max_items=3)
    assert [item.match_id for item in result.items] == [7, 6, 5]
    assert result.total == 7
    assert result.consumed == tuple(range(1, 8))
    content = result.content(
        kind=DigestKind.DIGEST,
        watchlist_id="w",
        watchlist_name="W",
        generated_at=NOW,
        window_start=None,
        window_end=NOW,
    )
    assert content.omitted == 4


BORDER = "Turkey closes Cilvegozu border crossing with Syria after car bomb"
REOPENS = "Turkey reopens Cilvegozu border crossing with Syria days after car bomb"


def test_a_copy_of_a_story_delivered_earlier_is_not_delivered_again() -> None:
    result = plan(
        [
            cand(5, 9.0, story=10, source="bbc", title=BORDER),
            cand(6, 8.0, story=10, source="dw", title="UPDATE 1-" + BORDER),
            cand(7, 4.0),
        ],
        histories={10: history(10, (2, BORDER))},
    )
    assert [item.match_id for item in result.items] == [7]
    assert result.duplicates == {5: 2, 6: 2}
    assert result.consumed == (5, 6, 7)
    assert {(d.match_id, d.kind.value) for d in result.decisions} == {(5, "copy"), (6, "copy")}


def test_a_development_of_a_delivered_story_is_an_update_and_its_copies_are_not() -> None:
    result = plan(
        [
            cand(5, 9.0, story=10, source="bbc", title=REOPENS, hours_ago=3),
            cand(6, 8.0, story=10, source="dw", title=REOPENS, hours_ago=2),
            cand(8, 7.0, story=10, source="ap", title=BORDER, hours_ago=2),
        ],
        histories={10: history(10, (2, BORDER))},
    )
    assert [item.match_id for item in result.items] == [5]
    update = result.items[0].development_of
    assert update is not None
    assert (update.story_id, update.match_id, update.digest_id) == (10, 2, 77)
    assert update.title == BORDER and update.url == "https://example.org/2"
    assert "reopens" in update.new_sentence
    assert result.items[0].also_reported_by == ("dw",)
    # The second outlet's report of the reopening repeats the update; the late copy of the
    # closure repeats what was delivered.
    assert result.duplicates == {6: 5, 8: 2}


@pytest.mark.parametrize(("repeat", "shown"), [(False, []), (True, [1])])
def test_an_alerted_story_is_repeated_only_on_request(repeat: bool, shown: list[int]) -> None:
    result = plan(
        [
            cand(1, 12.0, story=10, alerted=True, title=BORDER),
            cand(2, 13.0, story=10, source="dw", title=BORDER),
        ],
        histories={10: history(10, (1, BORDER))},
        repeat_alerts=repeat,
    )
    assert [item.match_id for item in result.items] == shown
    assert result.duplicates == {2: 1}
    assert result.total == len(shown)


def test_an_alerted_match_without_a_story_is_hidden_too() -> None:
    result = plan([cand(1, 12.0, alerted=True), cand(2, 5.0)])
    assert [item.match_id for item in result.items] == [2]
    assert result.consumed == (1, 2)


@pytest.mark.parametrize(
    ("total", "send_empty", "expected"),
    [(0, False, False), (0, True, True), (3, False, True), (3, True, True)],
)
def test_empty_digests_are_sent_only_on_request(
    total: int, send_empty: bool, expected: bool
) -> None:
    content = DigestContent(DigestKind.DIGEST, "w", "W", NOW, None, NOW, (), total)
    assert should_send(content, send_empty=send_empty) is expected


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        plan([cand(1, 5.0)], max_items=0)


# ---- terms and snippets -------------------------------------------------------------------


def test_matched_terms_strongest_first_and_only_those_that_matched() -> None:
    explanation = {
        "terms": [
            {"term": "CAATSA", "title_count": 0, "body_count": 1, "contribution": 3.0},
            {"term": "S-400", "title_count": 1, "body_count": 0, "contribution": 7.5},
            {"term": "Incirlik", "title_count": 0, "body_count": 0, "contribution": 0.0},
        ]
    }
    assert matched_terms(explanation) == ("S-400", "CAATSA")
    assert matched_terms({}) == ()
    assert matched_terms({"terms": "garbage"}) == ()


@pytest.mark.parametrize(
    ("raw", "text", "highlights"),
    [
        pytest.param("…the **S-400** deal…", "…the S-400 deal…", ((5, 10),), id="scoring-marks"),
        pytest.param(
            "**S-400** and **CAATSA**", "S-400 and CAATSA", ((0, 5), (10, 16)), id="two-marks"
        ),
        pytest.param("no marks here", "no marks here", (), id="no-marks"),
    ],
)
def test_unmark(raw: str, text: str, highlights: tuple[tuple[int, int], ...]) -> None:
    assert unmark(raw) == (text, highlights)


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        pytest.param("İDLİB'de clashes", ["Idlib"], ["İDLİB'de"], id="turkish-i-and-suffix"),
        pytest.param("two S-400s arrived", ["S-400"], ["S-400s"], id="plural"),
        pytest.param("usual US policy", ["US"], ["US"], id="whole-words-only"),
        pytest.param("Erdoğan met", ["Erdogan"], ["Erdoğan"], id="diacritics"),
        pytest.param("nothing", ["S-400"], [], id="no-hit"),
    ],
)
def test_find_hits_marks_what_the_author_wrote(
    text: str, terms: list[str], expected: list[str]
) -> None:
    assert [text[a:b] for a, b in find_hits(text, terms)] == expected


def test_best_snippet_takes_the_strongest_term_and_falls_back_to_searching() -> None:
    explanation = explain(("CAATSA", 3.0, "**CAATSA** bites"), ("S-400", 7.0, "the S-400 deal"))
    snippet = best_snippet(explanation, matched_terms(explanation))
    assert snippet == Snippet("the S-400 deal", ((4, 9),))
    offsets = {
        "terms": [
            {
                "term": "X",
                "contribution": 1.0,
                "snippets": [{"text": "abc X", "highlights": [[4, 5], [9, 12]]}],
            }
        ]
    }
    assert best_snippet(offsets, ("X",)) == Snippet("abc X", ((4, 5),))
    assert best_snippet({"terms": []}, ()) is None


def test_snippet_segments() -> None:
    assert Snippet("a S-400 b", ((2, 7),)).segments() == [
        ("a ", False),
        ("S-400", True),
        (" b", False),
    ]
    assert Snippet("S-400", ((0, 5),)).segments() == [("S-400", True)]


# ---- alerts -------------------------------------------------------------------------------


def alerts(candidates: list[Candidate], **options: Any) -> Any:
    defaults: dict[str, Any] = {
        "alert_threshold": 10.0,
        "max_per_hour": 6,
        "recent_alerts": [],
        "now": NOW,
        "histories": {},
        "window": WINDOW,
        "story_outlets": {},
    }
    return plan_alerts(candidates, **{**defaults, **options})


def test_alerts_pick_strong_matches_one_per_story() -> None:
    result = alerts(
        [
            cand(1, 12.0, story=5, source="ap"),
            cand(2, 14.0, story=5, source="dw"),
            cand(3, 9.9),
            cand(4, 10.0),
        ],
        story_outlets={5: {"ap", "dw", "bbc"}},
    )
    assert [item.match_id for item in result.alerts] == [2, 4]
    assert result.alerts[0].also_reported_by == ("ap", "bbc")
    assert result.deferred == ()


@pytest.mark.parametrize(
    ("recent_minutes_ago", "max_per_hour", "alerted"),
    [
        pytest.param([], 6, [4, 3, 2, 1], id="within-budget"),
        pytest.param([], 2, [4, 3], id="budget-cuts-the-weakest"),
        pytest.param([5, 30, 59], 5, [4, 3], id="recent-alerts-count"),
        pytest.param([60, 61, 120], 2, [4, 3], id="an-hour-ago-no-longer-counts"),
        pytest.param([1, 2], 2, [], id="budget-spent"),
        pytest.param([], 0, [], id="alerts-off"),
    ],
)
def test_the_hourly_budget(
    recent_minutes_ago: list[int], max_per_hour: int, alerted: list[int]
) -> None:
    candidates = [cand(i, 10.0 + i) for i in range(1, 5)]
    result = alerts(
        candidates,
        max_per_hour=max_per_hour,
        recent_alerts=[NOW - timedelta(minutes=m) for m in recent_minutes_ago],
    )
    assert [item.match_id for item in result.alerts] == alerted
    assert set(result.deferred) == {1, 2, 3, 4} - set(alerted)


def test_no_alert_without_threshold_for_delivered_stories_or_twice() -> None:
    assert alerts([cand(1, 50.0)], alert_threshold=None).alerts == ()
    copy = cand(1, 50.0, story=3, title=BORDER)
    assert alerts([copy], histories={3: history(3, (9, BORDER))}).alerts == ()
    assert alerts([copy], histories={3: history(3, (9, BORDER))}).deferred == ()
    assert alerts([cand(1, 50.0, alerted=True)]).alerts == ()


def test_a_strong_development_of_a_delivered_story_is_alerted_once() -> None:
    result = alerts(
        [
            cand(1, 50.0, story=3, title=REOPENS, hours_ago=2),
            cand(2, 40.0, story=3, title=REOPENS, source="dw", hours_ago=1),
        ],
        histories={3: history(3, (9, BORDER))},
    )
    assert [item.match_id for item in result.alerts] == [1]
    assert result.alerts[0].development_of is not None
    assert alert_window_key(result.alerts[0]) == "story:3:update:1"
    assert result.deferred == ()


def test_alert_window_keys() -> None:
    items = alerts([cand(1, 12.0, story=9), cand(2, 12.0)]).alerts
    assert sorted(alert_window_key(item) for item in items) == ["match:2", "story:9"]


# ---- properties ---------------------------------------------------------------------------

candidate_lists = st.lists(
    st.builds(
        lambda i, score, story, source, hours, alerted: cand(
            i, score, story=story, source=source, hours_ago=hours, alerted=alerted
        ),
        st.integers(1, 10_000),
        st.floats(0, 30, allow_nan=False).map(lambda x: round(x, 1)),
        st.one_of(st.none(), st.integers(1, 6)),
        st.sampled_from(["ap", "reuters", "dw", "bbc"]),
        st.integers(0, 48),
        st.booleans(),
    ),
    max_size=30,
    unique_by=lambda c: c.match_id,
)


@settings(max_examples=150, deadline=None)
@given(
    candidate_lists,
    st.dictionaries(st.integers(1, 6), st.integers(20_000, 20_010), max_size=3),
    st.integers(1, 8),
    st.booleans(),
)
def test_every_match_is_taken_once_and_every_story_shown_at_most_once(
    candidates: list[Candidate], delivered: dict[int, int], max_items: int, repeat: bool
) -> None:
    histories = {s: history(s, (m, f"title {m}")) for s, m in delivered.items()}
    result = plan(candidates, histories=histories, max_items=max_items, repeat_alerts=repeat)
    assert sorted(result.consumed) == sorted(c.match_id for c in candidates)
    # A story shows once as itself; its developments are items of their own.
    keys = [
        (i.story_id, i.match_id if i.story_id is None or i.development_of else 0)
        for i in result.items
    ]
    assert len(keys) == len(set(keys))
    assert len(result.items) == min(max_items, result.total)
    assert all(result.duplicates[k] != k for k in result.duplicates)
    shown = {i.match_id for i in result.items}
    assert not shown & set(result.duplicates)
    # A story delivered before shows only as updates (or its alert, repeated on request).
    alerted_ids = {c.match_id for c in candidates if c.alerted}
    assert all(
        i.development_of or i.match_id in alerted_ids
        for i in result.items
        if i.story_id in delivered
    )
    scores = [i.score for i in result.items]
    assert scores == sorted(scores, reverse=True)
    if not repeat:
        alerted = {c.match_id for c in candidates if c.alerted}
        assert not shown & alerted


@settings(max_examples=100, deadline=None)
@given(candidate_lists, st.integers(0, 8), st.lists(st.integers(0, 120), max_size=8))
def test_alerts_never_exceed_the_budget(
    candidates: list[Candidate], max_per_hour: int, minutes: list[int]
) -> None:
    recent = [NOW - timedelta(minutes=m) for m in minutes]
    result = alerts(candidates, max_per_hour=max_per_hour, recent_alerts=recent)
    used = sum(1 for m in minutes if m < 60)
    assert len(result.alerts) <= max(0, max_per_hour - used)
    stories = [i.story_id for i in result.alerts if i.story_id is not None]
    assert len(stories) == len(set(stories))
    assert all(i.score >= 10.0 for i in result.alerts)


text_pieces = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="*"), max_size=20
)


@settings(max_examples=100, deadline=None)
@given(candidate_lists, text_pieces)
def test_content_survives_its_json_round_trip(candidates: list[Candidate], name: str) -> None:
    result = plan(candidates, max_items=5)
    content = result.content(
        kind=DigestKind.DIGEST,
        watchlist_id="w",
        watchlist_name=name,
        generated_at=NOW,
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
    )
    assert DigestContent.from_dict(content.to_dict()) == content


@given(
    st.lists(
        st.tuples(
            text_pieces,
            st.text(
                min_size=1,
                max_size=5,
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="*"),
            ),
        ),
        max_size=5,
    ),
    text_pieces,
)
def test_unmark_recovers_the_hits(pieces: list[tuple[str, str]], tail: str) -> None:
    marked = "".join(f"{plain}**{hit}**" for plain, hit in pieces) + tail
    text, spans = unmark(marked)
    assert text == "".join(plain + hit for plain, hit in pieces) + tail
    # Touching hits merge into one mark, so compare what is marked, not how it is cut.
    assert "".join(text[a:b] for a, b in spans) == "".join(hit for _, hit in pieces)


def test_two_alerts_of_a_story_repeated_on_request_show_it_once() -> None:
    """Found by the property test above: two alerted copies of a story, repeated with
    `repeat_alerts`, from before the story's delivered item, showed the story twice."""
    alerted = [cand(m, 0.0, story=2, hours_ago=24, alerted=True) for m in (2, 3)]
    result = plan(
        [cand(1, 0.0, hours_ago=0), *alerted],
        histories={2: history(2, (20_000, "title 20000"))},
        max_items=3,
        repeat_alerts=True,
    )
    assert [i.story_id for i in result.items].count(2) == 1


# ---- late copies: copies that grouping put into a story of their own -----------------------

QUAKE = "Earthquake in eastern Turkey kills at least 12"
QUAKE_REWORDED = "Quake kills at least 12 in eastern Turkey"
QUAKE_TOLL = "Quake death toll in eastern Turkey rises to 40"
# Every word as rare as can be among 300 stories: what a word weighs is not under test here.
RARE = WindowTerms(300, {})


def test_a_reworded_copy_grouped_apart_is_not_delivered_again() -> None:
    result = plan(
        # An hour after the delivered report (history() is a day old).
        [
            cand(5, 9.0, story=11, title=QUAKE_REWORDED, hours_ago=23),
            cand(6, 3.0, story=12, title=QUAKE_TOLL, hours_ago=23),
        ],
        recent=[history(10, (2, QUAKE))],
        window=RARE,
    )
    assert [item.match_id for item in result.items] == [6]  # the new toll is news
    assert result.duplicates == {5: 2}
    (decision,) = result.decisions
    assert (decision.match_id, decision.kind.value, decision.rule.value) == (5, "copy", "late-copy")
    assert decision.story_id == 10 and decision.against == 2
    assert "grouped apart" in decision.evidence


def test_without_recent_stories_or_shared_rare_words_a_new_story_is_delivered() -> None:
    quake = cand(5, 9.0, story=11, title=QUAKE_REWORDED, hours_ago=23)
    assert [i.match_id for i in plan([quake], window=RARE).items] == [5]
    # The same words, common in the window: they do not make the two one story.
    common = WindowTerms(300, dict.fromkeys(dv_terms(QUAKE), 300))
    result = plan([quake], recent=[history(10, (2, QUAKE))], window=common)
    assert [i.match_id for i in result.items] == [5] and result.decisions == ()


def test_two_copies_grouped_apart_in_one_digest_show_once_the_earlier() -> None:
    result = plan(
        [
            cand(5, 9.0, story=11, title=QUAKE_REWORDED, hours_ago=1),
            cand(6, 3.0, story=12, title=QUAKE, hours_ago=2),
        ],
        window=RARE,
    )
    assert [item.match_id for item in result.items] == [6]
    assert result.duplicates == {5: 6}
    assert [(d.match_id, d.story_id) for d in result.decisions] == [(5, 12)]


TOLL_REWORDED = "Eastern Turkey quake death toll climbs to 40"


@pytest.mark.parametrize("copy_hours_ago", [3, 1], ids=["copy-first", "copy-second"])
def test_a_development_and_its_copy_grouped_apart_in_one_poll_are_one_update(
    copy_hours_ago: float,
) -> None:
    """The toll rises: one outlet's report joins the delivered story (a development), a
    re-headlined copy of it lands in a story of its own. The reader gets the update once,
    whichever of the two was published first."""
    pending = [
        cand(5, 19.0, story=10, source="bbc", title=QUAKE_TOLL, hours_ago=2),
        cand(6, 19.5, story=12, source="dw", title=TOLL_REWORDED, hours_ago=copy_hours_ago),
    ]
    result = plan(pending, histories={10: history(10, (2, QUAKE))}, window=RARE)
    assert [item.match_id for item in result.items] == [5]
    assert result.items[0].development_of is not None
    assert result.duplicates == {6: 5}
    assert {(d.match_id, d.kind.value, d.rule.value) for d in result.decisions} >= {
        (6, "copy", "late-copy")
    }
    strong = alerts(pending, histories={10: history(10, (2, QUAKE))}, window=RARE)
    assert [item.match_id for item in strong.alerts] == [5]


def test_a_late_copy_is_not_alerted_nor_held_for_the_budget() -> None:
    result = alerts(
        [
            cand(1, 50.0, story=11, title=QUAKE_REWORDED, hours_ago=23),
            cand(2, 40.0, story=12, title=QUAKE_TOLL, hours_ago=23),
        ],
        recent=[history(10, (9, QUAKE))],
        window=RARE,
    )
    assert [item.match_id for item in result.alerts] == [2]
    assert [(d.match_id, d.rule.value) for d in result.decisions] == [(1, "late-copy")]
    assert result.deferred == ()


def dv_terms(title: str) -> frozenset[str]:
    from monitor.core.developments import story_terms

    return story_terms(title, "")
