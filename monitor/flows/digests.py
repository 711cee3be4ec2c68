"""Digests and immediate alerts: gather a watchlist's pending matches, let core.digest decide,
record the decision with its outbox rows in one transaction.

- `create_digest(engine, settings, watchlist, now=..., window_end=...)`: the digest of one
  watchlist for one window, created once whoever asks (the scheduler, a catch-up, the CLI).
- `alerts_in_transaction(connection, watchlist, ...)`: alerts for the strong matches a feed's
  transaction has just stored, in that transaction (the transactional outbox), within the
  watchlist's hourly budget; flows/matching.py calls it.
- `preview_digest(engine, watchlist, now=...)`: what the next digest would hold; writes nothing.

A pending match of a story the watchlist was already sent is decided copy or development
(core.digest.updates over core.developments) from the story's history and the window's word
statistics (flows/story_window.py), gathered here; each decision is stored in
story_decisions and logged with the rule that decided.

Two workers creating the same digest serialize on a per-watchlist write lock (an advisory
lock on PostgreSQL, BEGIN IMMEDIATE on SQLite); the second finds the first's digest under its
unique (watchlist, kind, window key) and creates nothing. Sending is flows/outbox.py's job.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from monitor.adapters.db import digest_store
from monitor.adapters.db.digest_store import CreatedDigest
from monitor.adapters.db.transactions import hold_lock, write_transaction
from monitor.adapters.render import utc_iso
from monitor.config import Settings
from monitor.core.developments import WindowTerms
from monitor.core.digest import (
    ALERT_BUDGET_WINDOW,
    Candidate,
    Copy,
    DigestContent,
    DigestPlan,
    alert_window_key,
    plan_alerts,
    plan_digest,
    should_send,
)
from monitor.core.digest.updates import StoryHistory, UpdateDecision
from monitor.core.states import DigestKind, HeldReason
from monitor.flows import story_window

log = logging.getLogger(__name__)

# No story of these alert candidates was delivered before: nothing to weigh words against.
EMPTY_WINDOW = WindowTerms(0, {})


class Addressed(Protocol):
    """Which watchlist a digest or alert is for, and where it goes."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def channels(self) -> Sequence[str]: ...


class DigestPolicy(Addressed, Protocol):
    """The watchlist settings a digest needs (monitor.core.watchlist.Watchlist has them)."""

    @property
    def max_items(self) -> int: ...
    @property
    def send_empty(self) -> bool: ...
    @property
    def repeat_alerts_in_digest(self) -> bool: ...


class AlertPolicy(Addressed, Protocol):
    """The watchlist settings an immediate alert needs."""

    @property
    def alert_threshold(self) -> float | None: ...
    @property
    def max_alerts_per_hour(self) -> int: ...


def known_channels(settings: Settings, watchlist: Addressed) -> list[str]:
    """The watchlist's channels that config.toml defines; the others are logged and skipped."""
    names = []
    for name in watchlist.channels:
        if name in settings.channels:
            names.append(name)
        else:
            log.error(
                "watchlist names channel %r, which config.toml does not define; "
                "`monitor watchlists check` reports it",
                name,
                extra={"watchlist": watchlist.id, "channel": name},
            )
    return names


def window_key(now: datetime, window_end: datetime | None) -> str:
    """Scheduled digests are keyed by their window end, so every worker agrees on it; a
    digest asked for by hand is a window of its own."""
    return utc_iso(window_end) if window_end is not None else f"manual:{utc_iso(now)}"


# ---- digests -----------------------------------------------------------------------------


def create_digest(
    engine: Engine,
    settings: Settings,
    watchlist: DigestPolicy,
    *,
    now: datetime,
    window_end: datetime | None = None,
) -> CreatedDigest:
    """The digest of `watchlist` for the window ending at `window_end` (the scheduled fire
    time), or a manual one when None. Created once: a second call returns the first's."""
    created = record_digest(
        engine,
        watchlist,
        channels=known_channels(settings, watchlist),
        window_key=window_key(now, window_end),
        window_end=window_end or now,
        now=now,
    )
    extra = {"watchlist": watchlist.id, "digest_id": created.digest_id}
    if created.created:
        log.info(
            "digest created: %d stories, %d deliveries",
            created.content.total,
            len(created.delivery_ids),
            extra=extra,
        )
    else:
        log.info("digest for this window exists already", extra=extra)
    return created


