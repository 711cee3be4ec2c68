"""The watchlist format, rule by rule: what loads, and the message for what does not."""

from __future__ import annotations

import pytest

from monitor.core.watchlist import (
    Near,
    Term,
    Watchlist,
    crontab_for_apscheduler,
    parse_watchlist,
    spelling_key,
)
from monitor.errors import WatchlistError

SOURCE = "watchlists/s400.toml"
HEAD = 'name = "S-400"\nthreshold = 4.0\n'
TERM = '[[terms]]\nmatch = "S-400"\n'


def parse(text: str, *, channels: set[str] | None = None) -> Watchlist:
    return parse_watchlist(text, watchlist_id="s400", source=SOURCE, known_channels=channels)


def problems(text: str, *, channels: set[str] | None = None) -> list[str]:
    with pytest.raises(WatchlistError) as caught:
        parse(text, channels=channels)
    return caught.value.problems


def test_the_design_example_loads_with_every_key() -> None:
    text = """
name = "S-400 air defence system"
description = "Turkey's S-400 purchase and everything that follows from it"
threshold = 4.0
alert_threshold = 12.0
schedule = "0 7 * * *"
timezone = "Europe/Istanbul"
channels = ["analysts"]
feeds = ["*"]
max_items = 10
send_empty = true
max_alerts_per_hour = 2
repeat_alerts_in_digest = true
require = [["S-400", "Rosoboronexport"]]
exclude = ["Mercedes-Benz"]

[[terms]]
match = "S-400"
aliases = ["S400", "С-400", "S-400 Triumf", "SA-21 Growler"]
weight = 5.0

[[terms]]
match = "US"
case_sensitive = true

[[terms]]
match = "Kurd*"

[[near]]
terms = ["S-400", "second batch"]
within = 20
bonus = 3.0
"""
    watchlist = parse(text, channels={"analysts"})
    assert watchlist.id == "s400"
    assert watchlist.alert_threshold == 12.0
    assert watchlist.cron == "0 7 * * *"
    assert watchlist.terms[0] == Term(
        "S-400", ("S400", "С-400", "S-400 Triumf", "SA-21 Growler"), 5.0
    )
    assert watchlist.terms[1] == Term("US", (), 1.0, True)
    assert watchlist.near == (Near(("S-400", "second batch"), 20, 3.0),)
    assert (watchlist.max_items, watchlist.send_empty) == (10, True)
    assert (watchlist.max_alerts_per_hour, watchlist.repeat_alerts_in_digest) == (2, True)
    assert watchlist.term_index("s400") == 0
    assert watchlist.free_phrases() == ("Rosoboronexport", "Mercedes-Benz", "second batch")


def test_defaults() -> None:
    watchlist = parse(HEAD + TERM)
    assert watchlist.description == ""
    assert watchlist.alert_threshold is None
    assert (watchlist.schedule, watchlist.cron, watchlist.timezone) == (
        "@daily",
        "0 0 * * *",
        "UTC",
    )
    assert watchlist.channels == ()
    assert watchlist.feeds == ("*",)
    assert (watchlist.max_items, watchlist.send_empty) == (25, False)
    assert (watchlist.max_alerts_per_hour, watchlist.repeat_alerts_in_digest) == (6, False)
    assert watchlist.terms == (Term("S-400"),)
    assert (watchlist.require, watchlist.exclude, watchlist.near) == ((), (), ())


