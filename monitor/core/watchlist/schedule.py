"""Digest schedules: crontab lines and @aliases, checked and rewritten without APScheduler.

`check_cron` accepts what APScheduler 3's `CronTrigger.from_crontab` accepts for the five
standard fields (numbers, names, `*`, ranges, steps, lists); a test holds the two together.
`crontab_for_apscheduler` spells weekdays as names, because APScheduler 3 counts 0 as Monday
where crontab counts 0 (and 7) as Sunday.
"""

from __future__ import annotations

from collections.abc import Iterator

DEFAULT_SCHEDULE = "@daily"
SCHEDULE_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
}
DEFAULT_CRON = "0 0 * * *"
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# (name, lowest, highest, names) of the five crontab fields, in order
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("weekday", 0, 7, _WEEKDAYS),
)


def check_cron(line: str) -> None:
    """Raise ValueError, saying which field and why, unless `line` is a valid crontab line."""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields, expected 5")
    for text, (name, lowest, highest, names) in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            _check_item(item, name, lowest, highest, names)


def _check_item(item: str, name: str, lowest: int, highest: int, names: tuple[str, ...]) -> None:
    body, slash, step_text = item.partition("/")
    if slash and not (step_text.isdigit() and int(step_text) > 0):
        raise ValueError(f"{name} field {item!r}: the step after / must be a whole number > 0")
    step = int(step_text) if slash else None
    if body == "*":
        first, last = lowest, highest
    else:
        low, dash, high = body.partition("-")
        first = _value(low, name, lowest, highest, names)
        given = _value(high, name, lowest, highest, names) if dash else None
        if given is not None and given < first:
            raise ValueError(f"{name} field {item!r}: the range runs backwards")
        if step is not None and not (low.strip().isdigit() and (not dash or high.isdigit())):
            raise ValueError(f"{name} field {item!r}: a step needs numbers, not names")
        last = highest if given is None else given
    # A step wider than its range fires once at most: a typo APScheduler refuses too.
    if step is not None and step > last - first:
        raise ValueError(f"{name} field {item!r}: the step {step} is wider than the range")


def _value(text: str, name: str, lowest: int, highest: int, names: tuple[str, ...]) -> int:
    text = text.strip().lower()
    if text.isdigit():
        value = int(text)
        if not lowest <= value <= highest:
            raise ValueError(f"{name} {value} is outside {lowest}-{highest}")
        return value
    if names and text in names:
        return names.index(text) + (1 if names is _MONTHS else 0)
    expected = f"a number {lowest}-{highest}" + (
        f" or a name ({', '.join(names)})" if names else ""
    )
    raise ValueError(f"{name} {text!r} is not {expected}")


def crontab_for_apscheduler(schedule: str) -> str:
    """A crontab line (or @alias) with weekdays as names, which APScheduler 3 reads correctly.

    Raises ValueError for a line that is not 5 fields or whose weekdays are not valid.
    """
    line = SCHEDULE_ALIASES.get(schedule.strip().lower(), schedule.strip())
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