def record_digest(
    engine: Engine,
    watchlist: DigestPolicy,
    *,
    channels: Sequence[str],
    window_key: str,
    window_end: datetime,
    now: datetime,
) -> CreatedDigest:
    """Create the digest of `watchlist` for `window_key`, or return the one that exists.

    One transaction: every pending match is assigned to it (shown, "and N more", or recorded
    as a copy of a story delivered before), and one outbox row per channel is added unless
    the digest is empty and the watchlist does not `send_empty`.
    """
    with write_transaction(
        engine, lock=f"watchlist:{watchlist.id}", what="creating a digest"
    ) as connection:
        existing = digest_store.find_digest(connection, watchlist.id, DigestKind.DIGEST, window_key)
        if existing is not None:
            return existing
        content, plan = _plan_digest(connection, watchlist, now=now, window_end=window_end)
        created = digest_store.insert_digest(
            connection,
            content,
            window_key=window_key,
            channels=channels,
            send=should_send(content, send_empty=watchlist.send_empty),
            now=now,
        )
        digest_store.assign_matches(connection, created.digest_id, plan.consumed)
        digest_store.mark_duplicates(connection, plan.duplicates)
        digest_store.record_decisions(connection, plan.decisions, now=now)
        _log_decisions(watchlist.id, plan.decisions, digest_id=created.digest_id)
        return created


def preview_digest(
    engine: Engine, watchlist: DigestPolicy, *, now: datetime, window_end: datetime | None = None
) -> DigestContent:
    """What the watchlist's next digest would hold; changes nothing."""
    with engine.connect() as connection:
        content, _ = _plan_digest(connection, watchlist, now=now, window_end=window_end or now)
        connection.rollback()
    return content


def _log_decisions(
    watchlist_id: str, decisions: Sequence[UpdateDecision], *, digest_id: int | None = None
) -> None:
    """One line per copy-or-development decision: which rule decided, and on what words."""
    for d in decisions:
        log.info(
            "story %d: match %d is a %s (%s: %s)",
            d.story_id,
            d.match_id,
            d.kind.value,
            d.rule.value,
            d.evidence,
            extra={
                "watchlist": watchlist_id,
                "story_id": d.story_id,
                "match_id": d.match_id,
                "decision": d.kind.value,
                "rule": d.rule.value,
                **({"digest_id": digest_id} if digest_id is not None else {}),
            },
        )


def stored_digest(engine: Engine, digest_id: int) -> DigestContent | None:
    """A digest or alert as it was made, with every story (`monitor digest show`)."""
    with engine.connect() as connection:
        return digest_store.stored_digest(connection, digest_id)


def _story_ids(candidates: Sequence[Candidate]) -> set[int]:
    return {c.story_id for c in candidates if c.story_id is not None}


@dataclass(frozen=True, slots=True)
class _StoryContext:
    """What planning reads of the candidates' stories, for plan_digest and plan_alerts."""

    histories: Mapping[int, StoryHistory]
    recent: Sequence[StoryHistory]
    window: WindowTerms
    story_outlets: Mapping[int, Sequence[Copy]]


def _story_context(
    connection: Connection, watchlist_id: str, candidates: Sequence[Candidate], *, now: datetime
) -> _StoryContext:
    """The candidates' delivered stories; the stories sent lately, only when some candidate
    is a new story (it may repeat one: a late copy); and the word statistics, only when some
    decision will weigh words (an update, or a new story that may repeat a recent one or
    another new one)."""
    stories = _story_ids(candidates)
    histories = digest_store.story_histories(connection, watchlist_id, stories)
    new_stories = stories - histories.keys()
    recent = digest_store.recent_histories(connection, watchlist_id, now=now) if new_stories else []
    weighs_words = histories or (new_stories and (recent or len(new_stories) > 1))
    return _StoryContext(
        histories=histories,
        recent=recent,
        window=story_window.window_terms(connection) if weighs_words else EMPTY_WINDOW,
        story_outlets=digest_store.story_outlets(connection, stories),
    )


