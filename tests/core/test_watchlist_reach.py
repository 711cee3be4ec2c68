"""`watchlists check`: the watchlists that are valid but can never deliver (core/watchlist/reach.py).

One named case per rule, each with a near miss that must stay quiet, and the shipped
watchlists against the shipped config.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from monitor.core.watchlist import parse_watchlist
from monitor.core.watchlist.lines import LineIndex
from monitor.core.watchlist.reach import ConfigNames, delivery_problems, highest_score

REPO = Path(__file__).resolve().parents[2]
NAMES = ConfigNames(
    channels={"local", "analysts"}, feeds={"al-monitor", "reuters"}, tags={"turkey", "wire"}
)
HEAD = 'name = "x"\nchannels = ["local"]\n'
OTHER = '[[terms]]\nmatch = "Erdogan"\n'  # keeps the threshold in reach when a term is vetoed
S400 = '[[terms]]\nmatch = "S-400"\naliases = ["S400", "S-400 Triumf"]\nweight = 2.0\n'


def problems(text: str, names: ConfigNames = NAMES) -> list[str]:
    watchlist = parse_watchlist(text, watchlist_id="x", source="x.toml")
    return delivery_problems(watchlist, names, lines=LineIndex(text))


# name → (watchlist text, the one problem expected, or None for "nothing to report")
CASES: dict[str, tuple[str, str | None]] = {
    "threshold above twice the weights": (
        HEAD + "threshold = 4.5\n" + S400,
        "x.toml: threshold: is 4.5, above the highest score this watchlist can reach (4: each "
        "term adds at most twice its weight); no article can ever match: lower the threshold "
        "to at most 4 or raise the weights (line 3)",
    ),
    "threshold reachable by saturation": (HEAD + "threshold = 4\n" + S400, None),
    "near bonus counts towards the highest score": (
        HEAD
        + "threshold = 5\n"
        + S400
        + '[[near]]\nterms = ["S-400", "Erdogan"]\nwithin = 5\nbonus = 1.0\n',
        None,
    ),
    "alert threshold out of reach": (
        HEAD + "threshold = 2\nalert_threshold = 9\n" + S400,
        "x.toml: alert_threshold: is 9, above the highest score this watchlist can reach (4: "
        "each term adds at most twice its weight); no immediate alert can ever be sent: lower "
        "it to at most 4 or remove it (line 4)",
    ),
    "semantic cap lifts the highest score": (
        HEAD + 'threshold = 6\nexamples = ["ex/*.txt"]\n' + S400,
        None,
    ),
    "semantic_max bounds the semantic part": (
        HEAD + 'threshold = 6\nexamples = ["ex/*.txt"]\nsemantic_max = 1.0\n' + S400,
        "x.toml: threshold: is 6, above the highest score this watchlist can reach (5: each "
        "term adds at most twice its weight, plus the semantic cap); no article can ever "
        "match: lower the threshold to at most 5 or raise the weights (line 3)",
    ),
    "feeds entry that is no feed or tag": (
        'name = "x"\nchannels = ["local"]\nthreshold = 1\nfeeds = ["reuters", "turky"]\n' + S400,
        'x.toml: feeds[1]: "turky" is no feed name or tag of config.toml, so it selects no '
        'articles; did you mean "turkey"? use a feed name (`monitor feeds list`), a tag '
        '(turkey, wire) or "*" (line 4)',
    ),
    "feeds by name and by tag": (
        'name = "x"\nchannels = ["local"]\nthreshold = 1\nfeeds = ["reuters", "wire"]\n' + S400,
        None,
    ),
    "exclude that vetoes a term": (
        HEAD + 'threshold = 1\nexclude = ["S400"]\n' + S400 + OTHER,
        'x.toml: exclude[0]: "S400" vetoes the watchlist\'s own term "S-400" (terms[0]): every '
        "text that matches the term also matches this exclude, so the term can only ever "
        'veto; make the exclude more specific than the term ("S-400 Mercedes", not "S-400") '
        "or remove it (line 4)",
    ),
    "exclude shorter than the term, inside every spelling": (
        HEAD
        + 'threshold = 1\nexclude = ["Mercedes"]\n'
        + '[[terms]]\nmatch = "Mercedes S 400"\naliases = ["Mercedes S400 d"]\n'
        + OTHER,
        'x.toml: exclude[0]: "Mercedes" vetoes the watchlist\'s own term "Mercedes S 400" '
        "(terms[0]): every text that matches the term also matches this exclude, so the term "
        'can only ever veto; make the exclude more specific than the term ("S-400 Mercedes", '
        'not "S-400") or remove it (line 4)',
    ),
    "exclude word that a digit joins to in one form": (
        # "S-400 Triumf" also matches "S400Triumf", where "Triumf" is no word of its own
        HEAD + 'threshold = 1\nexclude = ["Triumf"]\n[[terms]]\nmatch = "S-400 Triumf"\n',
        None,
    ),
    "exclude more specific than the term": (
        HEAD + 'threshold = 1\nexclude = ["S-400 Mercedes"]\n[[terms]]\nmatch = "S-400"\n',
        None,
    ),
    "exclude that vetoes one alias": (
        HEAD
        + 'threshold = 1\nexclude = ["Triumf"]\n'
        + S400.replace("S-400 Triumf", "Triumf missile"),
        'x.toml: terms[0].aliases[1]: "Triumf missile" can never count: exclude "Triumf" matches '
        "every text it matches; remove the alias or make the exclude more specific (line 7)",
    ),
    "exclude word that only starts a stem's words": (
        HEAD + 'threshold = 1\nexclude = ["Kurd"]\n[[terms]]\nmatch = "Kurd*"\n',
        None,
    ),
    "exclude stem that covers a stem": (
        HEAD + 'threshold = 1\nexclude = ["Kur*"]\n[[terms]]\nmatch = "Kurd*"\n' + OTHER,
        'x.toml: exclude[0]: "Kur*" vetoes the watchlist\'s own term "Kurd*" (terms[0]): every '
        "text that matches the term also matches this exclude, so the term can only ever "
        'veto; make the exclude more specific than the term ("S-400 Mercedes", not "S-400") '
        "or remove it (line 4)",
    ),
    "exclude of a piece that joins to the next": (
        # "400" is a word in "S-400" but not in "S400": the term still counts in that form
        HEAD + 'threshold = 1\nexclude = ["400"]\n[[terms]]\nmatch = "S-400"\n',
        None,
    ),
    "channels empty": (
        'name = "x"\nthreshold = 1\nchannels = []\n' + S400,
        "x.toml: channels: is empty: digests and alerts of this watchlist go nowhere; name one "
        "or more of the channels of config.toml: analysts, local (line 3)",
    ),
    "channels naming no configured channel": (
        'name = "x"\nthreshold = 1\nchannels = ["desk"]\n' + S400,
        "x.toml: channels: names no channel of config.toml, so nothing is ever delivered; "
        "channels defined there: analysts, local (line 3)",
    ),
    "require group only vetoed text can satisfy": (
        HEAD
        + 'threshold = 1\nrequire = [["S-400"], ["Mercedes S-Class", "Benz"]]\n'
        + 'exclude = ["Mercedes*", "Benz"]\n'
        + S400,
        "x.toml: require[1]: no term or phrase can satisfy this group: every text that matches "
        'one of its strings is vetoed ("Mercedes S-Class" by exclude "Mercedes*"; "Benz" by '
        'exclude "Benz"); add a string the excludes leave alone or make the excludes more '
        "specific (line 4)",
    ),
    "require group with one string the excludes leave alone": (
        HEAD
        + 'threshold = 1\nrequire = [["Mercedes S-Class", "Russia"]]\nexclude = ["Mercedes*"]\n'
        + S400,
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_can_never_deliver(case: str) -> None:
    text, expected = CASES[case]
    assert problems(text) == ([expected] if expected else [])


def test_feeds_that_select_nothing_at_all() -> None:
    text = 'name = "x"\nchannels = ["local"]\nthreshold = 1\nfeeds = ["nowhere"]\n' + S400
    assert problems(text)[-1] == (
        "x.toml: feeds: selects no configured feed at all: the watchlist never sees an article "
        "(line 4)"
    )


def test_unknown_config_skips_the_checks_that_need_it() -> None:
    for channels in ('["desk"]', "[]"):
        text = f'name = "x"\nchannels = {channels}\nthreshold = 1\nfeeds = ["nowhere"]\n' + S400
        assert problems(text, ConfigNames()) == []


def test_highest_score_leaves_out_vetoed_terms() -> None:
    text = HEAD + 'threshold = 1\nexclude = ["Mercedes*"]\n' + S400
    text += '[[terms]]\nmatch = "Mercedes-Benz"\nweight = 3\n'
    watchlist = parse_watchlist(text, watchlist_id="x", source="x.toml")
    assert highest_score(watchlist) == 4.0


def test_solid_spelling_escapes_an_exclude_of_its_second_word() -> None:
    # "Mercedes-Benz" also matches "MercedesBenz", which "Benz" does not: the term can count
    text = HEAD + 'threshold = 1\nexclude = ["Benz"]\n' + S400
    text += '[[terms]]\nmatch = "Mercedes-Benz"\nweight = 3\n'
    watchlist = parse_watchlist(text, watchlist_id="x", source="x.toml")
    assert highest_score(watchlist) == 10.0


def test_shipped_watchlists_can_all_deliver() -> None:
    config = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    names = ConfigNames(
        channels=set(config.get("channels", {})),
        feeds={feed["name"] for feed in config["feeds"]},
        tags={tag for feed in config["feeds"] for tag in feed.get("tags", [])},
    )
    files = sorted((REPO / "watchlists").glob("*.toml"))
    assert len(files) == 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        channels = names.channels or ()
        watchlist = parse_watchlist(
            text, watchlist_id=path.stem, source=path.name, known_channels=channels
        )
        assert delivery_problems(watchlist, names, lines=LineIndex(text)) == [], path.name
