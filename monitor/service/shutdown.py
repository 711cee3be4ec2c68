"""Stopping on time: the stop budget, and the backstops that end the process when orderly
shutdown cannot finish within it (a send stuck in a thread, a SQLite write lock held
elsewhere). Leases left behind expire by themselves.

The orderly path, within STOP_BUDGET seconds of the signal (service/daemon.py runs it):
1. stop taking work: no job starts any more, /healthz answers 503 "stopping";
2. the runs in flight get DRAIN_SECONDS to finish (a poll tick's fetches, a digest, sends);
3. what is still running is cancelled: a cancelled poll gives its feed leases back at once,
   a cancelled send keeps its outbox lease until it expires and is then retried with the
   same Idempotency-Key (whether the channel got it is unknown);
4. every feed lease this worker still holds is released, the endpoint closes, exit 0.
A second signal skips the wait in step 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

STOP_BUDGET = 10.0  # seconds from SIGTERM to exit: what `docker stop` and systemd allow
DRAIN_SECONDS = 5.0
CANCEL_SECONDS = 1.5
RELEASE_SECONDS = 1.0
# `timeout`, a process-group kill or a container runtime may deliver one stop twice in a
# moment; only a second request after this long is someone insisting.
REPEAT_SECONDS = 1.0


def run_until_complete(main: Coroutine[Any, Any, int]) -> int:
    """asyncio.run, minus its unbounded wait for the default executor's threads at the end:
    a send stuck in a thread must not hold the process past its stop budget."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # shuts the default executor down without waiting


def start_exit_watchdog(seconds: float) -> None:
    """The backstop of the stop budget: whatever blocks the orderly path (a SQLite write lock
    held elsewhere, a thread that ignores cancellation), the process exits on time. Claims
    left behind expire with their leases."""

    def exit_now() -> None:
        log.warning(
            "not stopped after %.1f s: exiting anyway; leases expire by themselves", seconds
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


def exit_now_if_threads_linger(code: int, stop_requested_at: float | None) -> None:
    """Worker threads still busy (a send or query that ignores cancellation) would keep the
    interpreter from exiting; give them what is left of the stop budget, then exit anyway."""
    deadline = (stop_requested_at or time.monotonic()) + STOP_BUDGET - 0.5
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    lingering = [name for name in lingering if name != threading.current_thread().name]
    if lingering:
        log.warning(
            "exiting with %d operations still running (%s); their leases expire by themselves",
            len(lingering),
            ", ".join(lingering),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