def _plan_digest(
    connection: Connection, watchlist: DigestPolicy, *, now: datetime, window_end: datetime
) -> tuple[DigestContent, DigestPlan]:
    candidates = digest_store.pending_candidates(connection, watchlist.id)
    context = _story_context(connection, watchlist.id, candidates, now=now)
    plan = plan_digest(
        candidates,
        histories=context.histories,
        window=context.window,
        story_outlets=context.story_outlets,
        max_items=watchlist.max_items,
        repeat_alerts=watchlist.repeat_alerts_in_digest,
        recent=context.recent,
    )
    content = plan.content(
        kind=DigestKind.DIGEST,
        watchlist_id=watchlist.id,
        watchlist_name=watchlist.name,
        generated_at=now,
        window_start=digest_store.last_window_end(connection, watchlist.id),
        window_end=window_end,
    )
    return content, plan


# ---- alerts ------------------------------------------------------------------------------


def alerts_in_transaction(
    connection: Connection,
    watchlist: AlertPolicy,
    *,
    channels: Sequence[str],
    article_ids: Collection[int],
    now: datetime,
) -> list[CreatedDigest]:
    """The transactional outbox: alerts, with their outbox rows, for the strong matches of
    `article_ids`, in the transaction (the feed's) that has just stored those matches. The
    match and its alert commit together or not at all, so a crash between them loses
    nothing and alerts nothing twice."""
    if watchlist.alert_threshold is None or not channels or not article_ids:
        return []
    hold_lock(connection, f"watchlist:{watchlist.id}")
    return _record_alerts(
        connection, watchlist, channels=channels, now=now, article_ids=article_ids
    )


def _record_alerts(
    connection: Connection,
    watchlist: AlertPolicy,
    *,
    channels: Sequence[str],
    now: datetime,
    article_ids: Collection[int],
) -> list[CreatedDigest]:
    """One alert (kind "alert", window_key per story) per story not yet delivered to this
    watchlist, at most `max_alerts_per_hour` in any hour; the rest wait for the digest."""
    threshold = watchlist.alert_threshold
    if threshold is None:
        return []
    candidates = digest_store.pending_alert_candidates(
        connection,
        watchlist.id,
        threshold=threshold,
        article_ids=article_ids,
    )
    if not candidates:
        return []
    context = _story_context(connection, watchlist.id, candidates, now=now)
    plan = plan_alerts(
        candidates,
        alert_threshold=threshold,
        max_per_hour=watchlist.max_alerts_per_hour,
        recent_alerts=digest_store.recent_alert_times(
            connection, watchlist.id, now - ALERT_BUDGET_WINDOW
        ),
        now=now,
        histories=context.histories,
        window=context.window,
        story_outlets=context.story_outlets,
        recent=context.recent,
    )
    digest_store.mark_held(connection, plan.deferred, HeldReason.RATE_LIMITED)
    digest_store.record_decisions(connection, plan.decisions, now=now)
    _log_decisions(watchlist.id, plan.decisions)
    created = []
    for item in plan.alerts:
        key = alert_window_key(item)
        if digest_store.find_digest(connection, watchlist.id, DigestKind.ALERT, key):
            continue
        content = DigestContent(
            kind=DigestKind.ALERT,
            watchlist_id=watchlist.id,
            watchlist_name=watchlist.name,
            generated_at=now,
            window_start=None,
            window_end=now,
            items=(item,),
            total=1,
        )
        alert = digest_store.insert_digest(
            connection, content, window_key=key, channels=channels, send=True, now=now
        )
        digest_store.mark_alerted(connection, item.match_id, alert.digest_id)
        created.append(alert)
    return created
