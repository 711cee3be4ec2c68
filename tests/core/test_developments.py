"""core.developments: the copy-or-development decision.

Named cases for each signal, Hypothesis properties of what must stay a copy, and the floors of
issue 9 on tests/data/story_developments.jsonl and story_timelines.jsonl (see their README):
development recall >= 0.95 and copy suppression >= 0.95. The shipped model does not reach
them (bench/developments.py prints why): the floor tests are strict xfails that say the
measured figures, and regression tests hold the figures reached so far.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import developments as dv

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


PAIRS = load("story_developments.jsonl")
TIMELINES = load("story_timelines.jsonl")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def item(side: dict[str, Any]) -> dv.StoryItem:
    return dv.StoryItem(side["title"], side["text"], parse_time(side["published"]))


def build_window() -> dv.WindowTerms:
    """Story frequencies over every article of both labelled files, each story counted once:
    the same window bench/developments.py measures with."""
    stories: dict[str, dict[tuple[str, str], tuple[str, str]]] = defaultdict(dict)
    placed: dict[tuple[str, str], str] = {}
    for rows in (load("story_pairs.jsonl"), PAIRS):
        for row in rows:
            for side in (row["a"], row["b"]):
                key = (side["title"], side["text"][:200])
                if key in placed:
                    stories[placed[key]].pop(key, None)
                placed[key] = side.get("uci_story") or row.get("group") or side["url"]
                stories[placed[key]][key] = (side["title"], side["text"])
    return dv.window_terms(v.values() for v in stories.values() if v)


WINDOW = build_window()


def story(title: str, text: str = "", hours: float = 0.0) -> dv.StoryItem:
    return dv.StoryItem(title, text, T0 + timedelta(hours=hours))


# ------------------------------------------------------------------------------- cases

CROSSING = (
    "ANKARA, Turkey (AW) — Turkey closed the Cilvegozu border crossing with Syria on Monday "
    "after a car bomb killed two people near the gate, the governor's office said. The crossing "
    "is the main route for aid deliveries into northwestern Syria."
)
QUAKE = (
    "MALATYA, Turkey (AW) — An earthquake in eastern Turkey killed at least 12 people early on "
    "Friday, officials said. Rescue teams were searching collapsed buildings in three villages."
)
QUAKE_TOLL = (
    "MALATYA, Turkey (AW) — The death toll from an earthquake in eastern Turkey rose to 31 on "
    "Friday as rescuers pulled more bodies from collapsed buildings, officials said. Rescue teams "
    "were searching collapsed buildings in three villages."
)

# (name, delivered items, article, expected kind)
CASES: list[tuple[str, list[dv.StoryItem], dv.StoryItem, dv.Kind]] = [
    (
        "exact copy, headline only",
        [story("Mt. Gox files for US bankruptcy protection")],
        story("Mt. Gox files for US bankruptcy protection", hours=3),
        dv.Kind.COPY,
    ),
    (
        "wire slug and version mark are not news",
        [story("Libyan navy attacks ship carrying oil from rebel port; PM sacked")],
        story("UPDATE 3-Libyan navy attacks ship carrying oil from rebel port; PM sacked (2)"),
        dv.Kind.COPY,
    ),
    (
        "re-headlined with a synonym, same lede",
        [story("Turkey closes Cilvegozu border crossing with Syria after car bomb", CROSSING)],
        story("Cilvegozu crossing shut after deadly car bombing", CROSSING, hours=2),
        dv.Kind.COPY,
    ),
    (
        "dateline dropped and text trimmed",
        [story("Turkey closes Cilvegozu border crossing with Syria after car bomb", CROSSING)],
        story(
            "Turkey closes border crossing with Syria after car bomb",
            CROSSING.split(" — ", 1)[1].split(" The crossing")[0],
            hours=21,
        ),
        dv.Kind.COPY,
    ),
    (
        "the same amount written two ways",
        [story("Men's Wearhouse to buy Jos. A. Bank for $1.8B")],
        story("Men's Wearhouse to buy Jos. A. Bank for $1.8 billion"),
        dv.Kind.COPY,
    ),
    (
        "a number rounded",
        [story("Chrysler Recalls 25250 Jeep Grand Cherokee, Dodge Durango SUVs")],
        story("Chrysler Recalls 25000 Jeep Grand Cherokee, Dodge Durango SUVs"),
        dv.Kind.COPY,
    ),
    (
        "closed, then reopened: templated opposite",
        [story("Turkey closes Cilvegozu border crossing with Syria after car bomb", CROSSING)],
        story(
            "Turkey reopens Cilvegozu border crossing with Syria",
            CROSSING.replace("closed", "reopened").replace(
                "on Monday after", "on Wednesday, two days after"
            ),
            hours=47,
        ),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "curfew imposed, then lifted",
        [story("Authorities impose overnight curfew in Erbil after election clashes")],
        story("Erbil curfew lifted after three nights of calm", hours=62),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "strike called off, then goes ahead",
        [story("Rail unions call off Monday strike after new pay offer")],
        story("Rail strike goes ahead on Monday after talks collapse", hours=51),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "a new death toll",
        [story("Earthquake in eastern Turkey kills at least 12", QUAKE)],
        story("Death toll in eastern Turkey earthquake rises to 31", QUAKE_TOLL, hours=10),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "a copy of the new toll, once the toll was delivered",
        [
            story("Earthquake in eastern Turkey kills at least 12", QUAKE),
            story("Death toll in eastern Turkey earthquake rises to 31", QUAKE_TOLL, hours=10),
        ],
        story("Turkey quake toll climbs to 31", QUAKE_TOLL.split(" Rescue teams")[0], hours=11),
        dv.Kind.COPY,
    ),
    (
        "a denial",
        [story("Libya halts tanker outside rebel port")],
        story("Libya says halts tanker outside rebel port; rebels deny it"),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "what was a bid is now done",
        [story("Libya MPs in new bid to oust PM after rebel oil shipment")],
        story("Libya MPs oust PM after rebel oil shipment"),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "preview, then the filing",
        [story("Sbarro reportedly preparing for Ch. 11 bankruptcy")],
        story("Pizza chain Sbarro files Ch. 11 bankruptcy for second time"),
        dv.Kind.DEVELOPMENT,
    ),
    (
        "another institution acts",
        [story("House panel demands recall data from GM, NHTSA")],
        story("US agency demands recall data from General Motors"),
        dv.Kind.DEVELOPMENT,
    ),
]


@pytest.mark.parametrize(
    ("delivered", "article", "expected"),
    [pytest.param(d, a, k, id=name) for name, d, a, k in CASES],
)
def test_cases(delivered: list[dv.StoryItem], article: dv.StoryItem, expected: dv.Kind) -> None:
    decision = dv.classify_update(article, delivered, WINDOW)
    assert decision.kind is expected, decision


def test_a_story_with_nothing_delivered_is_not_a_copy_question() -> None:
    with pytest.raises(ValueError, match="nothing to copy"):
        dv.classify_update(story("Anything"), [], WINDOW)


def test_a_development_says_which_signal_decided_and_quotes_the_new_sentence() -> None:
    delivered = [story("Earthquake in eastern Turkey kills at least 12", QUAKE)]
    article = story("Death toll in eastern Turkey earthquake rises to 31", QUAKE_TOLL, hours=10)
    decision = dv.classify_update(article, delivered, WINDOW)
    assert decision.kind is dv.Kind.DEVELOPMENT
    assert decision.rule is not dv.Rule.NOTHING_NEW
    assert decision.evidence
    assert decision.probability > dv.THRESHOLD
    # the text's first sentence, which says what changed, not the dateline or the headline
    assert decision.new_sentence.startswith("MALATYA, Turkey (AW) — The death toll")
    assert "rose to 31" in decision.new_sentence


def test_a_copy_has_no_new_sentence_and_names_the_same_lede() -> None:
    delivered = [
        story("Turkey closes Cilvegozu border crossing with Syria after car bomb", CROSSING)
    ]
    article = story("Cilvegozu crossing shut after deadly car bombing", CROSSING, hours=2)
    decision = dv.classify_update(article, delivered, WINDOW)
    assert decision.kind is dv.Kind.COPY
    assert decision.rule is dv.Rule.SAME_LEDE
    assert decision.new_sentence == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("$1.8B", {1.8e9}, id="scale letter"),
        pytest.param("$1.8 billion", {1.8e9}, id="scale word"),
        pytest.param("25,250 vehicles", {25250.0}, id="thousands comma"),
        pytest.param("58% voted against", {58.0}, id="percent"),
        pytest.param("its second bankruptcy", {2.0}, id="ordinal word"),
        pytest.param("two days after the bombing", set(), id="duration"),
        pytest.param("in 2015", set(), id="year"),
        pytest.param("Q4 profit", set(), id="code"),
        pytest.param("write-downs and a third-party audit", set(), id="compounds"),
        pytest.param("the two countries", set(), id="definite reference"),
    ],
)
def test_numbers(text: str, expected: set[float]) -> None:
    assert set(dv._numbers(text)) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("UPDATE 2-Twitter crashes again", "Twitter crashes again", id="update slug"),
        pytest.param("RPT-Mt. Gox files for bankruptcy", "Mt. Gox files for bankruptcy", id="rpt"),
        pytest.param("SAC Renames Itself -- 3rd Update", "SAC Renames Itself", id="nth update"),
        pytest.param("Sbarro files (1)", "Sbarro files", id="version"),
        pytest.param("Dunham apologizes 0", "Dunham apologizes", id="syndication digit"),
    ],
)
def test_wire_marks_are_cut_from_titles(title: str, expected: str) -> None:
    assert dv.clean_title(title) == expected


# ------------------------------------------------------------------------------- properties

ITEMS = sorted(
    {(p[s]["title"], p[s]["text"]) for p in PAIRS for s in ("a", "b")},
)
BOILERPLATE = (
    "This story has been updated.",
    "This is a developing story.",
    "Sign up for our daily briefing.",
    "(Reporting by Jane Doe; Editing by John Roe)",
)


def _ended(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "”", '"', ")")) else text + "."


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ITEMS), st.floats(min_value=0, max_value=7 * 24))
def test_an_exact_copy_is_a_copy_however_late_in_the_window(
    original: tuple[str, str], hours: float
) -> None:
    title, text = original
    decision = dv.classify_update(story(title, text, hours), [story(title, text)], WINDOW)
    assert decision.kind is dv.Kind.COPY, decision


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ITEMS), st.sampled_from(BOILERPLATE))
def test_adding_only_a_boilerplate_line_stays_a_copy(original: tuple[str, str], line: str) -> None:
    title, text = original
    copy = f"{_ended(text)} {line}" if text else line
    decision = dv.classify_update(story(title, copy, 2), [story(title, text)], WINDOW)
    assert decision.kind is dv.Kind.COPY, decision


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ITEMS),
    st.sampled_from(("UPDATE 1-", "UPDATE 3-", "RPT-", "WRAPUP 2-", "")),
    st.sampled_from(("", " (2)", " -- 2nd Update")),
    st.booleans(),
)
def test_wire_marks_and_case_keep_a_copy(
    original: tuple[str, str], prefix: str, suffix: str, shout: bool
) -> None:
    title, text = original
    retitled = prefix + (title.upper() if shout else title) + suffix
    decision = dv.classify_update(story(retitled, text, 1), [story(title, text)], WINDOW)
    assert decision.kind is dv.Kind.COPY, decision


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([i for i in ITEMS if i[1]]))
def test_dropping_later_sentences_stays_a_copy(original: tuple[str, str]) -> None:
    title, text = original
    trimmed = dv.sentences(text)[0]
    decision = dv.classify_update(story(title, trimmed, 5), [story(title, text)], WINDOW)
    assert decision.kind is dv.Kind.COPY, decision


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=99),
    st.sampled_from((" percent", " pct", " per cent")),
    st.booleans(),
)
def test_spelling_out_the_percent_sign_stays_a_copy(
    value: int, spelled: str, in_title: bool
) -> None:
    lede = (
        "ANKARA (AW) - Turkey's central bank cut its main interest rate to {n} on Thursday, "
        "its first cut this year, the bank said."
    )
    title = "Turkish central bank cuts main rate to {n}"
    delivered = story(title.format(n=f"{value}%"), lede.format(n=f"{value}%"))
    copy = story(
        title.format(n=f"{value}{spelled}") if in_title else "Turkey lowers its key rate",
        lede.format(n=f"{value}{spelled}").removeprefix("ANKARA (AW) - "),
        3,
    )
    decision = dv.classify_update(copy, [delivered], WINDOW)
    assert decision.kind is dv.Kind.COPY, decision


# ------------------------------------------------------------------------------- evaluation


def pair_rates(split: str, pairs: list[dict[str, Any]] = PAIRS) -> tuple[float, float, int, int]:
    """(development recall, copy suppression, developments, copies) of the decision on the
    split's pairs, each later item decided against its earlier one as if it joined."""
    counts: Counter[tuple[str, bool]] = Counter()
    for p in pairs:
        if p["split"] != split or p["label"] == "same_event":
            continue
        kind = dv.classify_update(item(p["b"]), [item(p["a"])], WINDOW).kind
        counts[p["label"], kind is dv.Kind.DEVELOPMENT] += 1
    devs = counts["development", True] + counts["development", False]
    copies = counts["copy", True] + counts["copy", False]
    return counts["development", True] / devs, counts["copy", False] / copies, devs, copies


