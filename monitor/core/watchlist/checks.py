"""The checks of a watchlist document: every problem found, each as `FILE: WHERE: WHAT`.

`Checker` builds the `Watchlist` while it collects problems, so one pass reports them all.
Decisions the format leaves open are listed in the package docstring.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.core.folding import case_key, fold_text, spelling_pieces, spelling_variants
from monitor.core.watchlist.lines import LineIndex, key_path
from monitor.core.watchlist.model import (
    DEFAULT_SEMANTIC_FLOOR,
    DEFAULT_SEMANTIC_MARGIN,
    DEFAULT_SEMANTIC_WEIGHT,
    DEFAULT_TIMEZONE,
    Near,
    Term,
    Watchlist,
    spelling_key,
)
from monitor.core.watchlist.schedule import (
    DEFAULT_SCHEDULE,
    SCHEDULE_ALIASES,
    check_cron,
    crontab_for_apscheduler,
)

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "threshold",
    "alert_threshold",
    "schedule",
    "timezone",
    "channels",
    "feeds",
    "max_items",
    "send_empty",
    "max_alerts_per_hour",
    "repeat_alerts_in_digest",
    "require",
    "exclude",
    "terms",
    "near",
    "examples",
    "counter_examples",
    "semantic_weight",
    "semantic_floor",
    "semantic_margin",
    "semantic_max",
)
SEMANTIC_KEYS = (
    "counter_examples",
    "semantic_weight",
    "semantic_floor",
    "semantic_margin",
    "semantic_max",
)
TERM_KEYS = ("match", "aliases", "weight", "case_sensitive")
NEAR_KEYS = ("terms", "within", "bonus")

_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*$")
MIN_STEM = 3


def _show(value: Any) -> str:
    """A value as the TOML file would spell it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf, -inf, nan: TOML's own spelling
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (str, int, float, list)):
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError:  # a non-finite float inside a list
            return str(value)
    return str(value)


