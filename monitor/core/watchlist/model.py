"""The watchlist model: terms, proximity bonuses and the settings of one watchlist file.

Pure data; parsing and checking a file is parse.py's and checks.py's job.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from monitor.core.folding import fold_text, spelling_pieces
from monitor.core.watchlist.schedule import DEFAULT_CRON, DEFAULT_SCHEDULE

DEFAULT_TIMEZONE = "UTC"

# The semantic rule's defaults (core/semantic.py), tuned for the shipped model on the tune split
# of tests/data/semantic_eval.jsonl: similarity is in that model's cosine units.
DEFAULT_SEMANTIC_WEIGHT = 80.0  # points per unit of similarity above the floor
DEFAULT_SEMANTIC_FLOOR = 0.12
DEFAULT_SEMANTIC_MARGIN = 0.0  # a counter-example at least as similar as the examples vetoes


@dataclass(frozen=True, slots=True)
class Term:
    match: str
    aliases: tuple[str, ...] = ()
    weight: float = 1.0
    case_sensitive: bool = False

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.match, *self.aliases)


@dataclass(frozen=True, slots=True)
class Near:
    terms: tuple[str, ...]
    within: int
    bonus: float


@dataclass(frozen=True, slots=True)
class Watchlist:
    id: str
    name: str
    threshold: float
    terms: tuple[Term, ...]
    description: str = ""
    alert_threshold: float | None = None
    schedule: str = DEFAULT_SCHEDULE
    cron: str = DEFAULT_CRON  # APScheduler-safe form of `schedule`
    timezone: str = DEFAULT_TIMEZONE
    channels: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ("*",)
    max_items: int = 25
    send_empty: bool = False
    max_alerts_per_hour: int = 6
    repeat_alerts_in_digest: bool = False
    require: tuple[tuple[str, ...], ...] = ()
    exclude: tuple[str, ...] = ()
    near: tuple[Near, ...] = ()
    # The semantic part (core/semantic.py): globs of example and counter-example files,
    # relative to the watchlist file; none means no semantic part at all.
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    semantic_weight: float = DEFAULT_SEMANTIC_WEIGHT
    semantic_floor: float = DEFAULT_SEMANTIC_FLOOR
    semantic_margin: float = DEFAULT_SEMANTIC_MARGIN
    semantic_max: float | None = None  # None: the threshold
    source: str = ""  # the file it came from, for messages

    def covers_feed(self, name: str | None, tags: Collection[str] = ()) -> bool:
        """Does this watchlist read articles from the feed `name` with these tags?"""
        return "*" in self.feeds or name in self.feeds or any(t in self.feeds for t in tags)

    def term_index(self, phrase: str) -> int | None:
        """The term `phrase` names (its match or an alias, after folding), if any."""
        key = spelling_key(phrase)
        for index, term in enumerate(self.terms):
            if any(spelling_key(s) == key for s in term.spellings):
                return index
        return None

    def free_phrases(self) -> tuple[str, ...]:
        """The strings of require, exclude and near that name no term, each once."""
        phrases = [p for group in self.require for p in group]
        phrases += self.exclude
        phrases += [p for near in self.near for p in near.terms]
        return tuple(dict.fromkeys(p for p in phrases if self.term_index(p) is None))


def spelling_key(spelling: str) -> tuple[str, bool]:
    """Two spellings with the same key match the same text (case aside): S-400, S400, s 400."""
    stem = spelling.endswith("*")
    pieces, _ = spelling_pieces(fold_text(spelling.removesuffix("*")))
    return " ".join(pieces), stem