def event_root(items: dict[str, dict[str, Any]], key: str) -> str:
    """The development or new story an item reports: itself, or what it is a copy of."""
    while items[key]["expect"] == "copy" and items[key]["of"] is not None:
        key = items[key]["of"]
    return key


def score_waves(
    timeline: dict[str, Any], delivered_keys: set[str]
) -> tuple[list[bool], list[bool]]:
    """(one flag per wave-2 event: delivered at all; one per wave-2 copy: held back).

    A development and its copies come in one poll, and whichever arrives first is the one to
    deliver: the event counts as delivered if any of them was, and only the others count as
    copies that should have been held back."""
    items = {i["key"]: i for i in timeline["items"]}
    events: dict[str, list[str]] = defaultdict(list)
    copies_right: list[bool] = []
    for it in sorted(timeline["items"], key=lambda i: i["published"]):
        if it["wave"] != 2:
            continue
        root = event_root(items, it["key"])
        if items[root]["wave"] == 2:
            events[root].append(it["key"])
        else:
            copies_right.append(it["key"] not in delivered_keys)
    events_right = []
    for members in events.values():
        shown = [k for k in members if k in delivered_keys]
        events_right.append(bool(shown))
        copies_right.extend(k not in shown[1:] for k in members if items[k]["expect"] == "copy")
    return events_right, copies_right


