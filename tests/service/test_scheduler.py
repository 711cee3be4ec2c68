"""The daemon's timing: pure schedule calculations with fixed datetimes, the APScheduler wiring
(no overlap, coalescing, digest jobs per watchlist in its time zone, reload replacing jobs),
watchlist hot reload, and the catch-up of a digest missed while no daemon ran."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from monitor.adapters.db.schema import Digest
from monitor.config import parse_settings
from monitor.core.reload_merge import merge_reload
from monitor.core.states import DigestKind
from monitor.core.watchlist import Term, Watchlist, check_cron, crontab_for_apscheduler
from monitor.errors import DatabaseError
from monitor.service.daemon import Daemon
from monitor.service.lock import InstanceLock, sqlite_file
from monitor.service.reload import WatchlistReloader
from monitor.service.scheduler import (
    OUTBOX_JOB,
    POLL_JOB,
    DigestSchedule,
    Intervals,
    JobScheduler,
    WallClockCronTrigger,
    cron_trigger,
    digest_job_changes,
    digest_job_id,
    missed_digests,
    previous_fire_time,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- previous_fire_time ----------------------------------------------------------------------

PREVIOUS_FIRE = {
    "every minute, mid-minute": (
        "* * * * *",
        "UTC",
        "2026-11-21T12:00:30Z",
        "2026-11-21T12:00:00Z",
    ),
    "exactly at a fire time": ("* * * * *", "UTC", "2026-11-21T12:00:00Z", "2026-11-21T12:00:00Z"),
    "daily 07:00 Istanbul, later that day": (
        "0 7 * * *",
        "Europe/Istanbul",
        "2026-11-21T12:00:00Z",
        "2026-11-21T04:00:00Z",
    ),
    "daily 07:00 Istanbul, before it that day": (
        "0 7 * * *",
        "Europe/Istanbul",
        "2026-11-21T03:59:00Z",
        "2026-11-20T04:00:00Z",
    ),
    "Mondays (a name, as Watchlist.cron spells them)": (
        "0 7 * * mon",
        "UTC",
        "2026-11-21T12:00:00Z",
        "2026-11-16T07:00:00Z",
    ),
    "day of month OR weekday, as crontab means it": (
        "0 7 20 * mon",
        "UTC",
        "2026-11-21T12:00:00Z",
        "2026-11-20T07:00:00Z",
    ),
    "leap day only": ("0 0 29 feb *", "UTC", "2026-11-21T12:00:00Z", "2024-02-29T00:00:00Z"),
    # 09:00 in New York is 13:00 UTC until 1 November 2026 (EDT), 14:00 UTC from then (EST).
    "New York, the day after DST ends": (
        "0 9 * * *",
        "America/New_York",
        "2026-11-02T13:30:00Z",
        "2026-11-01T14:00:00Z",
    ),
    "New York, the day DST ends": (
        "0 9 * * *",
        "America/New_York",
        "2026-11-01T13:30:00Z",
        "2026-10-31T13:00:00Z",
    ),
    "every minute of 09:xx, seen at noon": (
        "* 9 * * *",
        "UTC",
        "2026-11-21T12:00:00Z",
        "2026-11-21T09:59:00Z",
    ),
}


@pytest.mark.parametrize("case", PREVIOUS_FIRE.values(), ids=PREVIOUS_FIRE.keys())
def test_previous_fire_time(case: tuple[str, str, str, str]) -> None:
    cron, zone, now, expected = case
    assert previous_fire_time(cron_trigger(DigestSchedule(cron, zone)), at(now)) == at(expected)


def test_digest_triggers_run_in_the_watchlist_time_zone() -> None:
    trigger = cron_trigger(DigestSchedule("0 7 * * *", "Europe/Istanbul"))
    assert isinstance(trigger, WallClockCronTrigger)
    assert str(trigger.timezone) == "Europe/Istanbul"


# ---- missed digests (catch-up) -----------------------------------------------------------------

NOW = at("2026-11-21T12:00:30Z")
MINUTELY = DigestSchedule("* * * * *", "UTC")
DAILY_ISTANBUL = DigestSchedule("0 7 * * *", "Europe/Istanbul")  # 04:00 UTC

MISSED = {
    "last window before the latest fire: missed": (
        MINUTELY,
        "2026-11-21T11:59:00Z",
        None,
        "2026-11-21T12:00:00Z",
    ),
    "last window is the latest fire: nothing missed": (
        MINUTELY,
        "2026-11-21T12:00:00Z",
        None,
        None,
    ),
    "down for hours: one catch-up, for the latest window": (
        MINUTELY,
        "2026-11-21T08:00:00Z",
        None,
        "2026-11-21T12:00:00Z",
    ),
    "daily, made this morning: nothing missed": (
        DAILY_ISTANBUL,
        "2026-11-21T04:00:00Z",
        None,
        None,
    ),
    "daily, last made yesterday: this morning's was missed": (
        DAILY_ISTANBUL,
        "2026-11-20T04:00:00Z",
        None,
        "2026-11-21T04:00:00Z",
    ),
    "never digested, nothing waiting: wait for the schedule": (DAILY_ISTANBUL, None, None, None),
    "never digested, matches waited through a fire: missed": (
        DAILY_ISTANBUL,
        None,
        "2026-11-21T03:00:00Z",
        "2026-11-21T04:00:00Z",
    ),
    "never digested, matches found after the fire: not missed": (
        DAILY_ISTANBUL,
        None,
        "2026-11-21T05:00:00Z",
        None,
    ),
}


@pytest.mark.parametrize("case", MISSED.values(), ids=MISSED.keys())
def test_missed_digests(case: tuple[DigestSchedule, str | None, str | None, str | None]) -> None:
    schedule, last, pending, expected = case
    missed = missed_digests(
        {"w": schedule},
        last_windows={"w": at(last)} if last else {},
        oldest_pending={"w": at(pending)} if pending else {},
        now=NOW,
    )
    assert missed == ({"w": at(expected)} if expected else {})


def test_missed_digests_are_per_watchlist() -> None:
    missed = missed_digests(
        {"fresh": MINUTELY, "stale": MINUTELY},
        last_windows={"fresh": at("2026-11-21T12:00:00Z"), "stale": at("2026-11-21T11:00:00Z")},
        oldest_pending={},
        now=NOW,
    )
    assert missed == {"stale": at("2026-11-21T12:00:00Z")}


def test_digest_job_changes() -> None:
    current = {"a": MINUTELY, "b": MINUTELY, "c": MINUTELY}
    wanted = {"a": MINUTELY, "b": DAILY_ISTANBUL, "d": MINUTELY}
    changes = digest_job_changes(current, wanted)
    assert (changes.add, changes.replace, changes.remove) == (("d",), ("b",), ("c",))
    assert not digest_job_changes(wanted, wanted)


# ---- the APScheduler wiring --------------------------------------------------------------------


async def _nothing(*_: object) -> None:
    return None


async def test_every_job_is_non_overlapping_and_coalescing() -> None:
    scheduler = JobScheduler()
    scheduler.add_interval_job(POLL_JOB, _nothing, timedelta(seconds=30))
    scheduler.add_interval_job(OUTBOX_JOB, _nothing, timedelta(seconds=15))
    scheduler.sync_digest_jobs({"s400": DAILY_ISTANBUL}, _nothing)
    scheduler.start()
    try:
        jobs = scheduler.jobs()
        assert {job.id for job in jobs} == {POLL_JOB, OUTBOX_JOB, "digest:s400"}
        for job in jobs:
            assert job.max_instances == 1, job.id
            assert job.coalesce is True, job.id
            assert job.misfire_grace_time is None, job.id  # late runs still run
            assert job.next_run_time is not None, job.id  # scheduled, not paused
    finally:
        scheduler.shutdown()


async def test_digest_jobs_follow_watchlist_schedules_and_time_zones() -> None:
    scheduler = JobScheduler()
    scheduler.sync_digest_jobs(
        {"s400": DAILY_ISTANBUL, "idlib": DigestSchedule("0 18 * * *", "America/New_York")},
        _nothing,
    )
    scheduler.start()
    try:
        s400 = scheduler.job(digest_job_id("s400"))
        idlib = scheduler.job(digest_job_id("idlib"))
        assert s400 is not None and idlib is not None
        assert str(s400.trigger.timezone) == "Europe/Istanbul"
        assert s400.next_run_time.astimezone(ZoneInfo("Europe/Istanbul")).hour == 7
        assert idlib.next_run_time.astimezone(ZoneInfo("America/New_York")).hour == 18
        assert s400.args[-1] == "s400"  # the body is told which watchlist
    finally:
        scheduler.shutdown()


async def test_reload_replaces_changed_jobs_and_removes_gone_ones() -> None:
    scheduler = JobScheduler()
    scheduler.start()
    try:
        scheduler.sync_digest_jobs({"a": MINUTELY, "b": MINUTELY}, _nothing)
        changes = scheduler.sync_digest_jobs({"a": DAILY_ISTANBUL}, _nothing)
        assert (changes.replace, changes.remove) == (("a",), ("b",))
        assert scheduler.job(digest_job_id("b")) is None
        job = scheduler.job(digest_job_id("a"))
        assert job is not None and str(job.trigger.timezone) == "Europe/Istanbul"
        assert scheduler.digest_schedules == {"a": DAILY_ISTANBUL}
    finally:
        scheduler.shutdown()


async def test_a_slow_job_never_runs_twice_at_once() -> None:
    running = 0
    most = 0
    runs = 0

    async def slow() -> None:
        nonlocal running, most, runs
        running += 1
        runs += 1
        most = max(most, running)
        await asyncio.sleep(0.35)
        running -= 1

    scheduler = JobScheduler()
    scheduler.add_interval_job("slow", slow, timedelta(seconds=0.1), first_run=_now())
    scheduler.start()
    try:
        await asyncio.sleep(1.0)
    finally:
        scheduler.stop_taking_work()
        await scheduler.drain(1.0)
        scheduler.shutdown()
    assert most == 1
    assert 2 <= runs <= 4  # ten ticks fell due; the busy ones were skipped, not queued


async def test_stop_taking_work_then_drain_then_cancel() -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def quick() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append("quick")

    async def hangs() -> None:
        await asyncio.sleep(3600)

    scheduler = JobScheduler()
    scheduler.add_interval_job("quick", quick, timedelta(hours=1), first_run=_now())
    scheduler.add_interval_job("hangs", hangs, timedelta(hours=1), first_run=_now())
    scheduler.start()
    await asyncio.wait_for(started.wait(), 2)
    await asyncio.sleep(0.05)
    assert scheduler.in_flight == ["hangs", "quick"]
    scheduler.stop_taking_work()
    assert not scheduler.running
    assert await scheduler.drain(0.5) is False  # quick finished, hangs did not
    assert finished == ["quick"]
    assert await scheduler.cancel_in_flight(1.0) == ["hangs"]
    assert scheduler.in_flight == []
    scheduler.shutdown()


async def test_run_soon_goes_through_the_scheduler() -> None:
    ran = asyncio.Event()

    async def body(watchlist_id: str) -> None:
        assert watchlist_id == "a"
        ran.set()

    scheduler = JobScheduler()
    scheduler.sync_digest_jobs({"a": DigestSchedule("0 0 1 1 *", "UTC")}, body)
    scheduler.start()
    try:
        assert scheduler.run_soon(digest_job_id("a"))
        await asyncio.wait_for(ran.wait(), 2)
        job = scheduler.job(digest_job_id("a"))
        assert job is not None and job.next_run_time.month == 1  # back on its schedule
        assert not scheduler.run_soon(digest_job_id("nope"))
    finally:
        scheduler.shutdown()


async def test_a_failing_run_is_logged_and_the_job_keeps_its_schedule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[tuple[str, str]] = []

    async def boom() -> None:
        raise RuntimeError("kaput")

    scheduler = JobScheduler(on_job_done=lambda name, outcome, _s: outcomes.append((name, outcome)))
    scheduler.add_interval_job("boom", boom, timedelta(hours=1), first_run=_now())
    scheduler.start()
    try:
        for _ in range(50):
            if outcomes:
                break
            await asyncio.sleep(0.02)
        assert outcomes == [("boom", "error")]
        assert "job boom failed" in caplog.text
        assert scheduler.job("boom") is not None
    finally:
        scheduler.shutdown()


def _now() -> datetime:
    return datetime.now(UTC)


# ---- watchlist hot reload --------------------------------------------------------------------


def _watchlist(watchlist_id: str, threshold: float = 1.0) -> Watchlist:
    return Watchlist(id=watchlist_id, name=watchlist_id, threshold=threshold, terms=(Term("x"),))


def test_merge_reload_keeps_the_last_good_version_of_an_invalid_file() -> None:
    previous = {"a": _watchlist("a"), "b": _watchlist("b"), "gone": _watchlist("gone")}
    state = merge_reload(
        previous,
        loaded=[_watchlist("a", 2.0), _watchlist("new")],
        problems={
            "watchlists/b.toml": ("watchlists/b.toml: threshold: bad",),
            "watchlists/never-good.toml": ("watchlists/never-good.toml: name: missing",),
        },
    )
    assert state.in_force == {
        "a": _watchlist("a", 2.0),
        "b": previous["b"],
        "new": _watchlist("new"),
    }
    assert set(state.invalid) == {"b", "never-good"}
    assert state.invalid["b"] == ("watchlists/b.toml: threshold: bad",)


WATCHLIST = """name = "Minutely"
threshold = 1.0
schedule = "{schedule}"
timezone = "{timezone}"
channels = ["local"]

