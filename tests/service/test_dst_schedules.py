"""Digest schedules across daylight-saving changes: exactly one fire per local day (or hour)
at midnight, 01:30, 02:30 and 03:00, in two time zones, through both changes of 2026. A time
in the skipped spring hour fires when the clock jumps past it; a time in the repeated autumn
hour fires at its first occurrence only. (APScheduler 3's own CronTrigger skipped the
midnight digest after the spring change and misfired or stopped in the repeated hour.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.service.scheduler import DigestSchedule, cron_trigger, previous_fire_time

ZONES = {
    # zone: (spring change day, autumn change day) in 2026
    "Europe/Berlin": (date(2026, 3, 29), date(2026, 10, 25)),  # 02:00 -> 03:00, 03:00 -> 02:00
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),  # 02:00 -> 03:00, 02:00 -> 01:00
}
TIMES = {"0 0 * * *": "00:00", "30 1 * * *": "01:30", "30 2 * * *": "02:30", "0 3 * * *": "03:00"}


def fires(schedule: DigestSchedule, start: datetime, end: datetime) -> list[datetime]:
    trigger = cron_trigger(schedule)
    found: list[datetime] = []
    previous = None
    now = start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= end:
            return found
        assert fire >= now and (previous is None or fire > previous)
        found.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
        assert len(found) < 1000


@pytest.mark.parametrize("zone", list(ZONES))
@pytest.mark.parametrize("cron", list(TIMES))
@pytest.mark.parametrize("change", ["spring", "autumn"])
def test_one_fire_per_local_day_across_the_change(zone: str, cron: str, change: str) -> None:
    tz = ZoneInfo(zone)
    day = ZONES[zone][0 if change == "spring" else 1]
    first = datetime.combine(day - timedelta(days=2), datetime.min.time(), tz)
    last = datetime.combine(day + timedelta(days=3), datetime.min.time(), tz)
    found = fires(DigestSchedule(cron, zone), first, last)
    local_days = [f.astimezone(tz).date() for f in found]
    expected_days = [day + timedelta(days=n) for n in range(-2, 3)]
    assert local_days == expected_days, [f.astimezone(tz).isoformat() for f in found]
    hour, minute = map(int, TIMES[cron].split(":"))
    for fire in found:
        local = fire.astimezone(tz)
        wanted = datetime(local.year, local.month, local.day, hour, minute, tzinfo=tz)
        if wanted.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wanted.replace(
            tzinfo=None
        ):
            # The wall time does not exist (the spring gap): it runs as the clock jumps.
            assert change == "spring" and local.hour == hour + 1 and local.minute == minute
        else:
            assert (local.hour, local.minute) == (hour, minute)
            assert local.fold == 0  # the first of a repeated time


@pytest.mark.parametrize("zone", list(ZONES))
@pytest.mark.parametrize("change", ["spring", "autumn"])
def test_an_hourly_schedule_fires_once_per_hour_and_never_twice_at_one_instant(
    zone: str, change: str
) -> None:
    tz = ZoneInfo(zone)
    day = ZONES[zone][0 if change == "spring" else 1]
    first = datetime.combine(day, datetime.min.time(), tz)
    last = first + timedelta(days=1)
    found = fires(DigestSchedule("30 * * * *", zone), first, last)
    assert len(found) == len(set(found))
    hours = [(f.astimezone(tz).date(), f.astimezone(tz).hour) for f in found]
    assert len(hours) == len(set(hours)), "a local hour fired twice"
    # Real hours in that local day: 23 in spring (one fire per real hour), 25 in autumn of
    # which the repeated hour fires once.
    assert len(found) == (23 if change == "spring" else 24)


def test_the_window_end_a_digest_job_uses_is_right_after_the_spring_change() -> None:
    """The daemon's digest job keys its window by previous_fire_time: the day after the
    change has its own window (it used to fold into the day before)."""
    schedule = DigestSchedule("0 0 * * *", "Europe/Berlin")
    now = datetime(2026, 3, 30, 0, 0, 5, tzinfo=ZoneInfo("Europe/Berlin"))
    assert previous_fire_time(cron_trigger(schedule), now) == datetime(
        2026, 3, 29, 22, 0, tzinfo=UTC
    )
