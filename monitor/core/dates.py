"""Choosing an article's published time from what a feed claims and when we fetched it.

Pure: the fetch time is a parameter; nothing here reads the clock.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, timedelta

# Publishers' clocks and time zones are often a little off; a date this far ahead of our
# fetch is taken as given, anything later is a mistake (or a scheduled post leaking early).
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=10)


def published_time(
    published: datetime | None,
    updated: datetime | None,
    fetched_at: datetime,
    *,
    allowance: timedelta = CLOCK_SKEW_ALLOWANCE,
) -> datetime:
    """The published time to store, aware and in UTC.

    The feed's published date, else its updated date, else the fetch time. A date more
    than `allowance` after the fetch is clamped to the fetch time. Naive datetimes are
    taken to be UTC.
    """
    fetched = to_utc(fetched_at)
    chosen = published if published is not None else updated
    if chosen is None:
        return fetched
    chosen = to_utc(chosen)
    if chosen - fetched > allowance:
        return fetched
    return chosen


def to_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def from_struct_time(value: time.struct_time | tuple[int, ...] | None) -> datetime | None:
    """A UTC struct_time (as feedparser's *_parsed fields are) as an aware datetime.

    None when absent or out of datetime's range (year 0, year 10000 and the like).
    """
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(tuple(value)), tz=UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        return None