# The largest weight, bonus or threshold: far above any useful one, and small enough that no
# sum of them overflows a float.
MAX_NUMBER = 1000.0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Checker:
    """Collects problems while it builds the watchlist."""

    def __init__(self, source: str, lines: LineIndex) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[str] = []

    def problem(self, path: tuple[Any, ...], what: str) -> None:
        message = f"{self.source}: {key_path(path)}: {what}"
        line = self.lines.line(path)
        self.problems.append(f"{message} (line {line})" if line else message)

    # -- values -------------------------------------------------------------------------

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        path: tuple[Any, ...],
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        if key not in data:
            if required:
                self.problem(path, f'required key "{key}" is missing')
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            self.problem((*path, key), f"must be a non-empty string, got {_show(value)}")
            return default
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        path: tuple[Any, ...],
        *,
        default: float | None = None,
        required: bool = False,
    ) -> float | None:
        if key not in data:
            if required:
                self.problem(path, f'required key "{key}" is missing')
            return default
        value = data[key]
        if not _is_number(value) or value <= 0:
            self.problem((*path, key), f"must be a positive number, got {_show(value)}")
            return default
        if value > MAX_NUMBER:
            # A score is a sum of these: 1e308 would make it Infinity, which is not JSON.
            self.problem((*path, key), f"must be at most {MAX_NUMBER:g}, got {_show(value)}")
            return default
        return float(value)

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: tuple[Any, ...],
        *,
        default: int,
        minimum: int,
    ) -> int:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem((*path, key), f"must be a whole number >= {minimum}, got {_show(value)}")
            return default
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: tuple[Any, ...]) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.problem((*path, key), f"must be true or false, got {_show(value)}")
            return False
        return value

    def strings(self, value: Any, path: tuple[Any, ...], what: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(path, f"must be a list of {what}, got {_show(value)}")
            return ()
        good = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.problem((*path, index), f"must be a non-empty string, got {_show(item)}")
            else:
                good.append(item)
        return tuple(good)

    def spelling(self, value: str, path: tuple[Any, ...]) -> bool:
        """Is `value` a usable spelling (or stem)? Reports why not."""
        body = value.removesuffix("*")
        if "*" in body:
            self.problem(path, f'{_show(value)}: "*" may only end a spelling, as in "Kurd*"')
            return False
        pieces, _ = spelling_pieces(fold_text(body))
        if not pieces:
            self.problem(path, f"{_show(value)} has no letters or digits to match")
            return False
        if value.endswith("*") and sum(map(len, pieces)) < MIN_STEM:
            self.problem(
                path,
                f"stem {_show(value)} is too short: put at least {MIN_STEM} "
                'letters or digits before "*"',
            )
            return False
        try:
            spelling_variants(fold_text(body))
        except ValueError as exc:
            self.problem(path, f"{_show(value)} {exc}")
            return False
        return True

    def unknown_keys(
        self,
        data: Mapping[str, Any],
        path: tuple[Any, ...],
        valid: tuple[str, ...],
        table: str | None = None,
    ) -> None:
        for key in data:
            if key in valid:
                continue
            message = f'unknown key "{key}"; valid keys here: {", ".join(valid)}'
            if table and key in TOP_LEVEL_KEYS:
                message = (
                    f'unknown key "{key}": "{key}" is a top-level key, but it comes after '
                    f"a [[{table}]] header, so TOML put it inside that table; move it "
                    f"above the first [[...]] table. Valid keys here: {', '.join(valid)}"
                )
            self.problem((*path, key), message)

    # -- the document -------------------------------------------------------------------

    def watchlist(
        self, data: Mapping[str, Any], watchlist_id: str, known_channels: Collection[str] | None
    ) -> Watchlist | None:
        if not _ID.match(watchlist_id):
            self.problem(
                ("(file name)",),
                f"watchlist id {_show(watchlist_id)} (the file name "
                "without .toml) must use letters, digits, '-', '_' and '.', starting "
                "with a letter or digit",
            )
        self.unknown_keys(data, (), TOP_LEVEL_KEYS)
        name = self.string(data, "name", (), required=True)
        description = self.string(data, "description", (), default="") or ""
        threshold = self.number(data, "threshold", (), required=True)
        alert = self.number(data, "alert_threshold", ())
        if threshold is not None and alert is not None and alert < threshold:
            self.problem(
                ("alert_threshold",),
                f"is {alert:g}, below threshold {threshold:g}: "
                "an alert would fire for stories too weak for the digest",
            )
        timezone = self.timezone(data)
        schedule, cron = self.schedule(data, timezone)
        channels = self.channels(data, known_channels)
        feeds = self.strings(data.get("feeds", ["*"]), ("feeds",), "feed names or tags")
        terms = self.terms(data.get("terms"))
        require = self.require(data.get("require", []))
        exclude = self.phrases(data.get("exclude", []), ("exclude",))
        near = self.near(data.get("near", []))
        semantic = self.semantic(data)
        watchlist = Watchlist(
            id=watchlist_id,
            name=name or "",
            description=description,
            threshold=threshold or 0.0,
            alert_threshold=alert,
            schedule=schedule,
            cron=cron,
            timezone=timezone,
            channels=channels,
            feeds=feeds or ("*",),
            max_items=self.integer(data, "max_items", (), default=25, minimum=1),
            send_empty=self.boolean(data, "send_empty", ()),
            max_alerts_per_hour=self.integer(data, "max_alerts_per_hour", (), default=6, minimum=0),
            repeat_alerts_in_digest=self.boolean(data, "repeat_alerts_in_digest", ()),
            terms=terms,
            require=require,
            exclude=exclude,
            near=near,
            **semantic,
            source=self.source,
        )
        return None if self.problems else watchlist

    def timezone(self, data: Mapping[str, Any]) -> str:
        zone = self.string(data, "timezone", (), default=DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(
                ("timezone",),
                f"unknown time zone {_show(zone)}; use an IANA name "
                'such as "Europe/Istanbul" or "UTC"',
            )
            return DEFAULT_TIMEZONE
        return zone

    def schedule(self, data: Mapping[str, Any], timezone: str) -> tuple[str, str]:
        schedule = self.string(data, "schedule", (), default=DEFAULT_SCHEDULE) or DEFAULT_SCHEDULE
        try:
            cron = crontab_for_apscheduler(schedule)
            check_cron(cron)
        except ValueError as exc:
            self.problem(
                ("schedule",),
                f"{_show(schedule)} is not a valid schedule ({exc}); "
                'use 5 cron fields such as "0 7 * * *" (07:00 every day) or '
                "@hourly, @daily, @weekly",
            )
            return DEFAULT_SCHEDULE, SCHEDULE_ALIASES[DEFAULT_SCHEDULE]
        return schedule, cron

    def channels(self, data: Mapping[str, Any], known: Collection[str] | None) -> tuple[str, ...]:
        channels = self.strings(data.get("channels", []), ("channels",), "channel names")
        for index, channel in enumerate(channels):
            if known is not None and channel not in known:
                valid = ", ".join(sorted(known)) if known else "none"
                self.problem(
                    ("channels", index),
                    f"unknown channel {_show(channel)}; channels defined in config.toml: {valid}",
                )
            if channel in channels[:index]:
                self.problem(("channels", index), f"channel {_show(channel)} is listed twice")
        return channels

    def phrases(self, value: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
        phrases = self.strings(value, path, "strings")
        return tuple(p for i, p in enumerate(phrases) if self.spelling(p, (*path, i)))

    def terms(self, value: Any) -> tuple[Term, ...]:
        if value is None:
            self.problem(
                (), 'no [[terms]]: a watchlist needs at least one [[terms]] table with a "match"'
            )
            return ()
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.problem(
                ("terms",),
                "must be an array of tables: write [[terms]] (two brackets) before each term",
            )
            return ()
        terms: list[Term] = []
        owners: dict[tuple[str, bool], tuple[int, str, str, bool]] = {}
        for index, table in enumerate(value):
            path = ("terms", index)
            self.unknown_keys(table, path, TERM_KEYS, table="terms")
            match = self.string(table, "match", path, required=True)
            aliases = self.strings(table.get("aliases", []), (*path, "aliases"), "spellings")
            weight = self.number(table, "weight", path, default=1.0)
            case_sensitive = self.boolean(table, "case_sensitive", path)
            spellings: list[tuple[tuple[Any, ...], str]] = []
            if match is not None:
                spellings.append(((*path, "match"), match))
            spellings += [((*path, "aliases", i), a) for i, a in enumerate(aliases)]
            for where, spelling in spellings:
                if not self.spelling(spelling, where):
                    continue
                self.one_owner(owners, index, where, spelling, case_sensitive)
            if match is not None:
                terms.append(Term(match, aliases, weight or 1.0, case_sensitive))
        return tuple(terms)

    def one_owner(
        self,
        owners: dict[tuple[str, bool], tuple[int, str, str, bool]],
        index: int,
        where: tuple[Any, ...],
        spelling: str,
        case_sensitive: bool,
    ) -> None:
        """Report a spelling that another term already has (it would count twice)."""
        key = spelling_key(spelling)
        if key not in owners:
            owners[key] = (index, key_path(where), spelling, case_sensitive)
            return
        other_index, other_where, other, other_cs = owners[key]
        if other_index == index:
            return
        if case_sensitive and other_cs and case_key(spelling) != case_key(other):
            return
        self.problem(
            where,
            f"{_show(spelling)} is the same spelling as {other_where} "
            f"{_show(other)} (after folding case, accents, hyphens and spaces); "
            "give each spelling to one term",
        )

    def require(self, value: Any) -> tuple[tuple[str, ...], ...]:
        if not isinstance(value, list):
            self.problem(("require",), f"must be a list of groups, got {_show(value)}")
            return ()
        if value and all(isinstance(v, str) for v in value):
            self.problem(
                ("require",),
                "must be a list of groups (AND of OR-groups), got a "
                f'list of strings; write {_show([[v] for v in value])} for "all of '
                f'these" or {_show([value])} for "any of these"',
            )
            return ()
        groups = []
        for index, group in enumerate(value):
            phrases = self.phrases(group, ("require", index))
            if isinstance(group, list) and not group:
                self.problem(("require", index), "is an empty group: no article could pass it")
            if phrases:
                groups.append(phrases)
        return tuple(groups)

    def near(self, value: Any) -> tuple[Near, ...]:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.problem(
                ("near",),
                "must be an array of tables: write [[near]] (two brackets) before each one",
            )
            return ()
        nears = []
        for index, table in enumerate(value):
            path = ("near", index)
            self.unknown_keys(table, path, NEAR_KEYS, table="near")
            if "terms" not in table:
                self.problem(path, 'required key "terms" is missing')
            terms = self.phrases(table.get("terms", []), (*path, "terms"))
            if "terms" in table and isinstance(table["terms"], list) and len(table["terms"]) < 2:
                self.problem((*path, "terms"), "needs at least two terms to be near each other")
            if "within" not in table:
                self.problem(path, 'required key "within" is missing')
            within = self.integer(table, "within", path, default=1, minimum=1)
            bonus = self.number(table, "bonus", path, required=True)
            if len(terms) >= 2 and bonus is not None:
                nears.append(Near(terms, within, bonus))
        return tuple(nears)

    def semantic(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The keys of the semantic part (core/semantic.py), as Watchlist fields."""
        examples = self.strings(data.get("examples", []), ("examples",), "file paths or globs")
        counters = self.strings(
            data.get("counter_examples", []), ("counter_examples",), "file paths or globs"
        )
        if data.get("examples") == []:
            self.problem(("examples",), "is empty: name at least one file, or leave the key out")
        elif "examples" not in data:
            for key in SEMANTIC_KEYS:
                if key in data:
                    self.problem(
                        (key,),
                        'has no effect without "examples": add examples = ["examples/*.txt"] '
                        "(paths relative to this file) or remove it",
                    )
        weight = self.number(data, "semantic_weight", (), default=DEFAULT_SEMANTIC_WEIGHT)
        return {
            "examples": examples,
            "counter_examples": counters,
            "semantic_weight": weight or DEFAULT_SEMANTIC_WEIGHT,
            "semantic_floor": self.bounded(data, "semantic_floor", DEFAULT_SEMANTIC_FLOOR, 0.0),
            "semantic_margin": self.bounded(data, "semantic_margin", DEFAULT_SEMANTIC_MARGIN, -1.0),
            "semantic_max": self.number(data, "semantic_max", ()),
        }

    def bounded(self, data: Mapping[str, Any], key: str, default: float, low: float) -> float:
        """A similarity setting: at least 0 (a floor) or above -1 (a margin), and below 1."""
        if key not in data:
            return default
        value = data[key]
        ok = _is_number(value) and value < 1 and (value >= 0 if low == 0 else value > low)
        if not ok:
            shown = "[0, 1)" if low == 0 else "(-1, 1)"
            self.problem((key,), f"must be a number in {shown}, got {_show(value)}")
            return default
        return float(value)
