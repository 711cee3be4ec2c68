"""Which of a feed's parsed entries are new, edited, unchanged or dropped: a pure decision.

Holds `classify_entries`, the plan it returns and the plain records it reads. Entry identity
itself (the per-feed key, the content hash) is core.identity's, decided when an entry is
parsed; this module only compares those values with what the feed already stored.

Per DESIGN "Identity and duplicates": an entry whose identity key the feed has not stored is
new; one whose stored row has another content hash is edited (its row is updated, and it is
never alerted again); a tombstone (a row whose text retention pruned) is never revived, edited
or not; an item a feed lists twice counts once, the first occurrence winning.

Plain data in, plain data out: no database, no clock, no I/O, no logging. The shell gathers
the known rows (adapters.db.article_store) and applies the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.core.model import NormalizedEntry


@dataclass(frozen=True, slots=True)
class KnownArticle:
    """What the feed already stored under one identity key."""

    article_id: int
    content_hash: str
    pruned: bool = False  # a tombstone: its text is gone, its identity stays


@dataclass(frozen=True, slots=True)
class EditedEntry:
    """An entry whose stored row (`article_id`) holds other text: update it, never alert."""

    article_id: int
    entry: NormalizedEntry


@dataclass(frozen=True, slots=True)
class IngestPlan:
    """Every entry of a feed in exactly one class, each class in the feed's order.

    `tombstoned` and `duplicates_in_feed` are the dropped ones: nothing is written for them.
    """

    new: tuple[NormalizedEntry, ...] = ()
    edited: tuple[EditedEntry, ...] = ()
    unchanged: tuple[NormalizedEntry, ...] = ()
    tombstoned: tuple[NormalizedEntry, ...] = ()
    duplicates_in_feed: tuple[NormalizedEntry, ...] = ()


def distinct_identity_keys(entries: Iterable[NormalizedEntry]) -> list[str]:
    """The identity keys the shell must look up for `entries`: each once, in feed order."""
    return list(dict.fromkeys(entry.identity_key for entry in entries))


def classify_entries(
    entries: Sequence[NormalizedEntry], known: Mapping[str, KnownArticle]
) -> IngestPlan:
    """Classify a feed's entries against what the feed stored, by identity key.

    `known` maps identity keys to the feed's stored rows; keys not among the entries' are
    ignored. Only the content hash tells an edit: a changed title or text changes it.
    """
    new: list[NormalizedEntry] = []
    edited: list[EditedEntry] = []
    unchanged: list[NormalizedEntry] = []
    tombstoned: list[NormalizedEntry] = []
    duplicates: list[NormalizedEntry] = []
    seen: set[str] = set()
    for entry in entries:
        key = entry.identity_key
        if key in seen:
            duplicates.append(entry)
            continue
        seen.add(key)
        stored = known.get(key)
        if stored is None:
            new.append(entry)
        elif stored.pruned:
            tombstoned.append(entry)
        elif stored.content_hash != entry.content_hash:
            edited.append(EditedEntry(stored.article_id, entry))
        else:
            unchanged.append(entry)
    return IngestPlan(
        new=tuple(new),
        edited=tuple(edited),
        unchanged=tuple(unchanged),
        tombstoned=tuple(tombstoned),
        duplicates_in_feed=tuple(duplicates),
    )
