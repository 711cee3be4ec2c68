"""published_time, to_utc and from_struct_time, with fixed datetimes and no clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.core.dates import CLOCK_SKEW_ALLOWANCE, from_struct_time, published_time, to_utc

FETCHED = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
EARLIER = datetime(2026, 2, 17, 9, 30, tzinfo=UTC)
EVEN_EARLIER = datetime(2026, 2, 16, 8, 0, tzinfo=UTC)
ISTANBUL = timezone(timedelta(hours=3))

CASES = {
    "published wins": ((EARLIER, EVEN_EARLIER), EARLIER),
    "updated when no published": ((None, EVEN_EARLIER), EVEN_EARLIER),
    "fetch time when neither": ((None, None), FETCHED),
    "far future clamped to fetch time": ((FETCHED + timedelta(days=2), None), FETCHED),
    "future beyond allowance clamped": (
        (FETCHED + CLOCK_SKEW_ALLOWANCE + timedelta(seconds=1), None),
        FETCHED,
    ),
    "future within allowance kept": (
        (FETCHED + CLOCK_SKEW_ALLOWANCE, None),
        FETCHED + CLOCK_SKEW_ALLOWANCE,
    ),
    "future updated clamped too": ((None, FETCHED + timedelta(hours=5)), FETCHED),
    "future published not replaced by updated": ((FETCHED + timedelta(days=1), EARLIER), FETCHED),
    "other zone converted to UTC": (
        (datetime(2026, 2, 17, 12, 30, tzinfo=ISTANBUL), None),
        datetime(2026, 2, 17, 9, 30, tzinfo=UTC),
    ),
    "naive taken as UTC": ((datetime(2026, 2, 17, 9, 30), None), EARLIER),
    "old dates kept": ((datetime(1999, 1, 1, tzinfo=UTC), None), datetime(1999, 1, 1, tzinfo=UTC)),
}


@pytest.mark.parametrize(("claimed", "expected"), CASES.values(), ids=CASES.keys())
def test_published_time(
    claimed: tuple[datetime | None, datetime | None], expected: datetime
) -> None:
    chosen = published_time(*claimed, FETCHED)
    assert chosen == expected
    assert chosen.tzinfo is UTC


def test_allowance_is_a_parameter() -> None:
    soon = FETCHED + timedelta(minutes=5)
    assert published_time(soon, None, FETCHED, allowance=timedelta(0)) == FETCHED
    assert published_time(soon, None, FETCHED, allowance=timedelta(minutes=5)) == soon


def test_fetch_time_in_another_zone_comes_back_in_utc() -> None:
    fetched = datetime(2026, 2, 17, 15, 0, tzinfo=ISTANBUL)
    chosen = published_time(None, None, fetched)
    assert chosen == FETCHED
    assert chosen.tzinfo is UTC


def test_to_utc() -> None:
    assert to_utc(datetime(2026, 1, 1, 3, tzinfo=ISTANBUL)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_utc(datetime(2026, 1, 1)).tzinfo is UTC


STRUCT_CASES = {
    "utc struct_time": (time.struct_time((2026, 2, 17, 9, 30, 0, 1, 48, 0)), EARLIER),
    "plain tuple": ((2026, 2, 17, 9, 30, 0, 0, 0, 0), EARLIER),
    "absent": (None, None),
    "year zero": ((0, 1, 1, 0, 0, 0, 0, 0, 0), None),
    "beyond year 9999": ((10000, 1, 1, 0, 0, 0, 0, 0, 0), None),
}


@pytest.mark.parametrize(("value", "expected"), STRUCT_CASES.values(), ids=STRUCT_CASES.keys())
def test_from_struct_time(value: tuple[int, ...] | None, expected: datetime | None) -> None:
    assert from_struct_time(value) == expected