def timeline_rates(split: str) -> tuple[float, float]:
    """Two waves at the decision level: every wave-2 item is taken to join its timeline's
    story (grouping is core.dedup's, tested with it) and is decided against what was
    delivered: wave 1's original, then each wave-2 item delivered before it."""
    events_right: list[bool] = []
    copies_right: list[bool] = []
    for timeline in TIMELINES:
        if timeline["split"] != split:
            continue
        items = sorted(timeline["items"], key=lambda i: (i["wave"], i["published"]))
        delivered = [i for i in items if i["wave"] == 1 and i["expect"] == "new"]
        for it in items:
            if it["wave"] != 2:
                continue
            kind = dv.classify_update(item(it), [item(d) for d in delivered], WINDOW).kind
            if kind is dv.Kind.DEVELOPMENT:
                delivered.append(it)
        e, c = score_waves(timeline, {d["key"] for d in delivered})
        events_right += e
        copies_right += c
    return sum(events_right) / len(events_right), sum(copies_right) / len(copies_right)


def _shares(values: Iterable[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def test_the_set_is_well_formed() -> None:
    assert len({p["id"] for p in PAIRS}) == len(PAIRS)
    labels = Counter(p["label"] for p in PAIRS)
    assert labels["copy"] + labels["development"] >= 150
    assert labels["development"] >= 50
    groups: dict[str, set[str]] = defaultdict(set)
    for p in PAIRS:
        assert p["label"] in {"copy", "development", "same_event"}, p["id"]
        assert p["split"] in {"tune", "heldout"}, p["id"]
        assert p["note"], p["id"]
        for side in ("a", "b"):
            assert {"outlet", "title", "summary", "text", "url", "published"} <= set(p[side])
        assert parse_time(p["a"]["published"]) <= parse_time(p["b"]["published"]), p["id"]
        groups[p["group"]].add(p["split"])
    assert all(len(splits) == 1 for splits in groups.values()), "a story in both splits"
    for timeline in TIMELINES:
        keys = {i["key"] for i in timeline["items"]}
        assert {i["wave"] for i in timeline["items"]} == {1, 2}, timeline["id"]
        for i in timeline["items"]:
            assert i["expect"] in {"new", "copy", "development"}
            assert i["of"] is None or i["of"] in keys, (timeline["id"], i["key"])


def test_templated_opposites_are_in_the_set() -> None:
    notes = " ".join(p["note"] for p in PAIRS if p["label"] == "development").lower()
    for pair in ("reopen", "lifted", "rejected", "goes ahead", "called off", "denial", "toll"):
        assert pair in notes, pair


# Figures reached by the shipped model (bench/developments.py); a change that loses any of
# them fails here, one that reaches the floors fails the strict xfails below.
REACHED = {"tune": (0.95, 0.93), "heldout": (0.92, 0.90)}
TIMELINES_REACHED = {"tune": (0.96, 0.83), "heldout": (0.95, 0.91)}


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_pairs_keep_the_figures_reached(split: str) -> None:
    recall, suppression, devs, copies = pair_rates(split)
    assert devs >= (100 if split == "tune" else 25) and copies >= (250 if split == "tune" else 70)
    assert recall >= REACHED[split][0], _shares((recall, suppression))
    assert suppression >= REACHED[split][1], _shares((recall, suppression))


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_timelines_keep_the_figures_reached(split: str) -> None:
    recall, suppression = timeline_rates(split)
    assert recall >= TIMELINES_REACHED[split][0], _shares((recall, suppression))
    assert suppression >= TIMELINES_REACHED[split][1], _shares((recall, suppression))


@pytest.mark.parametrize(
    "split",
    [
        pytest.param(
            "tune",
            marks=pytest.mark.xfail(
                strict=True, reason="measured 0.959 recall / 0.938 suppression: copies miss"
            ),
        ),
        pytest.param(
            "heldout",
            marks=pytest.mark.xfail(
                strict=True, reason="measured 0.923 recall / 0.905 suppression: both miss"
            ),
        ),
    ],
)
def test_pairs_meet_the_issue_floors(split: str) -> None:
    recall, suppression, _, _ = pair_rates(split)
    assert recall >= 0.95 and suppression >= 0.95, _shares((recall, suppression))


@pytest.mark.xfail(
    strict=True,
    reason="measured 0.875 recall / 0.683 suppression on the fresh set: lexical misses "
    "(synonyms read as new events, outlet suffixes read as numbers, passive subjects)",
)
def test_the_fresh_held_out_set_meets_the_issue_floors() -> None:
    """tests/data/story_fresh_heldout.jsonl, labelled after the method was frozen and
    measured once: the honest held-out figure (see its README section)."""
    recall, suppression, devs, copies = pair_rates("fresh", load("story_fresh_heldout.jsonl"))
    assert (devs, copies) == (32, 120)
    assert recall >= 0.95 and suppression >= 0.95, _shares((recall, suppression))


# ------------------------------------------------------------------------------- grouping guard


@pytest.mark.parametrize(
    ("title", "story_title", "apart"),
    [
        pytest.param("Turkey reopens Cilvegozu crossing", "Turkey closes Cilvegozu crossing",
                     True, id="closes-reopens"),
        pytest.param("Greece lifts ban on Polish poultry", "Greece imposes ban on Polish poultry",
                     True, id="imposed-lifted"),
        pytest.param("Senate rejects the budget bill", "Senate approves the budget bill", True,
                     id="approved-rejected"),
        pytest.param("Cilvegozu crossing shut after car bomb", "Turkey closes Cilvegozu crossing",
                     False, id="synonym-copy"),
        pytest.param("UPDATE 2-Turkey closes Cilvegozu crossing", "Turkey closes Cilvegozu crossing",
                     False, id="wire-mark-copy"),
        pytest.param("Turkey closes, then reopens, Cilvegozu crossing",
                     "Turkey closes Cilvegozu crossing", False, id="restates-both"),
    ],
)  # fmt: skip
def test_grouping_keeps_templated_opposites_apart(
    title: str, story_title: str, apart: bool
) -> None:
    assert dv.kept_apart(title, story_title) is apart
    assert dv.kept_apart(story_title, title) is apart


def test_the_grouping_guard_loses_no_labelled_copy() -> None:
    copies = [p for p in [*PAIRS, *load("story_pairs.jsonl")] if p["label"] == "copy"]
    assert len(copies) > 500
    assert [p["id"] for p in copies if dv.kept_apart(p["b"]["title"], p["a"]["title"])] == []


@given(
    gaps=st.lists(st.integers(min_value=-96, max_value=96), min_size=1, max_size=6),
    text=st.sampled_from(["", "  ", "Stocks rose."]),
)
def test_only_a_bare_headline_a_day_from_every_report_is_a_next_edition(
    gaps: list[int], text: str
) -> None:
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    reports = [at + timedelta(hours=g) for g in gaps]
    expected = not text.strip() and all(abs(g) > 24 for g in gaps)
    assert dv.next_edition(text, at, reports) is expected
    assert dv.next_edition("", at, []) is False  # nothing to be an edition of
