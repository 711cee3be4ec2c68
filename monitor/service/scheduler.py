"""When the daemon's jobs run: APScheduler 3.x wiring and the pure schedule calculations.

Jobs: the poll tick, one digest job per watchlist (its cron, in its time zone), the outbox
sender, retention and the watchlist reload check. None overlaps itself (`max_instances=1`),
runs that piled up while one was busy coalesce into one, and a late run still runs
(`misfire_grace_time=None`): every job body is idempotent, so late is better than never.

The calculations (`previous_fire_time`, `missed_digests`, `digest_job_changes`) take the clock
as a parameter and are tested with fixed datetimes. What a job *does* lives in daemon.py; this
module never touches the database, the network or the files.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import MonitorError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
JobBody = Callable[..., Awaitable[Any]]

POLL_JOB = "poll"
OUTBOX_JOB = "outbox"
RETENTION_JOB = "retention"
RELOAD_JOB = "reload-watchlists"
DIGEST_JOB_PREFIX = "digest:"

# The widest gap between two fires of a valid crontab line is a leap day's four (eight,
# across a skipped century year) years; look back that far and no further.
_LOOKBACK_LIMIT = timedelta(days=366 * 8 + 2)


@dataclass(frozen=True, slots=True)
class Intervals:
    """How often the fixed jobs run."""

    poll: timedelta = timedelta(seconds=30)  # claims whatever feeds are due; cheap when none
    outbox: timedelta = timedelta(seconds=15)
    retention: timedelta = timedelta(hours=1)
    reload: timedelta = timedelta(seconds=3)  # "edits take effect within seconds"
    retention_delay: timedelta = timedelta(minutes=1)  # first prune after start-up settles


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When one watchlist's digest is due: a crontab line APScheduler 3 reads correctly
    (weekdays as names: core.watchlist.Watchlist.cron) in an IANA time zone."""

    cron: str
    timezone: str


# ---- pure calculations ---------------------------------------------------------------------


class WallClockCronTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler is untyped
    """A crontab line read on the local wall clock, firing once per matching wall time
    across daylight-saving changes.

    APScheduler 3's CronTrigger does its arithmetic on aware datetimes and goes wrong at the
    changes: after the spring change a midnight digest skips a day, a time in the skipped
    hour fires at a time that does not exist, and in the repeated autumn hour it fires twice
    or stops. Here the fields are matched on naive wall-clock time (a CronTrigger in UTC,
    which has no changes), and each wall time becomes one instant: a time in the skipped hour
    runs when the clock jumps past it (02:30 becomes 03:30), a repeated time runs at its
    first occurrence only, and no instant is used twice.
    """

    def __init__(self, cron: str, zone: ZoneInfo) -> None:
        self.zone = zone
        self.timezone = zone  # as CronTrigger names it
        self.wall = CronTrigger.from_crontab(cron, timezone=UTC)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        wall_now = now.astimezone(self.zone).replace(tzinfo=UTC)
        candidate: datetime | None = self.wall.get_next_fire_time(None, wall_now)
        while candidate is not None:
            # fold=0: the first of a repeated time; a skipped one takes the offset before.
            instant = candidate.replace(tzinfo=self.zone).astimezone(UTC)
            if instant >= now and (previous_fire_time is None or instant > previous_fire_time):
                return instant
            candidate = self.wall.get_next_fire_time(None, candidate + timedelta(microseconds=1))
        return None

    def __str__(self) -> str:
        return f"wall-clock {self.wall} in {self.zone.key}"


def cron_trigger(schedule: DigestSchedule) -> BaseTrigger:
    """The trigger for a crontab line in its time zone, on its wall clock (see
    WallClockCronTrigger: once per matching local time across daylight-saving changes).

    Crontab fires when the day of month OR the weekday matches if both are restricted
    ("0 7 1 * mon": the 1st, and every Monday); APScheduler ANDs its fields, so that case
    becomes two triggers, either of which fires.
    """
    zone = ZoneInfo(schedule.timezone)
    fields = schedule.cron.split()
    if len(fields) == 5 and fields[2] != "*" and fields[4] != "*":
        by_day = " ".join([*fields[:4], "*"])
        by_weekday = " ".join([*fields[:2], "*", fields[3], fields[4]])
        return OrTrigger(
            [WallClockCronTrigger(by_day, zone), WallClockCronTrigger(by_weekday, zone)]
        )
    return WallClockCronTrigger(schedule.cron, zone)


