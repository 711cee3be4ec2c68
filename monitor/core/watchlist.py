"""The watchlist model and its validation from TOML text (DESIGN.md, "Watchlist files").

Pure: text in, `Watchlist` or `WatchlistError` out; reading files is adapters/watchlist_files.py.
Every problem in a file is reported, not just the first, each as `FILE: WHERE: WHAT`, with
`(line N)` appended when the line is known. Indexes count from 0, as in config errors.

Decisions the format leaves open:

- `require`, `exclude` and `near` take strings. A string that is a spelling of a term (its
  `match` or an alias, compared after folding) stands for that term with all its spellings;
  any other string is a free-standing phrase matched by the same rules (case-insensitive, no
  weight). DESIGN's own example needs both: "S-400" is a term, "second batch" is not.
- A spelling ending in "*" is a stem (`Kurd*`: Kurds, Kurdish, Kurdistan); at least three
  letters or digits must come before the "*".
- One spelling belongs to one term: two terms that fold to the same spelling would count
  every hit twice, so that is an error.
- `schedule` is a 5-field crontab line or @hourly, @daily (= @midnight), @weekly. Weekday
  numbers follow crontab (0 and 7 are Sunday); `Watchlist.cron` spells them as names
  because APScheduler 3 counts 0 as Monday. Use CronTrigger.from_crontab(w.cron, w.timezone).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.core.folding import case_key, fold_text, spelling_pieces, spelling_variants
from monitor.errors import WatchlistError

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
)
TERM_KEYS = ("match", "aliases", "weight", "case_sensitive")
NEAR_KEYS = ("terms", "within", "bonus")

DEFAULT_SCHEDULE = "@daily"
DEFAULT_TIMEZONE = "UTC"
_SCHEDULE_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
}
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*$")
MIN_STEM = 3


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
    cron: str = _SCHEDULE_ALIASES[DEFAULT_SCHEDULE]  # APScheduler-safe form of `schedule`
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


def parse_watchlist(
    text: str,
    *,
    watchlist_id: str,
    source: str,
    known_channels: Collection[str] | None = None,
) -> Watchlist:
    """Parse and validate one watchlist file's text; raise WatchlistError listing every problem.

    `known_channels`: the channel names of config.toml, or None to skip that check.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError([_syntax_problem(source, exc)]) from None
    return validate_watchlist(
        data,
        watchlist_id=watchlist_id,
        source=source,
        known_channels=known_channels,
        lines=_LineIndex(text),
    )


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        message = message[: found.start()]
        return f"{source}: line {found[1]}, column {found[2]}: invalid TOML: {message}"
    return f"{source}: invalid TOML: {message}"


def validate_watchlist(
    data: Mapping[str, Any],
    *,
    watchlist_id: str,
    source: str,
    known_channels: Collection[str] | None = None,
    lines: _LineIndex | None = None,
) -> Watchlist:
    """Validate a parsed watchlist document; raise WatchlistError listing every problem."""
    check = _Checker(source, lines or _LineIndex(""))
    watchlist = check.watchlist(data, watchlist_id, known_channels)
    if check.problems or watchlist is None:
        raise WatchlistError(check.problems)
    return watchlist


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _LineIndex:
    """Best-effort line numbers of keys and [[tables]] in TOML source (tomllib gives none)."""

    _ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    _KEY = re.compile(r"""^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=""")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[str, int] = {}
        where: tuple[Any, ...] = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if (match := self._ARRAY.match(line)) is not None:
                name = match[1]
                where = (name, counts.get(name, 0))
                counts[name] = counts.get(name, 0) + 1
                self.lines.setdefault(where, number)
            elif (match := self._TABLE.match(line)) is not None:
                where = (match[1],)
                self.lines.setdefault(where, number)
            elif (match := self._KEY.match(line)) is not None:
                self.lines.setdefault((*where, match[1].strip("\"'")), number)
            in_string = quotes % 2 == 1

    def line(self, path: tuple[Any, ...]) -> int | None:
        # The most precise known prefix: terms[3].aliases[1] → the line of terms[3].aliases.
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _where(path: tuple[Any, ...]) -> str:
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "(top level)"


class _Checker:
    """Collects problems while it builds the watchlist."""

    def __init__(self, source: str, lines: _LineIndex) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[str] = []

    def problem(self, path: tuple[Any, ...], what: str) -> None:
        message = f"{self.source}: {_where(path)}: {what}"
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
            from apscheduler.triggers.cron import CronTrigger

            CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
        except ValueError as exc:
            self.problem(
                ("schedule",),
                f"{_show(schedule)} is not a valid schedule ({exc}); "
                'use 5 cron fields such as "0 7 * * *" (07:00 every day) or '
                "@hourly, @daily, @weekly",
            )
            return DEFAULT_SCHEDULE, _SCHEDULE_ALIASES[DEFAULT_SCHEDULE]
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
            owners[key] = (index, _where(where), spelling, case_sensitive)
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


def crontab_for_apscheduler(schedule: str) -> str:
    """A crontab line (or @alias) with weekdays as names, which APScheduler 3 reads correctly.

    Raises ValueError for a line that is not 5 fields or whose weekdays are not valid.
    """
    line = _SCHEDULE_ALIASES.get(schedule.strip().lower(), schedule.strip())
    if line.startswith("@"):
        raise ValueError(f"unknown shortcut {line}")
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields, expected 5")
    fields[4] = _weekday_names(fields[4])
    return " ".join(fields)


def _weekday_names(field: str) -> str:
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        days.update(_weekday_item(item))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday_item(item: str) -> Iterator[int]:
    body, _, step_text = item.partition("/")
    step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
    if step_text and step is None:
        raise ValueError(f"bad step in weekday field {item!r}")
    if body == "*":
        first, last = 0, 6
    else:
        low, _, high = body.partition("-")
        first = _weekday(low)
        last = _weekday(high) if high else (6 if step else first)
        if high and _weekday(high) == 0 and high.strip() in {"7"}:
            last = 7
        if last < first:
            raise ValueError(f"weekday range {body!r} runs backwards")
    for day in range(first, last + 1, step or 1):
        yield day % 7


def _weekday(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    if text[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(text[:3])
    raise ValueError(f"unknown weekday {text!r}")
