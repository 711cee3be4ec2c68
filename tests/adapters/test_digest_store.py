"""The digest store on SQLite and PostgreSQL: digests and alerts created once, every match in
exactly one digest, the story rule, and the outbox with leases, backoff and dead letters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from delivery_fixtures import (
    Rows,
    alert_matches,
    delivery_rows,
    digest_rows,
    match_rows,
    watchlist,
)
from sqlalchemy import Engine

from monitor.adapters.db import outbox_store
from monitor.adapters.db.digest_store import CreatedDigest
from monitor.adapters.db.outbox_store import STALE_ATTEMPT_ERROR
from monitor.adapters.db.schema import DeliveryStatus, DigestKind
from monitor.adapters.db.transactions import write_transaction
from monitor.core.watchlist import Watchlist
from monitor.flows import digests

LEASE = timedelta(minutes=2)


def in_tx(engine: Engine, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an outbox store function inside one write transaction, as flows/outbox.py does."""
    with write_transaction(engine) as connection:
        return function(connection, *args, **kwargs)


def create(
    engine: Engine,
    wl: Watchlist,
    now: datetime,
    key: str = "w1",
    channels: tuple[str, ...] = ("mail", "hook"),
) -> CreatedDigest:
    return digests.record_digest(
        engine, wl, channels=channels, window_key=key, window_end=now, now=now
    )


def claim(engine: Engine, now: datetime, owner: str = "worker-a", **options: Any) -> list[Any]:
    return in_tx(
        engine,
        outbox_store.claim_due,
        now=now,
        owner=owner,
        lease=LEASE,
        max_attempts=options.pop("max_attempts", 3),
        **options,
    )


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; return results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


# ---- digests ------------------------------------------------------------------------------


