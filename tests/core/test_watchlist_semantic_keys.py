"""The watchlist keys of the semantic part: what loads, and the message for what does not."""

from __future__ import annotations

import pytest

from monitor.core.watchlist import Watchlist, parse_watchlist
from monitor.core.watchlist.model import (
    DEFAULT_SEMANTIC_FLOOR,
    DEFAULT_SEMANTIC_MARGIN,
    DEFAULT_SEMANTIC_WEIGHT,
)
from monitor.errors import WatchlistError

SOURCE = "watchlists/s400.toml"
HEAD = 'name = "S-400"\nthreshold = 4.0\n'
TERM = '[[terms]]\nmatch = "S-400"\n'


def parse(text: str) -> Watchlist:
    return parse_watchlist(text, watchlist_id="s400", source=SOURCE)


def problems(text: str) -> list[str]:
    with pytest.raises(WatchlistError) as caught:
        parse(text)
    return caught.value.problems


def test_every_key_loads() -> None:
    watchlist = parse(
        HEAD
        + 'examples = ["examples/s400/*.txt", "../seeds/001_*.txt"]\n'
        + 'counter_examples = ["examples/s400/not/*.txt"]\n'
        + "semantic_weight = 20\nsemantic_floor = 0.2\nsemantic_margin = -0.05\n"
        + "semantic_max = 3.5\n"
        + TERM
    )
    assert watchlist.examples == ("examples/s400/*.txt", "../seeds/001_*.txt")
    assert watchlist.counter_examples == ("examples/s400/not/*.txt",)
    assert (watchlist.semantic_weight, watchlist.semantic_floor) == (20.0, 0.2)
    assert (watchlist.semantic_margin, watchlist.semantic_max) == (-0.05, 3.5)


def test_defaults_and_no_semantic_part_without_examples() -> None:
    watchlist = parse(HEAD + TERM)
    assert (watchlist.examples, watchlist.counter_examples) == ((), ())
    assert watchlist.semantic_weight == DEFAULT_SEMANTIC_WEIGHT
    assert watchlist.semantic_floor == DEFAULT_SEMANTIC_FLOOR
    assert watchlist.semantic_margin == DEFAULT_SEMANTIC_MARGIN
    assert watchlist.semantic_max is None
    assert parse(HEAD + 'examples = ["a.txt"]\nsemantic_floor = 0\n' + TERM).semantic_floor == 0.0


INVALID = [
    (
        "examples not a list",
        HEAD + 'examples = "examples/*.txt"\n' + TERM,
        [
            f'{SOURCE}: examples: must be a list of file paths or globs, got "examples/*.txt" (line 3)'
        ],
    ),
    (
        "empty example path",
        HEAD + 'examples = ["a.txt", ""]\n' + TERM,
        [f'{SOURCE}: examples[1]: must be a non-empty string, got "" (line 3)'],
    ),
    (
        "empty examples",
        HEAD + "examples = []\n" + TERM,
        [f"{SOURCE}: examples: is empty: name at least one file, or leave the key out (line 3)"],
    ),
    (
        "settings without examples",
        HEAD + 'counter_examples = ["not/*.txt"]\nsemantic_floor = 0.3\n' + TERM,
        [
            f'{SOURCE}: counter_examples: has no effect without "examples": add examples = '
            '["examples/*.txt"] (paths relative to this file) or remove it (line 3)',
            f'{SOURCE}: semantic_floor: has no effect without "examples": add examples = '
            '["examples/*.txt"] (paths relative to this file) or remove it (line 4)',
        ],
    ),
    (
        "floor out of range",
        HEAD + 'examples = ["a.txt"]\nsemantic_floor = 1.0\n' + TERM,
        [f"{SOURCE}: semantic_floor: must be a number in [0, 1), got 1.0 (line 4)"],
    ),
    (
        "negative floor",
        HEAD + 'examples = ["a.txt"]\nsemantic_floor = -0.1\n' + TERM,
        [f"{SOURCE}: semantic_floor: must be a number in [0, 1), got -0.1 (line 4)"],
    ),
    (
        "margin out of range",
        HEAD + 'examples = ["a.txt"]\nsemantic_margin = -1\n' + TERM,
        [f"{SOURCE}: semantic_margin: must be a number in (-1, 1), got -1 (line 4)"],
    ),
    (
        "margin not a number",
        HEAD + 'examples = ["a.txt"]\nsemantic_margin = "small"\n' + TERM,
        [f'{SOURCE}: semantic_margin: must be a number in (-1, 1), got "small" (line 4)'],
    ),
    (
        "weight not positive",
        HEAD + 'examples = ["a.txt"]\nsemantic_weight = 0\n' + TERM,
        [f"{SOURCE}: semantic_weight: must be a positive number, got 0 (line 4)"],
    ),
    (
        "cap not positive",
        HEAD + 'examples = ["a.txt"]\nsemantic_max = -2\n' + TERM,
        [f"{SOURCE}: semantic_max: must be a positive number, got -2 (line 4)"],
    ),
    (
        "examples after the first table",
        HEAD + TERM + 'examples = ["a.txt"]\n',
        [
            f'{SOURCE}: terms[0].examples: unknown key "examples": "examples" is a top-level '
            "key, but it comes after a [[terms]] header, so TOML put it inside that table; move "
            "it above the first [[...]] table. Valid keys here: match, aliases, weight, "
            "case_sensitive (line 5)"
        ],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid(case: str, text: str, expected: list[str]) -> None:
    assert problems(text) == expected
