"""The parse pool: a worn pool is replaced with no two pools' workers alive at once, and no
job is lost or run twice on the way."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from monitor.flows.parse_pool import ParsePool


class _Pool(Executor):
    """A pool that records, at each job it takes, how many pools had workers then: its
    workers live from its first job until its shutdown has returned."""

    live: list[_Pool]

    def __init__(self, live: list[_Pool], seen: list[int], workers: int = 2) -> None:
        self.live, self.seen = live, seen
        self._threads = ThreadPoolExecutor(max_workers=workers)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self not in self.live:
            self.live.append(self)
        self.seen.append(len(self.live))
        return self._threads.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait and self in self.live:
            self.live.remove(self)


def _job(calls: list[int], lock: threading.Lock, n: int) -> Callable[[], int]:
    def run() -> int:
        time.sleep(0.002)  # a parse: long enough that jobs overlap
        with lock:
            calls.append(n)
        return n

    return run


class _Pools:
    """Pools made one after another (`fresh`, the ParsePool's `renew`): `made` in order,
    `seen` how many pools had workers at each job taken."""

    def __init__(self) -> None:
        self.live: list[_Pool] = []
        self.seen: list[int] = []
        self.made: list[_Pool] = []

    def fresh(self) -> Executor:
        self.made.append(_Pool(self.live, self.seen))
        return self.made[-1]


def test_a_worn_pool_is_gone_before_the_next_takes_a_job_and_no_job_is_lost() -> None:
    pools = _Pools()
    calls: list[int] = []
    lock = threading.Lock()

    async def run() -> list[int]:
        pool = ParsePool(pools.fresh(), renew=pools.fresh, in_flight=4, recycle_after=5)
        results = await asyncio.gather(*(pool.run(_job(calls, lock, n)) for n in range(40)))
        pool.close()
        return list(results)

    assert asyncio.run(run()) == list(range(40))
    assert sorted(calls) == list(range(40))  # each job ran once
    assert len(pools.made) == 8  # 40 jobs, 5 per pool
    assert max(pools.seen) == 1  # never a job while another pool's workers were alive


def _worker_pids(parent: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:  # a thread that ended meanwhile
            continue
    return pids


def _pid_after_a_pause() -> int:
    time.sleep(0.005)
    return os.getpid()


def test_real_worker_processes_never_outnumber_the_pool_size_across_recycles() -> None:
    context = multiprocessing.get_context("fork")

    def fresh() -> Executor:
        return ProcessPoolExecutor(max_workers=2, mp_context=context)

    most, done = 0, threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, len(_worker_pids(os.getpid())))
            time.sleep(0.0005)

    async def run() -> list[int]:
        pool = ParsePool(fresh(), renew=fresh, in_flight=4, recycle_after=6)
        try:
            return list(await asyncio.gather(*(pool.run(_pid_after_a_pause) for _ in range(30))))
        finally:
            pool.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        pids = asyncio.run(run())
    finally:
        done.set()
        watcher.join()
    assert len(pids) == 30
    # Five pools of two workers each did the work, never more than two alive at once.
    assert len(set(pids)) >= 5
    assert 1 <= most <= 2


def test_a_pool_used_under_a_new_event_loop_still_runs_jobs() -> None:
    pool = ParsePool(ThreadPoolExecutor(max_workers=1), in_flight=1)
    counter = itertools.count()
    first = asyncio.run(pool.run(lambda: next(counter)))
    second = asyncio.run(pool.run(lambda: next(counter)))
    pool.close()
    assert (first, second) == (0, 1)


def test_a_job_is_given_what_is_decided_when_it_is_handed_over_and_a_failure_there_frees_its_slot() -> (
    None
):
    pool = ParsePool(ThreadPoolExecutor(max_workers=1), in_flight=1)
    handed: list[str] = []

    def when_due(job: Callable[[], str]) -> Callable[[], str]:
        handed.append("decided")
        return lambda: job() + " and scored"

    def refuse(job: Callable[[], str]) -> Callable[[], str]:
        raise RuntimeError("no snapshot")

    async def run() -> tuple[str, str]:
        first = await pool.run(lambda: "parsed", when_due=when_due)
        with pytest.raises(RuntimeError, match="no snapshot"):
            await pool.run(lambda: "parsed", when_due=refuse)
        # The one slot is free again: this would wait forever otherwise.
        second = await asyncio.wait_for(pool.run(lambda: "parsed"), timeout=5)
        return first, second

    assert asyncio.run(run()) == ("parsed and scored", "parsed")
    assert handed == ["decided"]
    pool.close()


_MAIN_SCRIPT = """
import sys
from datetime import UTC, datetime
from pathlib import Path

with open(sys.argv[1], "a") as runs:  # once per process that runs this script
    runs.write("ran\\n")

from monitor.adapters.feed_parse import ParseJob
from monitor.app import new_parse_executor
from monitor.config import parse_settings

if __name__ == "__main__":
    settings = parse_settings({"polling": {"parse_processes": 2}}, Path(sys.argv[2]))
    pool = new_parse_executor(settings)
    body = b'<rss version="2.0"><channel><title>T</title><item><title>One</title></item></channel></rss>'
    jobs = [ParseJob(body, "https://x.example/feed", {}, datetime.now(UTC)) for _ in range(4)]
    print([pool.submit(job).result().entries[0].title for job in jobs])
    pool.shutdown()
"""


def test_parse_workers_do_not_run_the_parents_main_script(tmp_path: Path) -> None:
    """The `monitor` console script imports the whole CLI; a worker that ran it again cost
    61 MB of private memory before parsing anything."""
    script, runs = tmp_path / "main_script.py", tmp_path / "runs.txt"
    script.write_text(_MAIN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(runs), str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['One', 'One', 'One', 'One']"
    assert runs.read_text() == "ran\n"  # the parent only


def test_a_pool_whose_workers_have_not_grown_is_kept_and_looked_at_again() -> None:
    pools = _Pools()
    looked: list[int] = []

    def grown(executor: Executor) -> bool:
        looked.append(pools.made.index(executor))  # type: ignore[arg-type]
        return len(looked) == 3  # a worker held too much at the third look only

    calls: list[int] = []
    lock = threading.Lock()

    async def run() -> list[int]:
        pool = ParsePool(
            pools.fresh(), renew=pools.fresh, in_flight=1, recycle_after=5, grown=grown
        )
        results = [await pool.run(_job(calls, lock, n)) for n in range(40)]
        pool.close()
        return results

    assert asyncio.run(run()) == list(range(40))
    # Looked at every 5 jobs (before jobs 6, 11, ... 36); replaced at the third look only.
    assert looked == [0, 0, 0, 1, 1, 1, 1]
    assert len(pools.made) == 2
    assert max(pools.seen) == 1


_HELD: list[bytearray] = []


def _hold_memory(megabytes: int) -> int:
    _HELD.append(bytearray(megabytes * 2**20))  # written: resident, not just reserved
    return os.getpid()


def test_a_worker_that_holds_more_than_the_limit_counts_as_grown() -> None:
    from monitor.app import PARSE_WORKER_MAX_RSS, parse_workers_grown, worker_rss

    # spawn: a fresh interpreter, not a copy of this test process and its size
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        pid = pool.submit(os.getpid).result()
        assert (worker_rss(pid) or 0) < PARSE_WORKER_MAX_RSS
        assert not parse_workers_grown(pool)
        assert pool.submit(_hold_memory, PARSE_WORKER_MAX_RSS // 2**20).result() == pid
        assert (worker_rss(pid) or 0) > PARSE_WORKER_MAX_RSS
        assert parse_workers_grown(pool)
    finally:
        pool.shutdown()
    assert not parse_workers_grown(ThreadPoolExecutor(max_workers=1))  # no processes: never