def test_every_match_lands_in_exactly_one_digest(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    wl = watchlist()
    first = [rows.match("s400", "ap", score=5.0 + i) for i in range(3)]
    other = rows.match("caatsa", "ap")
    d1 = create(engine, wl, now, key="w1")
    later = [rows.match("s400", "dw", score=6.0) for _ in range(2)]
    d2 = create(engine, wl, now + timedelta(hours=1), key="w2")
    assigned = match_rows(engine)
    assert {m: assigned[m].digest_id for m in first} == dict.fromkeys(first, d1.digest_id)
    assert {m: assigned[m].digest_id for m in later} == dict.fromkeys(later, d2.digest_id)
    assert assigned[other].digest_id is None  # other watchlists are untouched
    assert [i.match_id for i in d1.content.items] == [first[2], first[1], first[0]]
    assert d2.content.window_start == now
    assert len(d1.delivery_ids) == 2
    outbox = delivery_rows(engine)
    assert {(r.digest_id, r.channel) for r in outbox} == {
        (d1.digest_id, "mail"),
        (d1.digest_id, "hook"),
        (d2.digest_id, "mail"),
        (d2.digest_id, "hook"),
    }
    assert all(r.status == "pending" and r.next_attempt_at == now for r in outbox[:2])
    assert len({r.idempotency_key for r in outbox}) == 4


def test_the_same_window_is_created_once(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    rows.match("s400", "ap")
    first = create(engine, watchlist(), now)
    rows.match("s400", "ap")
    again = create(engine, watchlist(), now + timedelta(minutes=5))
    assert (again.digest_id, again.created) == (first.digest_id, False)
    assert again.content == first.content
    assert again.delivery_ids == first.delivery_ids
    assert len(digest_rows(engine)) == 1
    assert sum(m.digest_id is None for m in match_rows(engine).values()) == 1


def test_two_concurrent_creators_make_one_digest(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    for i in range(20):
        rows.match("s400", "ap", score=5.0 + i)
    results = run_together(*(lambda: create(engine, watchlist(), now) for _ in range(3)))
    assert len({r.digest_id for r in results}) == 1
    assert sorted(r.created for r in results) == [False, False, True]
    assert len(digest_rows(engine)) == 1
    assert len(delivery_rows(engine)) == 2


def test_concurrent_digests_of_different_windows_never_share_a_match(
    engine: Engine, now: datetime
) -> None:
    rows = Rows(engine, now)
    ids = {rows.match("s400", "ap", score=5.0 + i) for i in range(30)}
    results = run_together(
        lambda: create(engine, watchlist(), now, key="a"),
        lambda: create(engine, watchlist(), now, key="b"),
    )
    shown = [set(i.match_id for i in r.content.items) for r in results]
    assert not shown[0] & shown[1]
    assert sum(r.content.total for r in results) == 30
    assigned = match_rows(engine)
    assert set(assigned) == ids and all(m.digest_id is not None for m in assigned.values())


def test_empty_digests_close_the_window_but_send_only_on_request(
    engine: Engine, now: datetime
) -> None:
    quiet = create(engine, watchlist(), now, key="a")
    assert (quiet.content.total, quiet.delivery_ids) == (0, ())
    loud = create(engine, watchlist(send_empty=True), now, key="b")
    assert len(loud.delivery_ids) == 2
    assert len(digest_rows(engine)) == 2


def test_a_story_counts_once_and_later_copies_are_not_delivered_again(
    engine: Engine, now: datetime
) -> None:
    rows = Rows(engine, now)
    story = rows.story("S-400 batch arrives")
    rows.article("bbc", story_id=story)  # carried the story, did not match
    ap = rows.match("s400", "ap", score=8.0, story_id=story)
    dw = rows.match("s400", "dw", score=9.0, story_id=story)
    d1 = create(engine, watchlist(), now, key="a")
    assert [i.match_id for i in d1.content.items] == [dw]
    assert d1.content.items[0].also_reported_by == ("ap", "bbc")
    late = rows.match("s400", "reuters", score=15.0, story_id=story)
    fresh = rows.match("s400", "ap", score=5.0)
    d2 = create(engine, watchlist(), now + timedelta(hours=1), key="b")
    assert [i.match_id for i in d2.content.items] == [fresh]
    assigned = match_rows(engine)
    assert assigned[ap].duplicate_of_match_id == dw
    assert assigned[dw].duplicate_of_match_id is None
    assert assigned[late].duplicate_of_match_id == dw  # recorded as also-reported-by
    assert assigned[late].digest_id == d2.digest_id  # taken, so never pending again


def test_the_story_rule_is_per_watchlist(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    story = rows.story()
    rows.match("s400", "ap", story_id=story)
    create(engine, watchlist(), now, key="a")
    other = rows.match("idlib", "dw", story_id=story)
    d = create(engine, watchlist("idlib"), now, key="a")
    assert [i.match_id for i in d.content.items] == [other]


def test_preview_changes_nothing(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    rows.match("s400", "ap")
    content = digests.preview_digest(engine, watchlist(), now=now)
    assert content.total == 1
    assert digest_rows(engine) == []
    assert all(m.digest_id is None for m in match_rows(engine).values())


# ---- alerts -------------------------------------------------------------------------------


def alert(engine: Engine, wl: Watchlist, now: datetime, *match_ids: int) -> list[CreatedDigest]:
    """Alerts as the feed's transaction that stored `match_ids` makes them."""
    return alert_matches(engine, wl, match_ids, now=now)


def test_strong_matches_are_alerted_once_per_story(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    story = rows.story()
    a = rows.match("s400", "ap", score=13.0, story_id=story)
    b = rows.match("s400", "dw", score=14.0, story_id=story)
    weak = rows.match("s400", "dw", score=9.0)
    old = rows.match("s400", "dw", score=20.0, matched_at=now - timedelta(hours=2))
    wl = watchlist(alert_threshold=12.0)
    # `old` was stored (and not alerted) by an earlier feed transaction.
    created = alert(engine, wl, now, a, b, weak)
    assert [c.content.items[0].match_id for c in created] == [b]
    assert created[0].content.kind is DigestKind.ALERT
    assert alert(engine, wl, now, a, b, weak) == []  # the story is delivered; nothing twice
    assigned = match_rows(engine)
    assert assigned[b].alert_digest_id == created[0].digest_id
    assert {assigned[m].alert_digest_id for m in (a, weak, old)} == {None}
    digest = create(engine, wl, now + timedelta(hours=1))
    assert [i.match_id for i in digest.content.items] == [old, weak]  # alerted story not repeated
    assert match_rows(engine)[a].duplicate_of_match_id == b


def test_alerted_stories_repeat_in_the_digest_on_request(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    strong = rows.match("s400", "ap", score=13.0)
    wl = watchlist(alert_threshold=12.0, repeat_alerts_in_digest=True)
    assert len(alert(engine, wl, now, strong)) == 1
    digest = create(engine, wl, now)
    assert [i.match_id for i in digest.content.items] == [strong]


def test_the_hourly_alert_budget_holds_across_cycles(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    wl = watchlist(alert_threshold=10.0, max_alerts_per_hour=3)
    first = [rows.match("s400", "ap", score=11.0 + i) for i in range(2)]
    assert len(alert(engine, wl, now, *first)) == 2
    later = now + timedelta(minutes=20)
    second = [rows.match("s400", "dw", score=11.0 + i, matched_at=later) for i in range(3)]
    assert len(alert(engine, wl, later, *second)) == 1  # 2 + 1 = the budget
    next_hour = now + timedelta(minutes=61)
    third = rows.match("s400", "bbc", score=30.0, matched_at=next_hour)
    assert len(alert(engine, wl, next_hour, third)) == 1


# ---- the outbox ---------------------------------------------------------------------------


def test_claims_hold_a_lease_until_it_expires(engine: Engine, now: datetime) -> None:
    Rows(engine, now).match("s400", "ap")
    created = create(engine, watchlist(), now)
    claimed = claim(engine, now, "worker-a")
    assert sorted(c.id for c in claimed) == sorted(created.delivery_ids)
    assert all(c.attempts == 1 and c.content == created.content for c in claimed)
    assert claim(engine, now + timedelta(seconds=30), "worker-b") == []
    again = claim(engine, now + LEASE, "worker-b")  # worker-a died: its lease expired
    assert sorted(c.id for c in again) == sorted(created.delivery_ids)
    assert all(c.attempts == 2 for c in again)
    assert {r.lease_owner for r in delivery_rows(engine)} == {"worker-b"}


def test_concurrent_claimers_never_get_the_same_row(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    for key in range(10):
        rows.match("s400", "ap")
        create(engine, watchlist(), now, key=str(key))
    results = run_together(
        *(lambda i=i: claim(engine, now, f"w{i}", limit=7) for i in range(4))  # type: ignore[misc]
    )
    ids = [c.id for result in results for c in result]
    assert len(ids) == len(set(ids)) == 20


def test_claims_can_be_limited_to_digests_or_rows(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    rows.match("s400", "ap")
    first = create(engine, watchlist(), now, key="a")
    rows.match("s400", "ap")
    second = create(engine, watchlist(), now, key="b")
    assert {c.digest_id for c in claim(engine, now, digest_ids=[second.digest_id])} == {
        second.digest_id
    }
    only = first.delivery_ids[0]
    assert [c.id for c in claim(engine, now, delivery_ids=[only])] == [only]


def test_delivered_rows_are_not_claimed_again(engine: Engine, now: datetime) -> None:
    Rows(engine, now).match("s400", "ap")
    create(engine, watchlist(), now)
    for row in claim(engine, now):
        assert in_tx(engine, outbox_store.mark_delivered, row.id, now=now)
        assert not in_tx(engine, outbox_store.mark_delivered, row.id, now=now)
    assert claim(engine, now + timedelta(days=1)) == []
    assert {(r.status, r.delivered_at) for r in delivery_rows(engine)} == {("delivered", now)}


def test_failures_back_off_then_dead_letter_keeping_the_error(
    engine: Engine, now: datetime
) -> None:
    Rows(engine, now).match("s400", "ap")
    create(engine, watchlist(), now, channels=("hook",))
    clock = now
    statuses = []
    for attempt in range(1, 4):
        (row,) = claim(engine, clock, max_attempts=3)
        assert row.attempts == attempt
        status = in_tx(
            engine,
            outbox_store.record_failure,
            row.id,
            owner="worker-a",
            now=clock,
            error=f"503 on attempt {attempt}",
            permanent=False,
            max_attempts=3,
            delay=timedelta(seconds=10 * attempt),
        )
        statuses.append(status)
        (stored,) = delivery_rows(engine)
        if status is DeliveryStatus.PENDING:
            assert stored.next_attempt_at == clock + timedelta(seconds=10 * attempt)
            assert claim(engine, clock + timedelta(seconds=1)) == []  # backing off
            clock = stored.next_attempt_at
    assert statuses == [DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.DEAD]
    (dead,) = delivery_rows(engine)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "503 on attempt 3")
    assert dead.lease_owner is None
    assert claim(engine, clock + timedelta(days=30)) == []  # dead rows stay put, visible
    listed = in_tx(engine, outbox_store.list_deliveries)
    assert [(r.status, r.last_error, r.next_attempt_at) for r in listed] == [
        ("dead", "503 on attempt 3", None)
    ]


def test_permanent_failures_dead_letter_at_once_and_lost_leases_change_nothing(
    engine: Engine, now: datetime
) -> None:
    Rows(engine, now).match("s400", "ap")
    create(engine, watchlist(), now)
    first, second = claim(engine, now)
    options: dict[str, Any] = {"now": now, "max_attempts": 8, "delay": timedelta(seconds=5)}
    assert (
        in_tx(
            engine,
            outbox_store.record_failure,
            first.id,
            owner="worker-a",
            error="404",
            permanent=True,
            **options,
        )
        is DeliveryStatus.DEAD
    )
    assert (
        in_tx(
            engine,
            outbox_store.record_failure,
            second.id,
            owner="someone-else",
            error="x",
            permanent=False,
            **options,
        )
        is None
    )
    rows = {r.id: r for r in delivery_rows(engine)}
    assert (rows[first.id].status, rows[first.id].last_error) == ("dead", "404")
    assert (rows[second.id].status, rows[second.id].lease_owner) == ("pending", "worker-a")


def test_a_worker_dying_in_the_last_attempt_dead_letters_the_row(
    engine: Engine, now: datetime
) -> None:
    Rows(engine, now).match("s400", "ap")
    create(engine, watchlist(), now, channels=("hook",))
    for attempt in range(3):
        assert len(claim(engine, now + LEASE * attempt, max_attempts=3)) == 1  # and dies
    assert claim(engine, now + LEASE * 3, max_attempts=3) == []
    (row,) = delivery_rows(engine)
    assert (row.status, row.last_error) == ("dead", STALE_ATTEMPT_ERROR)


def test_retry_makes_pending_and_dead_rows_due_now(engine: Engine, now: datetime) -> None:
    rows = Rows(engine, now)
    for key in "abc":
        rows.match("s400", "ap")
        create(engine, watchlist(), now, key=key, channels=("hook",))
    dead, backing_off, delivered = (r.id for r in claim(engine, now, max_attempts=8))
    options: dict[str, Any] = {"owner": "worker-a", "now": now, "max_attempts": 8}
    in_tx(
        engine,
        outbox_store.record_failure,
        dead,
        error="410",
        permanent=True,
        delay=timedelta(0),
        **options,
    )
    in_tx(
        engine,
        outbox_store.record_failure,
        backing_off,
        error="503",
        permanent=False,
        delay=timedelta(hours=1),
        **options,
    )
    in_tx(engine, outbox_store.mark_delivered, delivered, now=now)
    later = now + timedelta(minutes=1)
    result = in_tx(
        engine, outbox_store.schedule_retry, ids=[dead, backing_off, delivered, 999], now=later
    )
    assert result.scheduled == (dead, backing_off)
    assert (result.delivered, result.missing, result.in_flight) == ((delivered,), (999,), ())
    again = claim(engine, later, max_attempts=8)
    assert sorted(r.id for r in again) == [dead, backing_off]
    assert {r.id: r.attempts for r in again} == {dead: 2, backing_off: 2}  # attempts are kept
    in_flight = in_tx(engine, outbox_store.schedule_retry, ids=None, now=later)
    assert in_flight.in_flight == (dead, backing_off) and in_flight.scheduled == ()


def test_retry_all_leaves_delivered_rows_alone(engine: Engine, now: datetime) -> None:
    Rows(engine, now).match("s400", "ap")
    created = create(engine, watchlist(), now)
    in_tx(engine, outbox_store.mark_delivered, created.delivery_ids[0], now=now)
    result = in_tx(engine, outbox_store.schedule_retry, ids=None, now=now)
    assert result.scheduled == (created.delivery_ids[1],)


@pytest.mark.parametrize("statuses", [None, ["pending"], ["dead"]])
def test_listing_filters_by_status(
    engine: Engine, now: datetime, statuses: list[str] | None
) -> None:
    Rows(engine, now).match("s400", "ap")
    create(engine, watchlist(), now)
    listed = in_tx(engine, outbox_store.list_deliveries, statuses=statuses)
    assert len(listed) == (0 if statuses == ["dead"] else 2)
    assert all(r.watchlist_id == "s400" and r.kind == "digest" for r in listed)