# (case, document, every expected problem line). Lines are exact: they are the user interface.
INVALID = [
    (
        "weight is not a number",
        HEAD + TERM + '[[terms]]\nmatch = "Rosoboronexport"\nweight = "high"\n',
        [f'{SOURCE}: terms[1].weight: must be a positive number, got "high" (line 7)'],
    ),
    (
        "weight is zero",
        HEAD + '[[terms]]\nmatch = "S-400"\nweight = 0\n',
        [f"{SOURCE}: terms[0].weight: must be a positive number, got 0 (line 5)"],
    ),
    (
        "weight is a boolean",
        HEAD + '[[terms]]\nmatch = "S-400"\nweight = true\n',
        [f"{SOURCE}: terms[0].weight: must be a positive number, got true (line 5)"],
    ),
    (
        "weight is infinite",
        HEAD + '[[terms]]\nmatch = "S-400"\nweight = inf\n',
        [f"{SOURCE}: terms[0].weight: must be a positive number, got inf (line 5)"],
    ),
    (
        "name missing",
        "threshold = 1\n" + TERM,
        [f'{SOURCE}: (top level): required key "name" is missing'],
    ),
    (
        "threshold missing",
        'name = "x"\n' + TERM,
        [f'{SOURCE}: (top level): required key "threshold" is missing'],
    ),
    (
        "threshold negative",
        'name = "x"\nthreshold = -1\n' + TERM,
        [f"{SOURCE}: threshold: must be a positive number, got -1 (line 2)"],
    ),
    (
        "alert threshold below threshold",
        HEAD + "alert_threshold = 2.0\n" + TERM,
        [
            f"{SOURCE}: alert_threshold: is 2, below threshold 4: an alert would fire for stories "
            "too weak for the digest (line 3)"
        ],
    ),
    (
        "name empty",
        'name = ""\nthreshold = 1\n' + TERM,
        [f'{SOURCE}: name: must be a non-empty string, got "" (line 1)'],
    ),
    (
        "no terms",
        HEAD,
        [
            f"{SOURCE}: (top level): no [[terms]]: a watchlist needs at least one [[terms]] table "
            'with a "match"'
        ],
    ),
    (
        "terms as a single table",
        HEAD + '[terms]\nmatch = "S-400"\n',
        [
            f"{SOURCE}: terms: must be an array of tables: write [[terms]] (two brackets) before "
            "each term (line 3)"
        ],
    ),
    (
        "term without match",
        HEAD + "[[terms]]\nweight = 2\n",
        [f'{SOURCE}: terms[0]: required key "match" is missing (line 3)'],
    ),
    (
        "unknown top-level key",
        HEAD + "treshold = 3\n" + TERM,
        [
            f'{SOURCE}: treshold: unknown key "treshold"; valid keys here: name, description, '
            "threshold, alert_threshold, schedule, timezone, channels, feeds, max_items, send_empty, "
            "max_alerts_per_hour, repeat_alerts_in_digest, require, exclude, terms, near, examples, "
            "counter_examples, semantic_weight, semantic_floor, semantic_margin, semantic_max "
            "(line 3)"
        ],
    ),
    (
        "unknown term key",
        HEAD + TERM + 'alias = ["S400"]\n',
        [
            f'{SOURCE}: terms[0].alias: unknown key "alias"; valid keys here: match, aliases, weight, '
            "case_sensitive (line 5)"
        ],
    ),
    (
        "top-level key after [[terms]] lands in the table",
        HEAD + TERM + 'exclude = ["Mercedes-Benz"]\n',
        [
            f'{SOURCE}: terms[0].exclude: unknown key "exclude": "exclude" is a top-level key, but '
            "it comes after a [[terms]] header, so TOML put it inside that table; move it above the "
            "first [[...]] table. Valid keys here: match, aliases, weight, case_sensitive (line 5)"
        ],
    ),
    (
        "top-level key after [[near]] lands in the table",
        HEAD
        + TERM
        + '[[near]]\nterms = ["S-400", "batch"]\nwithin = 5\nbonus = 1\nthreshold = 2\n',
        [
            f'{SOURCE}: near[0].threshold: unknown key "threshold": "threshold" is a top-level key, '
            "but it comes after a [[near]] header, so TOML put it inside that table; move it above "
            "the first [[...]] table. Valid keys here: terms, within, bonus (line 9)"
        ],
    ),
    (
        "aliases not a list",
        HEAD + TERM + 'aliases = "S400"\n',
        [f'{SOURCE}: terms[0].aliases: must be a list of spellings, got "S400" (line 5)'],
    ),
    (
        "alias not a string",
        HEAD + TERM + "aliases = [400]\n",
        [f"{SOURCE}: terms[0].aliases[0]: must be a non-empty string, got 400 (line 5)"],
    ),
    (
        "case_sensitive not a boolean",
        HEAD + TERM + 'case_sensitive = "yes"\n',
        [f'{SOURCE}: terms[0].case_sensitive: must be true or false, got "yes" (line 5)'],
    ),
    (
        "spelling without letters or digits",
        HEAD + '[[terms]]\nmatch = "--"\n',
        [f'{SOURCE}: terms[0].match: "--" has no letters or digits to match (line 4)'],
    ),
    (
        "star inside a spelling",
        HEAD + '[[terms]]\nmatch = "Ku*rd"\n',
        [f'{SOURCE}: terms[0].match: "Ku*rd": "*" may only end a spelling, as in "Kurd*" (line 4)'],
    ),
    (
        "stem too short",
        HEAD + '[[terms]]\nmatch = "Ku*"\n',
        [
            f'{SOURCE}: terms[0].match: stem "Ku*" is too short: put at least 3 letters or digits '
            'before "*" (line 4)'
        ],
    ),
    (
        "same spelling in two terms",
        HEAD + TERM + '[[terms]]\nmatch = "Triumf"\naliases = ["S 400"]\n',
        [
            f'{SOURCE}: terms[1].aliases[0]: "S 400" is the same spelling as terms[0].match "S-400" '
            "(after folding case, accents, hyphens and spaces); give each spelling to one term "
            "(line 7)"
        ],
    ),
    (
        "same spelling after folding accents",
        HEAD + '[[terms]]\nmatch = "Erdoğan"\n[[terms]]\nmatch = "ERDOGAN"\n',
        [
            f'{SOURCE}: terms[1].match: "ERDOGAN" is the same spelling as terms[0].match "Erdoğan" '
            "(after folding case, accents, hyphens and spaces); give each spelling to one term "
            "(line 6)"
        ],
    ),
    (
        "require as a flat list",
        HEAD + 'require = ["S-400", "Turkey"]\n' + TERM,
        [
            f"{SOURCE}: require: must be a list of groups (AND of OR-groups), got a list of strings; "
            'write [["S-400"], ["Turkey"]] for "all of these" or [["S-400", "Turkey"]] for "any of '
            'these" (line 3)'
        ],
    ),
    (
        "require with an empty group",
        HEAD + "require = [[]]\n" + TERM,
        [f"{SOURCE}: require[0]: is an empty group: no article could pass it (line 3)"],
    ),
    (
        "exclude not a list",
        HEAD + 'exclude = "Mercedes"\n' + TERM,
        [f'{SOURCE}: exclude: must be a list of strings, got "Mercedes" (line 3)'],
    ),
    (
        "near with one term and a bad within",
        HEAD + TERM + '[[near]]\nterms = ["S-400"]\nwithin = 0\nbonus = 1\n',
        [
            f"{SOURCE}: near[0].terms: needs at least two terms to be near each other (line 6)",
            f"{SOURCE}: near[0].within: must be a whole number >= 1, got 0 (line 7)",
        ],
    ),
    (
        "near without bonus",
        HEAD + TERM + '[[near]]\nterms = ["S-400", "batch"]\nwithin = 3\n',
        [f'{SOURCE}: near[0]: required key "bonus" is missing (line 5)'],
    ),
    (
        "bad schedule",
        HEAD + 'schedule = "every morning"\n' + TERM,
        [
            f'{SOURCE}: schedule: "every morning" is not a valid schedule (2 fields, expected 5); use '
            '5 cron fields such as "0 7 * * *" (07:00 every day) or @hourly, @daily, @weekly (line 3)'
        ],
    ),
    (
        "schedule with an impossible hour",
        HEAD + 'schedule = "0 25 * * *"\n' + TERM,
        [
            f'{SOURCE}: schedule: "0 25 * * *" is not a valid schedule (hour 25 is outside 0-23); '
            "use 5 cron fields "
            'such as "0 7 * * *" (07:00 every day) or @hourly, @daily, @weekly (line 3)'
        ],
    ),
    (
        "unknown time zone",
        HEAD + 'timezone = "Europe/Ankara"\n' + TERM,
        [
            f'{SOURCE}: timezone: unknown time zone "Europe/Ankara"; use an IANA name such as '
            '"Europe/Istanbul" or "UTC" (line 3)'
        ],
    ),
    (
        "max_items zero",
        HEAD + "max_items = 0\n" + TERM,
        [f"{SOURCE}: max_items: must be a whole number >= 1, got 0 (line 3)"],
    ),
    (
        "send_empty not a boolean",
        HEAD + 'send_empty = "no"\n' + TERM,
        [f'{SOURCE}: send_empty: must be true or false, got "no" (line 3)'],
    ),
    (
        "max_alerts_per_hour negative",
        HEAD + "max_alerts_per_hour = -1\n" + TERM,
        [f"{SOURCE}: max_alerts_per_hour: must be a whole number >= 0, got -1 (line 3)"],
    ),
    (
        "channel listed twice",
        HEAD + 'channels = ["local", "local"]\n' + TERM,
        [f'{SOURCE}: channels[1]: channel "local" is listed twice (line 3)'],
    ),
    (
        "feeds not a list",
        HEAD + 'feeds = "*"\n' + TERM,
        [f'{SOURCE}: feeds: must be a list of feed names or tags, got "*" (line 3)'],
    ),
    (
        "toml syntax error",
        'name = "x"\nthreshold = \n',
        [f"{SOURCE}: line 2, column 13: invalid TOML: Invalid value"],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_watchlists(case: str, text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = (
        'name = 3\nthreshold = "high"\ntimezone = "Mars/Base"\n'
        '[[terms]]\nmatch = "S-400"\nweight = -2\n'
        '[[terms]]\nmatch = "x"\nweigth = 2\n'
    )
    found = problems(text)
    assert [line.split(": ")[1] for line in found] == [
        "name",
        "threshold",
        "timezone",
        "terms[0].weight",
        "terms[1].weigth",
    ]


def test_unknown_channel_names_the_configured_ones() -> None:
    text = HEAD + 'channels = ["local", "analysts"]\n' + TERM
    assert problems(text, channels={"local", "desk-hook"}) == [
        f'{SOURCE}: channels[1]: unknown channel "analysts"; channels defined in config.toml: '
        "desk-hook, local (line 3)"
    ]
    assert parse(text).channels == ("local", "analysts")  # no config: not checked


def test_bad_watchlist_id() -> None:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(HEAD + TERM, watchlist_id="my list", source="watchlists/my list.toml")
    assert caught.value.problems[0].startswith(
        'watchlists/my list.toml: (file name): watchlist id "my list"'
    )


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * sun"),
        ("0 7 * * *", "0 7 * * *"),
        ("0 7 * * 1-5", "0 7 * * mon,tue,wed,thu,fri"),  # crontab's 1 is Monday
        ("0 7 * * 0", "0 7 * * sun"),
        ("0 7 * * 7", "0 7 * * sun"),
        ("0 7 * * 5-7", "0 7 * * sun,fri,sat"),
        ("0 7 * * mon-fri", "0 7 * * mon,tue,wed,thu,fri"),
        ("30 6 * * */2", "30 6 * * sun,tue,thu,sat"),
    ],
)
def test_schedules_keep_crontab_weekdays(schedule: str, cron: str) -> None:
    assert crontab_for_apscheduler(schedule) == cron


def test_apscheduler_runs_the_weekday_crontab_meant() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    watchlist = parse(HEAD + 'schedule = "0 7 * * 1"\ntimezone = "Europe/Istanbul"\n' + TERM)
    trigger = CronTrigger.from_crontab(watchlist.cron, timezone=ZoneInfo(watchlist.timezone))
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=ZoneInfo("Europe/Istanbul"))
    fire = trigger.get_next_fire_time(None, saturday)
    assert fire is not None
    assert (fire.strftime("%A"), fire.hour) == ("Monday", 7)


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("S-400", "s400", True),
        ("S 400", "S400", True),
        ("Erdoğan", "erdogan", True),
        ("Kurd*", "Kurd", False),
        ("Mercedes-Benz", "Mercedes Benz", True),
        ("US", "U.S.", False),  # "U.S." matches "U S", not "US"
        ("Idlib", "Edlib", False),
    ],
)
def test_spelling_key(left: str, right: str, same: bool) -> None:
    assert (spelling_key(left) == spelling_key(right)) is same


def test_feed_coverage() -> None:
    watchlist = parse(HEAD + 'feeds = ["al-monitor", "turkey"]\n' + TERM)
    assert watchlist.covers_feed("al-monitor", [])
    assert watchlist.covers_feed("other", ["turkey", "news"])
    assert not watchlist.covers_feed("other", ["sport"])
    assert parse(HEAD + TERM).covers_feed("anything", [])


def test_free_phrases_and_term_references() -> None:
    text = (
        HEAD
        + 'require = [["s400", "Rosoboronexport"]]\nexclude = ["Mercedes*"]\n'
        + TERM
        + 'aliases = ["Triumf"]\n[[near]]\nterms = ["triumf", "second batch"]\nwithin = 5\nbonus = 1\n'
    )
    watchlist = parse(text)
    assert watchlist.term_index("TRIUMF") == 0
    assert watchlist.term_index("Mercedes*") is None
    assert watchlist.free_phrases() == ("Rosoboronexport", "Mercedes*", "second batch")