[[terms]]
match = "Ukraine"
"""


def test_reloader_follows_edits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "watchlists"
    folder.mkdir()
    path = folder / "minutely.toml"
    path.write_text(WATCHLIST.format(schedule="* * * * *", timezone="UTC"))
    reloader = WatchlistReloader(folder, known_channels=["local"])
    assert reloader.check() is True
    assert list(reloader.state.in_force) == ["minutely"]
    assert reloader.check() is False  # nothing changed: nothing reread

    path.write_text(WATCHLIST.format(schedule="0 7 * * *", timezone="Europe/Istanbul"))
    assert reloader.check() is True
    assert reloader.state.in_force["minutely"].timezone == "Europe/Istanbul"

    good = reloader.state.in_force["minutely"]
    path.write_text(WATCHLIST.format(schedule="every morning", timezone="UTC"))
    assert reloader.check() is True
    assert reloader.state.in_force["minutely"] == good  # the last good version stays
    assert "schedule" in reloader.state.invalid["minutely"][0]
    assert "watchlist minutely is invalid; its last good version stays in force" in caplog.text

    path.write_text(WATCHLIST.format(schedule="@hourly", timezone="UTC"))
    assert reloader.check() is True
    assert reloader.state.invalid == {}
    assert reloader.state.in_force["minutely"].schedule == "@hourly"

    path.unlink()
    assert reloader.check() is True
    assert reloader.state.in_force == {}


# ---- the daemon's wiring, in process -----------------------------------------------------------


def _settings(tmp_path: Path, database: str) -> object:
    (tmp_path / "watchlists").mkdir(exist_ok=True)
    return parse_settings(
        {
            "database": {"url": database},
            "polling": {"parse_processes": 0},
            "server": {"listen": ""},
            "watchlists": {"dir": str(tmp_path / "watchlists")},
            "channels": {"local": {"type": "file", "path": str(tmp_path / "digests")}},
        },
        tmp_path / "config.toml",
    )


async def test_daemon_reload_reschedules_digest_jobs(tmp_path: Path, sqlite_engine: Engine) -> None:
    settings = _settings(tmp_path, str(sqlite_engine.url))
    path = tmp_path / "watchlists" / "minutely.toml"
    path.write_text(WATCHLIST.format(schedule="* * * * *", timezone="UTC"))
    daemon = Daemon(settings, sqlite_engine)  # type: ignore[arg-type]
    daemon.reloader.check()
    daemon.scheduler.start()
    try:
        daemon.jobs.sync_digest_jobs()
        assert daemon.scheduler.digest_schedules == {"minutely": MINUTELY}
        path.write_text(WATCHLIST.format(schedule="0 7 * * *", timezone="Europe/Istanbul"))
        await daemon.reload_watchlists()
        assert daemon.scheduler.digest_schedules == {"minutely": DAILY_ISTANBUL}
        path.write_text("name = ")  # invalid: the daily schedule stays
        await daemon.reload_watchlists()
        assert daemon.scheduler.digest_schedules == {"minutely": DAILY_ISTANBUL}
        snapshot = await daemon.health()
        assert set(snapshot.invalid_watchlists) == {"minutely"}
    finally:
        daemon.scheduler.shutdown()


async def test_daemon_makes_a_missed_digest_when_it_starts(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    settings = _settings(tmp_path, str(sqlite_engine.url))
    (tmp_path / "watchlists" / "minutely.toml").write_text(
        WATCHLIST.format(schedule="* * * * *", timezone="UTC")
    )
    # The last digest's window ended ten minutes ago: the daemon was down since.
    long_ago = _now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    digests = Digest.__table__
    with sqlite_engine.begin() as connection:
        connection.execute(
            digests.insert().values(
                watchlist_id="minutely",
                kind=DigestKind.DIGEST.value,
                window_key=long_ago.isoformat(),
                window_start=None,
                window_end=long_ago,
                created_at=long_ago,
                item_count=0,
                payload={},
            )
        )
    daemon = Daemon(settings, sqlite_engine, intervals=Intervals(poll=timedelta(hours=1)))  # type: ignore[arg-type]
    serving = asyncio.create_task(daemon.serve())
    try:
        for _ in range(100):
            with sqlite_engine.connect() as connection:
                ends = (
                    connection.execute(
                        select(digests.c.window_end).where(digests.c.watchlist_id == "minutely")
                    )
                    .scalars()
                    .all()
                )
            if len(ends) > 1:
                break
            await asyncio.sleep(0.05)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(serving, 10) == 0
    assert len(ends) == 2, "no catch-up digest within 5 s of start"
    assert max(ends) > long_ago
    assert max(ends).second == 0 and _now() - max(ends) < timedelta(minutes=1, seconds=5)


async def test_one_stop_delivered_twice_at_once_drains_and_a_later_one_cuts_short(
    tmp_path: Path, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(_settings(tmp_path, str(sqlite_engine.url)), sqlite_engine)  # type: ignore[arg-type]
    caplog.set_level("INFO", logger="monitor.service.daemon")
    # `timeout` signals the process and then its group: the same SIGTERM, twice at once.
    daemon.request_stop(signal.SIGTERM)
    daemon.request_stop(signal.SIGTERM)
    assert "cancelling in-flight work" not in caplog.text
    assert caplog.text.count("SIGTERM: stopping") == 1
    # An operator who presses Ctrl-C again a few seconds later wants out now.
    assert daemon.stop_requested_at is not None
    daemon.stop_requested_at -= 3
    daemon.request_stop(signal.SIGINT)
    assert "SIGINT again: cancelling in-flight work now" in caplog.text
    await asyncio.sleep(0)


def test_one_daemon_per_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "data" / "monitor.db"
    first = InstanceLock.acquire(database)
    try:
        with pytest.raises(DatabaseError, match=r"another `monitor run` \(pid \d+\)"):
            InstanceLock.acquire(database)
    finally:
        first.release()
    InstanceLock.acquire(database).release()  # free again once the holder let go


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/monitor/monitor.db", Path("/var/lib/monitor/monitor.db")),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://monitor@db/monitor", None),
    ],
)
def test_which_databases_take_the_lock(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


@pytest.mark.slow  # a Python subprocess, stopped by the watchdog after seconds
def test_the_exit_watchdog_ends_a_stuck_stop_on_time() -> None:
    # A non-daemon thread that would hold the interpreter open: the watchdog exits anyway.
    script = (
        "import threading, time\n"
        "from monitor.service.shutdown import start_exit_watchdog\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "start_exit_watchdog(0.3)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert time.monotonic() - started < 10
    assert "exiting anyway" in done.stderr


# ---- the pure schedule check agrees with APScheduler ------------------------------------------

_CRON_ITEM = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 70), st.integers(0, 70)).map(lambda r: f"{r[0]}-{r[1]}"),
    st.tuples(st.sampled_from(["*", "1-5", "0"]), st.integers(0, 9)).map(
        lambda s: f"{s[0]}/{s[1]}"
    ),
    st.sampled_from(["mon", "fri-sun", "jan", "dec", "x"]),
)
_CRON_FIELD = st.lists(_CRON_ITEM, min_size=1, max_size=3).map(",".join)


@given(st.lists(_CRON_FIELD, min_size=5, max_size=5).map(" ".join))
def test_a_schedule_the_pure_check_accepts_runs_in_apscheduler(line: str) -> None:
    """check_cron (core, no APScheduler) must never accept a line the scheduler would reject."""
    try:
        check_cron(crontab_for_apscheduler(line))
    except ValueError:
        return
    CronTrigger.from_crontab(crontab_for_apscheduler(line), timezone=UTC)


@pytest.mark.parametrize(
    "line",
    ["0 7 * * *", "*/15 * * * *", "0 7 1 * mon", "30 6 * jan-mar 1-5", "0 0 29 2 *", "5 4 * * 7"],
)
def test_the_pure_check_accepts_ordinary_schedules(line: str) -> None:
    check_cron(crontab_for_apscheduler(line))
    CronTrigger.from_crontab(crontab_for_apscheduler(line), timezone=UTC)
