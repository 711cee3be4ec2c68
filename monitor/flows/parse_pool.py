"""The parse processes as a poll cycle uses them: a few jobs handed over at a time, a crashed
pool replaced, and a worn pool replaced without two pools' workers alive at once.

A parse worker's heap grows to the largest feed it has parsed and stays there, so every
`recycle_after` jobs the pool is looked at and replaced if `grown` says a worker has grown
(without `grown`: every time). Replacing it by starting the new pool while the old
one finished its queue had both pools' workers alive for a while (4 workers of 2 in the
tree's peak memory). Here the jobs due to the old pool finish, its workers are joined (gone),
and only then does the next job go to the new pool: a pause of about one parse and a fork.
Not ProcessPoolExecutor(max_tasks_per_child=...): on Python 3.11 a worker leaving that way
can hang the pool (cpython#115634).

No more than `in_flight` jobs are in the executor at once (the rest wait here, not in the
executor's queue), so a recycle waits for those few, never for every feed of the backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from monitor.errors import ParseError

T = TypeVar("T")

PARSER_CRASHED = "the parser process crashed on this feed"


class ParsePool:
    """Runs picklable jobs on `executor`; `renew` makes a fresh one (None: never replaced).

    asyncio primitives belong to one event loop; the pool's are made again when it is used
    from another one (the CLI runs each poll under its own `asyncio.run`)."""

    def __init__(
        self,
        executor: Executor,
        *,
        renew: Callable[[], Executor] | None = None,
        in_flight: int = 4,
        recycle_after: int | None = None,
        grown: Callable[[Executor], bool] | None = None,
    ) -> None:
        self.executor = executor
        self._renew = renew
        self._limit = max(1, in_flight)
        self._recycle_after = recycle_after
        self._grown = grown
        self._given = 0  # jobs handed to the current executor
        self._running = 0  # jobs in the executor now
        self._replacing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None
        self.replaced = 0  # pools replaced because they were worn (not because they broke)

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._loop, self._changed = loop, asyncio.Condition()
            self._running, self._replacing = 0, False
        return self._changed

    def _worn(self) -> bool:
        if self._renew is None or self._recycle_after is None:
            return False
        if self._given < self._recycle_after:
            return False
        if self._grown is None or self._grown(self.executor):
            return True
        self._given = 0  # none has grown: kept, and looked at again as many jobs later
        return False

    async def run(
        self,
        job: Callable[[], T],
        *,
        when_due: Callable[[Callable[[], T]], Callable[[], T]] | None = None,
    ) -> T:
        """The job's result; ParseError when the parser process died on it twice.
        `when_due` is given the job as it is handed over, and returns the job to hand over:
        what it adds is decided then, not while the job waited here."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: self._running < self._limit and not self._replacing)
            if self._worn():
                await self._replace_worn(changed)
            self._running += 1
            self._given += 1
            executor = self.executor
        try:
            if when_due is not None:
                job = when_due(job)
            return await self._submit(executor, job)
        finally:
            async with changed:
                self._running -= 1
                changed.notify_all()

    async def _replace_worn(self, changed: asyncio.Condition) -> None:
        """Called holding `changed`: the old pool's jobs finish, its workers exit, and only
        then may a job reach the new pool (whose workers start at their first job)."""
        self._replacing = True
        try:
            await changed.wait_for(lambda: self._running == 0)
            assert self._renew is not None
            old, self.executor = self.executor, self._renew()
            self._given = 0
            self.replaced += 1
            # shutdown(wait=True) joins the worker processes; in a thread, so the fetches
            # and the writer go on meanwhile.
            await asyncio.to_thread(old.shutdown, wait=True)
        finally:
            self._replacing = False
            changed.notify_all()

    async def _submit(self, executor: Executor, job: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, job)
        except BrokenProcessPool:
            # A parser process died (out of memory on a hostile feed, a crash in C code).
            # Every job in flight fails with it; a new pool takes this job once more, so one
            # bad feed costs itself and not the whole cycle. The broken pool's workers are
            # gone already: no overlap.
            self._renew_broken(executor)
            try:
                return await loop.run_in_executor(self.executor, job)
            except BrokenProcessPool:
                self._renew_broken(self.executor)
                raise ParseError(PARSER_CRASHED) from None

    def _renew_broken(self, executor: Executor) -> None:
        # Only once per broken pool: the other jobs that failed with it find it replaced.
        if self._renew is not None and self.executor is executor:
            self.executor, self._given = self._renew(), 0
            executor.shutdown(wait=False)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
