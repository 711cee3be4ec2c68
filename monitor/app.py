"""The one wiring point: builds the concrete pieces (engine, fetcher, poller...) from settings.

Nothing else constructs adapters from settings, so tests can build the same pieces with
their own collaborators (a pytest-httpx client, a fixed clock).

Every command imports this module, and `feeds list` needs only the engine: the HTTP stack
(httpx, aiohttp), the parser (feedparser) and scoring (numpy) are imported by the functions
that build them, not here, so a quick command does not pay for them at start-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import threading
from collections.abc import AsyncIterator, Callable, Collection
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from monitor.adapters.db.engine import current_revision, make_engine, safe_url, upgrade_database
from monitor.config import Settings, database_url

if TYPE_CHECKING:
    import httpx

    from monitor.adapters.embed import SemanticIndexes
    from monitor.adapters.http import Fetcher, FetchLimits
    from monitor.adapters.http.guard import AddressGuard
    from monitor.core.scoring import Score
    from monitor.core.watchlist import Watchlist
    from monitor.flows.matching import MatchNewArticles, SemanticSource, WatchlistSource
    from monitor.flows.poll import MatchesArticles, Poller

log = logging.getLogger(__name__)


def load_watchlists_once(settings: Settings) -> tuple[Watchlist, ...]:
    """The valid watchlists of the configured folder; invalid ones are logged and skipped."""
    from monitor.adapters.files.watchlists import load_watchlists

    loaded = load_watchlists(settings.watchlist_dir, known_channels=settings.channels.keys())
    for problems in loaded.problems.values():
        for problem in problems:
            log.error("watchlist skipped: %s", problem)
    return loaded.watchlists


def semantic_indexes(settings: Settings) -> SemanticIndexes:
    """The semantic part of scoring: one index per set of watchlists in force, built from
    their example files (a watchlist whose examples cannot be read scores by its terms)."""

    from monitor.adapters.embed import SemanticIndexes

    def skipped(problem: str) -> None:
        log.error("semantic part skipped: %s", problem)

    return SemanticIndexes(settings.watchlist_dir, on_problem=skipped)


def matching_for(
    settings: Settings,
    engine: Engine,
    watchlists: WatchlistSource | None = None,
    on_match: Callable[[str, Score], None] | None = None,
    semantic: SemanticSource | None = None,
) -> MatchNewArticles:
    """Scoring, stories and matches for each feed's new articles. Without a `watchlists`
    source (the daemon passes its hot-reloaded set), the folder is read once, now."""
    from monitor.adapters.worker_scoring import Snapshots
    from monitor.flows.digests import known_channels
    from monitor.flows.matching import MatchNewArticles

    if watchlists is None:
        fixed = load_watchlists_once(settings)

        def watchlists() -> Collection[Watchlist]:
            return fixed

    return MatchNewArticles(
        watchlists,
        story_window=settings.stories.window,
        on_match=on_match,
        alert_channels=lambda watchlist: known_channels(settings, watchlist),
        semantic=semantic if semantic is not None else semantic_indexes(settings),
        # Parse processes score while the writer is behind (adapters/worker_scoring.py).
        worker_snapshots=Snapshots() if settings.polling.parse_processes else None,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def open_database(settings: Settings, *, migrate: bool = True) -> Engine:
    engine = make_engine(database_url(settings))
    if migrate:
        upgrade_database(engine)
    return engine


def upgrade(settings: Settings) -> tuple[str | None, str | None, str]:
    """`monitor db upgrade`: (revision before, revision after, the database without password)."""
    engine = make_engine(database_url(settings))
    try:
        before = upgrade_database(engine)
        return before, current_revision(engine), safe_url(engine)
    finally:
        engine.dispose()


def new_parse_executor(settings: Settings) -> Executor:
    """Processes for parsing (the CPU-bound stage), started with forkserver: forking a process
    that already runs threads (the DB writer, the HTTP transport) can deadlock."""
    from monitor.adapters.feed_parse import ParseProcessContext, start_parse_worker

    workers = settings.polling.parse_processes
    if workers == 0:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-parse")
    context = ParseProcessContext()
    # Nothing preloaded: each worker imports the parser itself (feed_parse.py, ~0.2 s of
    # CPU per worker, once per PARSE_TASKS_PER_POOL parses). Preloaded, the forkserver held
    # those 31 MB all the time, between polls too, and the workers shared almost none of
    # them: touching an object writes its reference count, which copies the page. Measured
    # (bench/ingest.py): a first poll's tree in PSS 224 MB with the preload, 226 without;
    # the forkserver itself 45 MB against 14.
    context.set_forkserver_preload([])
    _start_forkserver()
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=start_parse_worker,
        initargs=(os.getpid(),),
    )


def worker_rss(pid: int) -> int | None:
    """Resident bytes of process `pid`, None where that cannot be read (no /proc, gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def parse_workers_grown(executor: Executor) -> bool:
    """Whether a worker of this parse pool holds more than PARSE_WORKER_MAX_RSS."""
    # ProcessPoolExecutor keeps its workers here; there is no public way to list them.
    workers = getattr(executor, "_processes", None) or {}
    return any((worker_rss(pid) or 0) > PARSE_WORKER_MAX_RSS for pid in list(workers))


_FORKSERVER_ENVIRONMENT = threading.Lock()


def _start_forkserver() -> None:
    """Start the forkserver now, importing `monitor` from where this process did.

    The forkserver is `python -c ...`: its sys.path starts with the working directory, and
    Python 3.11 ignores the sys.path the parent hands it. Started from a folder that holds a
    `monitor/` folder without `__init__.py` (the folder above a checkout), an editable or
    console-script install then finds that namespace folder before the package, and every
    worker dies unpickling its first job. So the forkserver gets this package's folder on
    PYTHONPATH and no working directory (PYTHONSAFEPATH); the parse workers it forks inherit
    both. A forkserver already running (a renewed pool) was started this way before."""
    root = str(Path(__file__).resolve().parents[1])  # the folder that holds monitor/
    wanted = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    wanted["PYTHONSAFEPATH"] = "1"
    with _FORKSERVER_ENVIRONMENT:
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def fetch_limits(settings: Settings) -> FetchLimits:
    from monitor.adapters.http import FetchLimits

    polling = settings.polling
    return FetchLimits(
        timeout=polling.timeout.total_seconds(),
        max_bytes=polling.max_bytes,
        max_redirects=polling.max_redirects,
        concurrency=polling.concurrency,
        per_host=polling.per_host,
    )


def make_fetcher(
    settings: Settings, client: httpx.AsyncClient, *, guard: AddressGuard | None = None
) -> Fetcher:
    """`guard` replaces the SSRF guard's resolver in tests; allow_private_networks drops it."""
    from monitor.adapters.http import Fetcher
    from monitor.adapters.http.guard import AddressGuard

    if settings.polling.allow_private_networks:
        guard = None
    elif guard is None:
        guard = AddressGuard()
    return Fetcher(
        client, fetch_limits(settings), user_agent=settings.polling.user_agent, guard=guard
    )


@asynccontextmanager
async def http_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from monitor.adapters.http import build_client

    async with build_client(fetch_limits(settings)) as client:
        yield client


# A worker's heap only grows with the largest feed it has parsed, so every PARSE_GROWTH_CHECK
# parses the pool's workers are looked at, and the pool is replaced (the old workers gone
# before new ones fork from the forkserver) if one holds more than PARSE_WORKER_MAX_RSS.
# A start costs 0.25-0.3 s of CPU (importing the parser, loading the scoring snapshot):
# replacing the pool every 1,000 parses, grown or not, cost a first poll of 1,200 feeds about
# 1 ms per feed, and in 12,000 parses of the corpus's 4,039 feed files (up to 1.4 MB) two
# workers never held more than 61-73 MB. Where a process's size cannot be read (no /proc),
# the pool is replaced every PARSE_TASKS_PER_POOL parses. See flows/parse_pool.py for why
# not max_tasks_per_child.
PARSE_GROWTH_CHECK = 100
PARSE_WORKER_MAX_RSS = 100 * 2**20
PARSE_TASKS_PER_POOL = 1000


@asynccontextmanager
async def poller(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime] = utc_now,
    client: httpx.AsyncClient | None = None,
    match_articles: MatchesArticles | None = None,
    guard: AddressGuard | None = None,
) -> AsyncIterator[Poller]:
    """A Poller wired from settings; `client` replaces the production HTTP client and `guard`
    the SSRF guard's resolver in tests."""
    from monitor.flows.feeds import configured_feeds
    from monitor.flows.matching import MatchNewArticles
    from monitor.flows.poll import Poller

    can_measure = worker_rss(os.getpid()) is not None
    recycle_after = PARSE_GROWTH_CHECK if can_measure else PARSE_TASKS_PER_POOL
    async with AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(http_client(settings))
        instance = Poller(
            engine=engine,
            fetcher=make_fetcher(settings, client, guard=guard),
            feeds=configured_feeds(settings),
            default_interval=settings.polling.interval,
            lease=settings.polling.lease,
            clock=clock,
            parse_executor=new_parse_executor(settings),
            renew_parse_executor=lambda: new_parse_executor(settings),
            recycle_parse_after=recycle_after if settings.polling.parse_processes else None,
            parse_pool_grown=parse_workers_grown if can_measure else None,
            # Two jobs per worker: one parsing, one ready in its pipe when it finishes.
            parse_in_flight=2 * max(1, settings.polling.parse_processes),
            match_articles=match_articles,
            worker_scoring=(
                match_articles.for_parse_worker
                if isinstance(match_articles, MatchNewArticles)
                else None
            ),
            max_entries=settings.polling.max_entries,
            backlog_feeds=settings.polling.backlog,
            backlog_bytes=settings.polling.backlog_bytes,
            # No more leased at once than can be in progress: the rest stay free for the
            # other workers (PostgreSQL), and a cycle of 100,000 due feeds is not 100,000 tasks.
            claim_batch=settings.polling.backlog,
        )
        stack.callback(instance.close)
        yield instance
