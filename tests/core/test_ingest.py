"""core.ingest: which of a feed's entries are new, edited, unchanged, tombstoned or listed twice.

Named cases for each rule, on entries whose identity and hash come from core.identity as the
parser computes them; then properties over arbitrary feeds and stored states.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.identity import content_hash, identity_key
from monitor.core.ingest import (
    EditedEntry,
    IngestPlan,
    KnownArticle,
    classify_entries,
    distinct_identity_keys,
)
from monitor.core.model import NormalizedEntry

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LINK = "https://example.org/s400"


def parsed(
    guid: str | None = "guid-1",
    link: str | None = LINK,
    title: str = "Turkey takes delivery of the S-400",
    text: str = "The first battery arrived at Mürted.",
) -> NormalizedEntry:
    """An entry as adapters.feed_parse would produce it."""
    return NormalizedEntry(
        identity_key=identity_key(guid, link, title, text),
        guid=guid,
        url=link,
        canonical_url=link,
        title=title,
        text=text,
        author=None,
        published_at=T0,
        content_hash=content_hash(title, text),
    )


def stored(entry: NormalizedEntry, article_id: int = 1, *, pruned: bool = False) -> KnownArticle:
    """The row the feed holds for `entry` as it was stored."""
    return KnownArticle(article_id, entry.content_hash, pruned=pruned)


ORIGINAL = parsed()
RETITLED = parsed(title="Turkey takes delivery of the first S-400 battery")
REWORDED = parsed(text="The first battery arrived at Mürted air base near Ankara.")
RECASED = parsed(text="THE FIRST  BATTERY arrived at mürted.")  # folds to the same hash
MOVED = parsed(link="https://example.org/2026/s400")  # same guid, another link
OTHER = parsed(guid="guid-2", title="CAATSA sanctions on SSB", text="Washington acted.")
BY_LINK = parsed(guid=None)
BY_LINK_EDITED = parsed(guid=None, text="Updated: the second battery follows in spring.")
BY_HASH = parsed(guid=None, link=None)
BY_HASH_EDITED = parsed(guid=None, link=None, text="Updated: the second battery follows.")


@dataclass(frozen=True)
class Case:
    entries: Sequence[NormalizedEntry]
    known: Mapping[str, KnownArticle]
    new: Sequence[NormalizedEntry] = ()
    edited: Sequence[tuple[int, NormalizedEntry]] = ()
    unchanged: Sequence[NormalizedEntry] = ()
    tombstoned: Sequence[NormalizedEntry] = ()
    duplicates: Sequence[NormalizedEntry] = field(default=())


CASES = {
    "empty feed": Case([], {}),
    "new": Case([ORIGINAL, OTHER], {}, new=[ORIGINAL, OTHER]),
    "edited title": Case(
        [RETITLED], {ORIGINAL.identity_key: stored(ORIGINAL, 7)}, edited=[(7, RETITLED)]
    ),
    "edited text": Case(
        [REWORDED], {ORIGINAL.identity_key: stored(ORIGINAL, 7)}, edited=[(7, REWORDED)]
    ),
    "unchanged": Case([ORIGINAL], {ORIGINAL.identity_key: stored(ORIGINAL)}, unchanged=[ORIGINAL]),
    "only case and spacing changed: unchanged": Case(
        [RECASED], {ORIGINAL.identity_key: stored(ORIGINAL)}, unchanged=[RECASED]
    ),
    # The hash covers title and text only: a new link under the same guid updates nothing.
    "a moved link under the same guid: unchanged": Case(
        [MOVED], {ORIGINAL.identity_key: stored(ORIGINAL)}, unchanged=[MOVED]
    ),
    "listed twice in one feed: the first wins": Case(
        [ORIGINAL, OTHER, REWORDED], {}, new=[ORIGINAL, OTHER], duplicates=[REWORDED]
    ),
    "listed twice in one feed, already stored": Case(
        [ORIGINAL, ORIGINAL],
        {ORIGINAL.identity_key: stored(ORIGINAL)},
        unchanged=[ORIGINAL],
        duplicates=[ORIGINAL],
    ),
    "listed twice, the first copy edited": Case(
        [REWORDED, ORIGINAL],
        {ORIGINAL.identity_key: stored(ORIGINAL, 3)},
        edited=[(3, REWORDED)],
        duplicates=[ORIGINAL],
    ),
    "tombstoned (pruned)": Case(
        [ORIGINAL], {ORIGINAL.identity_key: stored(ORIGINAL, pruned=True)}, tombstoned=[ORIGINAL]
    ),
    "tombstoned and edited since: never revived": Case(
        [REWORDED], {ORIGINAL.identity_key: stored(ORIGINAL, pruned=True)}, tombstoned=[REWORDED]
    ),
    "tombstoned and listed twice": Case(
        [ORIGINAL, RETITLED],
        {ORIGINAL.identity_key: stored(ORIGINAL, pruned=True)},
        tombstoned=[ORIGINAL],
        duplicates=[RETITLED],
    ),
    "guid-less entry identified by link: edited": Case(
        [BY_LINK_EDITED], {BY_LINK.identity_key: stored(BY_LINK, 4)}, edited=[(4, BY_LINK_EDITED)]
    ),
    "guid-less entry identified by link: unchanged": Case(
        [BY_LINK], {BY_LINK.identity_key: stored(BY_LINK)}, unchanged=[BY_LINK]
    ),
    "guid-less, link-less entry identified by hash: unchanged": Case(
        [BY_HASH], {BY_HASH.identity_key: stored(BY_HASH)}, unchanged=[BY_HASH]
    ),
    # With neither guid nor link the text is the identity: an edit is another item.
    "guid-less, link-less entry identified by hash: an edit is new": Case(
        [BY_HASH_EDITED], {BY_HASH.identity_key: stored(BY_HASH)}, new=[BY_HASH_EDITED]
    ),
    "the same item by guid and by link are different items": Case(
        [ORIGINAL, BY_LINK],
        {BY_LINK.identity_key: stored(BY_LINK)},
        new=[ORIGINAL],
        unchanged=[BY_LINK],
    ),
    "stored rows the feed no longer lists are ignored": Case(
        [OTHER], {ORIGINAL.identity_key: stored(ORIGINAL)}, new=[OTHER]
    ),
    "every class at once, in feed order": Case(
        [OTHER, REWORDED, BY_LINK, BY_HASH, ORIGINAL, BY_HASH],
        {
            ORIGINAL.identity_key: stored(ORIGINAL, 1),
            BY_LINK.identity_key: stored(BY_LINK, 2, pruned=True),
            BY_HASH.identity_key: stored(BY_HASH, 3),
        },
        new=[OTHER],
        edited=[(1, REWORDED)],
        unchanged=[BY_HASH],
        tombstoned=[BY_LINK],
        duplicates=[ORIGINAL, BY_HASH],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_classify_entries(case: Case) -> None:
    plan = classify_entries(case.entries, case.known)
    assert plan == IngestPlan(
        new=tuple(case.new),
        edited=tuple(EditedEntry(article_id, entry) for article_id, entry in case.edited),
        unchanged=tuple(case.unchanged),
        tombstoned=tuple(case.tombstoned),
        duplicates_in_feed=tuple(case.duplicates),
    )


def test_distinct_identity_keys_are_each_key_once_in_feed_order() -> None:
    keys = distinct_identity_keys([OTHER, ORIGINAL, REWORDED, BY_LINK, OTHER])
    assert keys == [OTHER.identity_key, ORIGINAL.identity_key, BY_LINK.identity_key]


# Properties. Few keys and hashes, so feeds list items twice and stored rows collide often.
KEYS = [f"key-{n}" for n in range(6)]
HASHES = [f"hash-{n}" for n in range(3)]

entries_strategy = st.lists(
    st.builds(
        NormalizedEntry,
        identity_key=st.sampled_from(KEYS),
        guid=st.none(),
        url=st.none(),
        canonical_url=st.none(),
        title=st.text(max_size=3),
        text=st.text(max_size=3),
        author=st.none(),
        published_at=st.just(T0),
        content_hash=st.sampled_from(HASHES),
    ),
    max_size=12,
)
known_strategy = st.dictionaries(
    st.sampled_from(KEYS),
    st.builds(
        KnownArticle,
        article_id=st.integers(1, 1000),
        content_hash=st.sampled_from(HASHES),
        pruned=st.booleans(),
    ),
)


def classes(plan: IngestPlan) -> dict[str, list[NormalizedEntry]]:
    return {
        "new": list(plan.new),
        "edited": [edit.entry for edit in plan.edited],
        "unchanged": list(plan.unchanged),
        "tombstoned": list(plan.tombstoned),
        "duplicates_in_feed": list(plan.duplicates_in_feed),
    }


def known_after(plan: IngestPlan, known: Mapping[str, KnownArticle]) -> dict[str, KnownArticle]:
    """What the feed stores once the plan is applied (as article_store applies it)."""
    after = dict(known)
    next_id = max((row.article_id for row in known.values()), default=0) + 1
    for offset, entry in enumerate(plan.new):
        after[entry.identity_key] = KnownArticle(next_id + offset, entry.content_hash)
    for edit in plan.edited:
        key = edit.entry.identity_key
        after[key] = replace(after[key], content_hash=edit.entry.content_hash)
    return after


@given(entries_strategy, known_strategy)
def test_every_entry_lands_in_exactly_one_class(
    entries: list[NormalizedEntry], known: dict[str, KnownArticle]
) -> None:
    plan = classify_entries(entries, known)
    placed = Counter(id(entry) for group in classes(plan).values() for entry in group)
    assert placed == Counter(id(entry) for entry in entries)


@given(entries_strategy, known_strategy)
def test_each_class_keeps_feed_order_and_its_rule(
    entries: list[NormalizedEntry], known: dict[str, KnownArticle]
) -> None:
    plan = classify_entries(entries, known)
    position = {id(entry): index for index, entry in enumerate(entries)}
    for group in classes(plan).values():
        assert [position[id(e)] for e in group] == sorted(position[id(e)] for e in group)
    firsts: dict[str, NormalizedEntry] = {}
    for entry in entries:
        firsts.setdefault(entry.identity_key, entry)
    kept = [
        e for name, group in classes(plan).items() if name != "duplicates_in_feed" for e in group
    ]
    assert sorted(map(id, kept)) == sorted(map(id, firsts.values()))
    assert all(e.identity_key not in known for e in plan.new)
    for edit in plan.edited:
        row = known[edit.entry.identity_key]
        assert not row.pruned and row.content_hash != edit.entry.content_hash
        assert edit.article_id == row.article_id
    for e in plan.unchanged:
        row = known[e.identity_key]
        assert not row.pruned and row.content_hash == e.content_hash
    assert all(known[e.identity_key].pruned for e in plan.tombstoned)


@given(entries_strategy, known_strategy)
def test_classifying_again_after_applying_the_plan_finds_nothing_to_write(
    entries: list[NormalizedEntry], known: dict[str, KnownArticle]
) -> None:
    first = classify_entries(entries, known)
    again = classify_entries(entries, known_after(first, known))
    assert again.new == () and again.edited == ()
    assert again.tombstoned == first.tombstoned
    assert again.duplicates_in_feed == first.duplicates_in_feed
    # Everything written the first time (and everything already in step) is now unchanged.
    written = [*first.new, *(edit.entry for edit in first.edited), *first.unchanged]
    assert sorted(map(id, again.unchanged)) == sorted(map(id, written))


def classify_as_the_adapter_did(
    entries: Sequence[NormalizedEntry], known: Mapping[str, KnownArticle]
) -> tuple[list[NormalizedEntry], list[tuple[int, NormalizedEntry]], int]:
    """article_store.store_entries's inline rule before it moved here: (fresh, edited,
    unchanged count), kept as the oracle that proves the move changed no behaviour."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.identity_key not in seen:
            seen.add(entry.identity_key)
            unique.append(entry)
    fresh = [e for e in unique if e.identity_key not in known]
    edited = [
        (known[e.identity_key].article_id, e)
        for e in unique
        if e.identity_key in known
        and not known[e.identity_key].pruned
        and known[e.identity_key].content_hash != e.content_hash
    ]
    return fresh, edited, len(unique) - len(fresh) - len(edited)


@given(entries_strategy, known_strategy)
def test_the_plan_is_what_the_adapter_decided_before(
    entries: list[NormalizedEntry], known: dict[str, KnownArticle]
) -> None:
    plan = classify_entries(entries, known)
    fresh, edited, unchanged = classify_as_the_adapter_did(entries, known)
    assert list(plan.new) == fresh
    assert [(edit.article_id, edit.entry) for edit in plan.edited] == edited
    assert len(plan.unchanged) + len(plan.tombstoned) == unchanged
