"""Unit tests of the polling policy (monitor/core/polling.py): fixed clocks, no sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.db.schema import FeedState
from monitor.core.polling import (
    DEFAULT_POLICY,
    GONE_REASON,
    PollingPolicy,
    PollOutcome,
    classify,
    decide_next_poll,
    expires_in,
    max_age,
    parse_http_date,
    retry_after,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


@dataclass(frozen=True)
class Case:
    name: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    ttl: int | None = None
    failures: int = 0
    jitter: float = 0.0
    error: str | None = None
    # expected
    state: FeedState = FeedState.ACTIVE
    consecutive_failures: int = 0
    wait: timedelta | None = INTERVAL
    reason: str | None = None  # a substring of the reason of a failing or stopped feed


CASES = [
    # success: the interval, or longer when the response says it stays fresh longer
    Case("200 plain", 200),
    Case("304 is a success and resets failures", 304, failures=3),
    Case("200 max-age longer than interval", 200, {"cache-control": "public, max-age=3600"},
         wait=HOUR),
    Case("200 max-age shorter than interval", 200, {"cache-control": "max-age=60"}),
    Case("max-age minus Age", 200, {"cache-control": "max-age=3600", "age": "600"},
         wait=50 * MINUTE),
    Case("max-age quoted, upper case", 200, {"Cache-Control": 'MAX-AGE="7200"'}, wait=2 * HOUR),
    Case("first max-age wins", 200, {"cache-control": "max-age=3600, max-age=60"}, wait=HOUR),
    Case("max-age capped at a day", 200, {"cache-control": "max-age=31536000"},
         wait=24 * HOUR),
    Case("max-age overrides Expires", 200,
         {"cache-control": "max-age=1800", "expires": http_date(NOW + 5 * HOUR)},
         wait=30 * MINUTE),
    Case("Expires", 200, {"expires": http_date(NOW + 2 * HOUR)}, wait=2 * HOUR),
    Case("Expires measured from Date, not our clock", 200,
         {"date": http_date(NOW - 3 * HOUR), "expires": http_date(NOW - HOUR)}, wait=2 * HOUR),
    Case("Expires in 2099 capped at a day", 200, {"expires": "Thu, 01 Jan 2099 00:00:00 GMT"},
         wait=24 * HOUR),
    Case("invalid Expires means stale", 200, {"expires": "0"}),
    Case("Expires in the past", 200, {"expires": http_date(NOW - HOUR)}),
    Case("RSS ttl", 200, ttl=3600, wait=HOUR),
    Case("RSS ttl capped at a day", 200, ttl=10**12, wait=24 * HOUR),
    Case("longest hint wins: ttl over max-age", 200, {"cache-control": "max-age=3600"},
         ttl=7200, wait=2 * HOUR),
    Case("304 with max-age", 304, {"cache-control": "max-age=3600"}, failures=2, wait=HOUR),
    # throttled: no sooner than Retry-After, and it counts as a failure
    Case("429 Retry-After seconds", 429, {"retry-after": "7200"},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=2 * HOUR,
         reason="HTTP 429 Too Many Requests; the server asked us to wait 2h"),
    Case("429 Retry-After HTTP-date", 429, {"retry-after": http_date(NOW + 3 * HOUR)},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=3 * HOUR, reason="wait 3h"),
    Case("503 Retry-After seconds", 503, {"retry-after": "3600"}, failures=1,
         state=FeedState.BACKOFF, consecutive_failures=2, wait=HOUR,
         reason="HTTP 503 Service Unavailable; the server asked us to wait 60m"),
    Case("503 Retry-After HTTP-date", 503, {"retry-after": http_date(NOW + 90 * MINUTE)},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=90 * MINUTE, reason="wait 90m"),
    Case("503 Retry-After obsolete asctime date", 503, {"retry-after": "Wed May  1 14:00:00 2024"},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=2 * HOUR),
    Case("Retry-After shorter than the backoff: the backoff wins", 429, {"retry-after": "10"},
         failures=3, state=FeedState.BACKOFF, consecutive_failures=4, wait=HOUR),
    Case("Retry-After capped at a day", 429, {"retry-after": "99999999999999999999"},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=24 * HOUR,
         reason="(capped at 24h)"),
    Case("Retry-After date in the past: backoff", 429, {"retry-after": http_date(NOW - HOUR)},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=INTERVAL / 2),
    Case("Retry-After garbage: backoff", 503, {"retry-after": "soon"},
         state=FeedState.BACKOFF, consecutive_failures=1, wait=INTERVAL / 2,
         reason="HTTP 503 Service Unavailable"),
    Case("429 without Retry-After: backoff", 429, state=FeedState.BACKOFF,
         consecutive_failures=1, wait=INTERVAL / 2),
    # gone for good
    Case("410 stops the feed", 410, failures=2, state=FeedState.STOPPED, consecutive_failures=3,
         wait=None, reason=GONE_REASON),
    # other errors: backoff with a reason a user can act on
    Case("404 backs off", 404, state=FeedState.BACKOFF, consecutive_failures=1,
         wait=INTERVAL / 2, reason="HTTP 404 Not Found: the feed URL may have changed"),
    Case("403 backs off", 403, state=FeedState.BACKOFF, consecutive_failures=1,
         wait=INTERVAL / 2, reason="HTTP 403 Forbidden: the server refuses us"),
    Case("500 backs off", 500, failures=1, jitter=0.5, state=FeedState.BACKOFF,
         consecutive_failures=2, wait=30 * MINUTE * 0.75, reason="HTTP 500 Internal Server Error"),
    Case("a status with no name", 599, state=FeedState.BACKOFF, consecutive_failures=1,
         wait=INTERVAL / 2, reason="HTTP 599"),
    Case("3xx without Location", 301, state=FeedState.BACKOFF, consecutive_failures=1,
         wait=INTERVAL / 2, reason="a redirect without a Location header"),
    Case("transport error keeps its message", None, error="timed out after 30s fetching x",
         state=FeedState.BACKOFF, consecutive_failures=1, wait=INTERVAL / 2,
         reason="timed out after 30s fetching x"),
    Case("transport error also ignores cache hints", None,
         {"cache-control": "max-age=86400"}, error="boom", failures=4,
         state=FeedState.BACKOFF, consecutive_failures=5, wait=2 * HOUR),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_decide_next_poll(case: Case) -> None:
    decision = decide_next_poll(
        status=case.status,
        headers=case.headers,
        ttl=case.ttl,
        interval=INTERVAL,
        failures=case.failures,
        now=NOW,
        jitter=case.jitter,
        error=case.error,
    )
    assert decision.state is case.state
    assert decision.consecutive_failures == case.consecutive_failures
    assert decision.next_poll_at == (None if case.wait is None else NOW + case.wait)
    if case.state is FeedState.ACTIVE:
        assert decision.reason is None
    else:
        assert decision.reason
        assert (case.reason or "") in decision.reason
    assert decision.outcome is classify(case.status)


# failures before the poll -> the exponential step after it (interval 15m, cap 6h)
BACKOFF_STEPS = [
    (0, 15 * MINUTE),
    (1, 30 * MINUTE),
    (2, HOUR),
    (3, 2 * HOUR),
    (4, 4 * HOUR),
    (5, 6 * HOUR),  # 8h, capped
    (6, 6 * HOUR),
    (50, 6 * HOUR),
    (100_000, 6 * HOUR),
]


@pytest.mark.parametrize(("failures", "step"), BACKOFF_STEPS)
@pytest.mark.parametrize("jitter", [0.0, 0.25, 0.999999])
def test_backoff_grows_then_stays_at_the_cap(failures: int, step: timedelta, jitter: float) -> None:
    decision = decide_next_poll(
        status=500, headers={}, ttl=None, interval=INTERVAL, failures=failures, now=NOW,
        jitter=jitter,
    )  # fmt: skip
    assert decision.state is FeedState.BACKOFF
    assert decision.consecutive_failures == failures + 1
    assert decision.next_poll_at == NOW + step * (0.5 + 0.5 * jitter)
    # jitter spreads the wait over [half the step, the step)
    assert NOW + step / 2 <= decision.next_poll_at < NOW + step


def test_a_feed_slower_than_the_cap_backs_off_to_its_interval() -> None:
    interval = 12 * HOUR
    first = decide_next_poll(
        status=500, headers={}, ttl=None, interval=interval, failures=0, now=NOW, jitter=0.0
    )
    later = decide_next_poll(
        status=500, headers={}, ttl=None, interval=interval, failures=40, now=NOW, jitter=0.0
    )
    assert first.next_poll_at == NOW + 6 * HOUR
    assert later.next_poll_at == NOW + 6 * HOUR  # half of the 12h cap, at jitter 0


def test_a_failing_feed_is_never_dropped() -> None:
    failures = 0
    for _ in range(500):
        decision = decide_next_poll(
            status=None, headers={}, ttl=None, interval=INTERVAL, failures=failures, now=NOW,
            jitter=0.9, error="could not resolve host example.invalid",
        )  # fmt: skip
        assert decision.state is FeedState.BACKOFF
        assert decision.next_poll_at is not None
        assert decision.next_poll_at <= NOW + DEFAULT_POLICY.backoff_cap
        failures = decision.consecutive_failures
    assert failures == 500


def test_policy_caps_are_configurable() -> None:
    policy = PollingPolicy(hint_cap=2 * HOUR, retry_after_cap=HOUR, backoff_cap=30 * MINUTE)
    fresh = decide_next_poll(
        status=200, headers={"cache-control": "max-age=86400"}, ttl=None, interval=INTERVAL,
        failures=0, now=NOW, jitter=0.0, policy=policy,
    )  # fmt: skip
    throttled = decide_next_poll(
        status=429, headers={"retry-after": "86400"}, ttl=None, interval=INTERVAL,
        failures=0, now=NOW, jitter=0.0, policy=policy,
    )  # fmt: skip
    failing = decide_next_poll(
        status=502, headers={}, ttl=None, interval=INTERVAL, failures=9, now=NOW,
        jitter=0.0, policy=policy,
    )  # fmt: skip
    assert fresh.next_poll_at == NOW + 2 * HOUR
    assert throttled.next_poll_at == NOW + HOUR
    assert failing.next_poll_at == NOW + 15 * MINUTE


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (None, PollOutcome.TRANSPORT_ERROR),
        (200, PollOutcome.FETCHED),
        (203, PollOutcome.FETCHED),
        (304, PollOutcome.NOT_MODIFIED),
        (301, PollOutcome.HTTP_ERROR),
        (404, PollOutcome.HTTP_ERROR),
        (410, PollOutcome.GONE),
        (429, PollOutcome.THROTTLED),
        (503, PollOutcome.THROTTLED),
        (500, PollOutcome.HTTP_ERROR),
    ],
)
def test_classify(status: int | None, outcome: PollOutcome) -> None:
    assert classify(status) is outcome
    assert outcome.succeeded == (outcome in (PollOutcome.FETCHED, PollOutcome.NOT_MODIFIED))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Wed, 01 May 2024 12:00:00 GMT", NOW),  # IMF-fixdate
        ("Wednesday, 01-May-24 12:00:00 GMT", NOW),  # RFC 850
        ("Wed May  1 12:00:00 2024", NOW),  # asctime
        ("Wed, 01 May 2024 14:00:00 +0200", NOW),  # not HTTP, but seen in the wild
        ("", None),
        ("tomorrow", None),
        ("Wed, 01 May 10000 12:00:00 GMT", None),
    ],
)
def test_parse_http_date(value: str, expected: datetime | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "120"}, 2 * MINUTE),
        ({"retry-after": " 0 "}, timedelta(0)),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "1.5"}, None),
        ({"retry-after": "１２"}, None),  # full-width digits are not delta-seconds
        ({"Retry-After": http_date(NOW + HOUR)}, HOUR),
        ({"retry-after": http_date(NOW - HOUR)}, timedelta(0)),
        ({"retry-after": "10" * 40}, timedelta(days=3650)),  # bounded, no OverflowError
    ],
)
def test_retry_after(headers: dict[str, str], expected: timedelta | None) -> None:
    assert retry_after(headers, NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"cache-control": "no-cache"}, None),
        ({"cache-control": "max-age=0"}, timedelta(0)),
        ({"cache-control": "private,max-age=300"}, 5 * MINUTE),
        ({"cache-control": "s-maxage=900"}, None),  # for shared caches; we are not one
        ({"cache-control": "max-age=abc"}, None),
        ({"cache-control": "max-age=60", "age": "600"}, timedelta(0)),
    ],
)
def test_max_age(headers: dict[str, str], expected: timedelta | None) -> None:
    assert max_age(headers) == expected


def test_expires_without_date_is_measured_from_now() -> None:
    assert expires_in({"expires": http_date(NOW + HOUR)}, NOW) == HOUR
    assert expires_in({}, NOW) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interval": timedelta(0)}, "interval must be a positive duration"),
        ({"failures": -1}, "failures must be >= 0"),
        ({"now": datetime(2024, 5, 1, 12, 0)}, "now must be an aware datetime"),
        ({"jitter": 1.0}, r"jitter must be in \[0, 1\)"),
    ],
)
def test_bad_inputs_are_refused(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "status": 200, "headers": {}, "ttl": None, "interval": INTERVAL, "failures": 0,
        "now": NOW, "jitter": 0.0,
    }  # fmt: skip
    with pytest.raises(ValueError, match=message):
        decide_next_poll(**{**arguments, **changes})  # type: ignore[arg-type]


def test_policy_refuses_a_zero_cap() -> None:
    with pytest.raises(ValueError, match="hint_cap must be a positive duration"):
        PollingPolicy(hint_cap=timedelta(0))


# --- properties ------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
header_values = {
    "cache-control": st.one_of(
        st.integers(-10, 10**30).map(lambda n: f"max-age={n}"), st.text(max_size=30)
    ),
    "age": st.one_of(st.integers(0, 10**30).map(str), st.text(max_size=10)),
    "expires": st.one_of(moments.map(http_date), st.text(max_size=30)),
    "date": st.one_of(moments.map(http_date), st.text(max_size=30)),
    "retry-after": st.one_of(
        st.integers(0, 10**30).map(str), moments.map(http_date), st.text(max_size=30)
    ),
}
headers_strategy = st.fixed_dictionaries({}, optional=header_values)
statuses = st.one_of(st.none(), st.sampled_from([200, 304, 301, 404, 410, 429, 500, 503]),
                     st.integers(100, 599))  # fmt: skip


@settings(database=None, max_examples=300)
@given(
    status=statuses,
    headers=headers_strategy,
    ttl=st.one_of(st.none(), st.integers(-100, 10**30)),
    interval=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
    failures=st.integers(0, 10**9),
    now=moments,
    jitter=st.floats(0.0, 1.0, exclude_max=True),
)
def test_every_decision_schedules_a_bounded_future_poll_unless_gone(
    status: int | None,
    headers: dict[str, str],
    ttl: int | None,
    interval: timedelta,
    failures: int,
    now: datetime,
    jitter: float,
) -> None:
    decision = decide_next_poll(
        status=status, headers=headers, ttl=ttl, interval=interval, failures=failures,
        now=now, jitter=jitter, error="boom",
    )  # fmt: skip
    policy = DEFAULT_POLICY
    if status == 410:
        assert decision.state is FeedState.STOPPED
        assert decision.next_poll_at is None
        return
    assert decision.next_poll_at is not None
    assert decision.next_poll_at > now
    if decision.outcome.succeeded:
        assert decision.state is FeedState.ACTIVE
        assert decision.consecutive_failures == 0
        assert decision.reason is None
        assert now + interval <= decision.next_poll_at <= now + max(interval, policy.hint_cap)
    else:
        assert decision.state is FeedState.BACKOFF
        assert decision.consecutive_failures == failures + 1
        assert decision.reason
        longest = max(interval, policy.backoff_cap, policy.retry_after_cap)
        assert decision.next_poll_at <= now + longest