def previous_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest time at or before `now` that `trigger` fires, or None if none is found.

    APScheduler 3 only looks forward, so look back over doubling spans until one holds a
    fire time, then walk forward to the last one not after `now`. The span that first holds
    one is at most twice the gap between fires, so the walk stays short.
    """
    span = timedelta(minutes=1)
    while span <= _LOOKBACK_LIMIT * 2:
        fire = trigger.get_next_fire_time(None, now - span)
        if fire is not None and fire <= now:
            while True:
                following = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
                if following is None or following > now:
                    found: datetime = fire.astimezone(UTC)
                    return found
                fire = following
        span *= 2
    return None


def missed_digests(
    schedules: Mapping[str, DigestSchedule],
    *,
    last_windows: Mapping[str, datetime],
    oldest_pending: Mapping[str, datetime],
    now: datetime,
) -> dict[str, datetime]:
    """Watchlist id -> the window end of the digest that fell due and was not made.

    A digest is missed when its schedule fired after the end of its last digest's window.
    A watchlist that never had a digest missed one only if matches were already waiting when
    its schedule fired; otherwise its first digest comes at its next scheduled time. Only the
    latest missed window counts: one catch-up digest takes every pending match, however many
    fires were missed.
    """
    missed: dict[str, datetime] = {}
    for watchlist_id, schedule in schedules.items():
        due = previous_fire_time(cron_trigger(schedule), now)
        if due is None:
            continue
        last = last_windows.get(watchlist_id)
        if last is not None:
            if due > last:
                missed[watchlist_id] = due
            continue
        waiting_since = oldest_pending.get(watchlist_id)
        if waiting_since is not None and waiting_since <= due:
            missed[watchlist_id] = due
    return missed


@dataclass(frozen=True, slots=True)
class DigestJobChanges:
    add: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.replace or self.remove)


def digest_job_changes(
    current: Mapping[str, DigestSchedule], wanted: Mapping[str, DigestSchedule]
) -> DigestJobChanges:
    """Which digest jobs to add, reschedule and remove so the jobs match the watchlists."""
    return DigestJobChanges(
        add=tuple(sorted(set(wanted) - set(current))),
        replace=tuple(sorted(w for w in set(wanted) & set(current) if wanted[w] != current[w])),
        remove=tuple(sorted(set(current) - set(wanted))),
    )


def digest_job_id(watchlist_id: str) -> str:
    return DIGEST_JOB_PREFIX + watchlist_id


# ---- the APScheduler wiring ----------------------------------------------------------------


class JobOutcome(enum.StrEnum):
    """How one run of a job ended (the `outcome` label of monitor_job_runs_total)."""

    OK = "ok"
    ERROR = "error"  # raised: logged with its traceback, and the job runs again next time
    CANCELLED = "cancelled"  # cut short on shutdown


JobDone = Callable[[str, JobOutcome, float], None]  # job name, outcome, seconds


class JobScheduler:
    """An AsyncIOScheduler whose jobs never overlap themselves, that knows which job runs are
    in flight, and that can stop taking work and drain them on shutdown.

    Call `start()` from inside the running event loop.
    """

    def __init__(self, *, clock: Clock | None = None, on_job_done: JobDone | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._on_job_done = on_job_done
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self._in_flight: dict[asyncio.Task[Any], str] = {}  # run -> job name
        self._digests: dict[str, DigestSchedule] = {}
        self._accepting = False

    # -- jobs ---------------------------------------------------------------------------------

    def add_interval_job(
        self,
        name: str,
        body: JobBody,
        every: timedelta,
        *,
        first_run: datetime | None = None,
    ) -> Job:
        """Run `body()` every `every`; first at `first_run` (default: one interval from now)."""
        # Only when given: APScheduler 3 reads an explicit next_run_time=None as "paused".
        start = {} if first_run is None else {"next_run_time": first_run}
        return self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
            args=(name, body),
            id=name,
            name=name,
            replace_existing=True,
            **start,
            **self._never_overlapping(),
        )

    def sync_digest_jobs(
        self, schedules: Mapping[str, DigestSchedule], body: JobBody
    ) -> DigestJobChanges:
        """Make the digest jobs match `schedules`: `body(watchlist_id)` on each cron."""
        changes = digest_job_changes(self._digests, schedules)
        for watchlist_id in changes.remove:
            self._scheduler.remove_job(digest_job_id(watchlist_id))
            del self._digests[watchlist_id]
        for watchlist_id in (*changes.add, *changes.replace):
            schedule = schedules[watchlist_id]
            job_id = digest_job_id(watchlist_id)
            self._scheduler.add_job(
                self._run,
                cron_trigger(schedule),
                args=(job_id, body, watchlist_id),
                id=job_id,
                name=job_id,
                replace_existing=True,
                **self._never_overlapping(),
            )
            self._digests[watchlist_id] = schedule
        if changes:
            log.info(
                "digest jobs: %d added, %d rescheduled, %d removed",
                len(changes.add),
                len(changes.replace),
                len(changes.remove),
            )
        return changes

    def run_soon(self, job_id: str) -> bool:
        """Run a job now, through the scheduler, so it still never overlaps itself (a
        catch-up digest and its cron run cannot both be in flight). False if no such job."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            return False
        job.modify(next_run_time=self._clock())
        return True

    def jobs(self) -> list[Job]:
        return list(self._scheduler.get_jobs())

    def job(self, job_id: str) -> Job | None:
        return self._scheduler.get_job(job_id)

    @property
    def digest_schedules(self) -> dict[str, DigestSchedule]:
        return dict(self._digests)

    @staticmethod
    def _never_overlapping() -> dict[str, Any]:
        # Explicit here, not only in job_defaults, so a test can read them off each job.
        return {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}

    async def _run(self, name: str, body: JobBody, *args: Any) -> None:
        if not self._accepting:
            return
        task = asyncio.current_task()
        assert task is not None
        self._in_flight[task] = name
        started = time.monotonic()
        outcome = JobOutcome.ERROR
        try:
            await body(*args)
            outcome = JobOutcome.OK
        except asyncio.CancelledError:
            outcome = JobOutcome.CANCELLED
            raise
        except MonitorError as exc:  # a reported failure (the database is full...): one line
            log.error("job %s failed: %s", name, exc)
        except Exception:  # one failed run must not stop the job's later runs
            log.exception("job %s failed", name)
        finally:
            del self._in_flight[task]
            if self._on_job_done is not None:
                self._on_job_done(name, outcome, time.monotonic() - started)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._accepting = True
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return self._accepting and self._scheduler.state == STATE_RUNNING

    @property
    def in_flight(self) -> list[str]:
        return sorted(self._in_flight.values())

    def stop_taking_work(self) -> None:
        """No job starts from now on; runs in flight carry on."""
        self._accepting = False
        if self._scheduler.state == STATE_RUNNING:
            self._scheduler.pause()

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the runs in flight; True if they all finished."""
        tasks = list(self._in_flight)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    async def cancel_in_flight(self, timeout: float) -> list[str]:
        """Cancel the runs still in flight and wait up to `timeout` for their clean-up (a
        cancelled poll gives its feed leases back). Returns the names of those cancelled."""
        tasks = dict(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=timeout)
        return sorted(tasks.values())

    def shutdown(self) -> None:
        self._accepting = False
        if self._scheduler.state != 0:  # STATE_STOPPED
            # wait=False: AsyncIOScheduler cannot wait; drain() already did.
            self._scheduler.shutdown(wait=False)
