"""The polling policy: when to poll a feed next, given what its last poll returned.

Pure: no network, no clock, no database. The caller passes the response's status and headers,
the feed's settings, its failure count, `now` and a random draw; the policy returns a
`PollDecision`. It never drops a feed that fails: only 410 Gone stops one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from monitor.core.backoff import backoff_delay
from monitor.core.states import FeedState

# Header values are bounded before they become timedeltas: "max-age=99999999999999" must not
# overflow. The policy's caps below are far tighter; this only keeps arithmetic finite.
_LONGEST_HINT = timedelta(days=3650)
_LONGEST_HINT_SECONDS = int(_LONGEST_HINT.total_seconds())
_ZERO = timedelta(0)

GONE_REASON = "410 Gone: the publisher removed this feed"


class PollOutcome(enum.Enum):
    """What one poll amounted to, as far as scheduling is concerned."""

    FETCHED = "fetched"  # 2xx: a body to parse
    NOT_MODIFIED = "not_modified"  # 304: nothing new; as healthy as a 200
    THROTTLED = "throttled"  # 429 or 503: the server asked us to slow down
    GONE = "gone"  # 410: the feed is gone for good
    HTTP_ERROR = "http_error"  # any other status: 404, 403, 500, an unfollowed 3xx...
    TRANSPORT_ERROR = "transport_error"  # no HTTP answer: timeout, DNS, TLS, size limit...

    @property
    def succeeded(self) -> bool:
        return self in (PollOutcome.FETCHED, PollOutcome.NOT_MODIFIED)


def classify(status: int | None) -> PollOutcome:
    """The outcome of a poll that got `status`, or no answer at all (None)."""
    if status is None:
        return PollOutcome.TRANSPORT_ERROR
    if status == 304:
        return PollOutcome.NOT_MODIFIED
    if 200 <= status < 300:
        return PollOutcome.FETCHED
    if status in (429, 503):
        return PollOutcome.THROTTLED
    if status == 410:
        return PollOutcome.GONE
    return PollOutcome.HTTP_ERROR


@dataclass(frozen=True, slots=True)
class PollingPolicy:
    """The tunable limits of the policy; the defaults are what monitor ships."""

    # Slowest retry cadence of a failing feed (or its interval, if that is longer).
    backoff_cap: timedelta = timedelta(hours=6)
    # Cap on max-age, Expires and <ttl>: a bogus "Expires: 2099" or "max-age=31536000" must
    # not silence a feed for years. A day is long enough for any real feed's caching.
    hint_cap: timedelta = timedelta(hours=24)
    # Cap on Retry-After, for the same reason: a server asking for a month gets a day.
    retry_after_cap: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        for name in ("backoff_cap", "hint_cap", "retry_after_cap"):
            value: timedelta = getattr(self, name)
            if value <= _ZERO:
                raise ValueError(f"{name} must be a positive duration, got {value}")


DEFAULT_POLICY = PollingPolicy()


@dataclass(frozen=True, slots=True)
class PollDecision:
    """What to record on the feed after one poll."""

    outcome: PollOutcome
    state: FeedState
    consecutive_failures: int
    next_poll_at: datetime | None  # None only when the feed is STOPPED
    reason: str | None  # why the feed is failing or stopped; None when healthy


def decide_next_poll(
    *,
    status: int | None,
    headers: Mapping[str, str],
    ttl: int | None,
    interval: timedelta,
    failures: int,
    now: datetime,
    jitter: float,
    error: str | None = None,
    policy: PollingPolicy = DEFAULT_POLICY,
) -> PollDecision:
    """Decide the feed's state and next poll after a poll that ended at `now`.

    `status` is the final HTTP status, or None when no answer came (then `error` says why).
    `headers` are the final response's headers, `ttl` the feed's RSS <ttl> in seconds,
    `failures` the consecutive failures before this poll, and `jitter` a draw from [0, 1).
    """
    _check_inputs(interval=interval, failures=failures, now=now, jitter=jitter)
    outcome = classify(status)
    if outcome.succeeded:
        wait = max(interval, _freshness_hint(headers, ttl, now, policy.hint_cap))
        return PollDecision(outcome, FeedState.ACTIVE, 0, now + wait, None)
    if outcome is PollOutcome.GONE:
        return PollDecision(outcome, FeedState.STOPPED, failures + 1, None, GONE_REASON)
    failures += 1
    wait = _backoff(interval, failures, jitter, policy)
    reason = _failure_reason(status, headers, error)
    if outcome is PollOutcome.THROTTLED and (asked := retry_after(headers, now)) is not None:
        wait = max(wait, min(asked, policy.retry_after_cap))
        reason += f"; the server asked us to wait {_describe(asked)}"
        if asked > policy.retry_after_cap:
            reason += f" (capped at {_describe(policy.retry_after_cap)})"
    return PollDecision(outcome, FeedState.BACKOFF, failures, now + wait, reason)


def _check_inputs(*, interval: timedelta, failures: int, now: datetime, jitter: float) -> None:
    if interval <= _ZERO:
        raise ValueError(f"interval must be a positive duration, got {interval}")
    if failures < 0:
        raise ValueError(f"failures must be >= 0, got {failures}")
    if now.tzinfo is None:
        raise ValueError(f"now must be an aware datetime, got naive {now!r}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")


def _backoff(interval: timedelta, failures: int, jitter: float, policy: PollingPolicy) -> timedelta:
    # Backoff starts from the feed's own interval, so a failing feed is not polled much more
    # often than a healthy one, and ends at the slowest cadence, where it stays: never dropped.
    cap = max(policy.backoff_cap, interval)
    # Past the failure count whose step reaches the cap, more failures change nothing, and
    # backoff_delay's arithmetic overflows for long intervals (a 6h base times 2**32 is past
    # timedelta's range), so the count handed to it stops there.
    saturated = 1 + math.ceil(math.log2(cap / interval))
    return backoff_delay(min(failures, saturated), base=interval, cap=cap, jitter=jitter)


def _failure_reason(status: int | None, headers: Mapping[str, str], error: str | None) -> str:
    if status is None:
        return error or "the fetch failed without an HTTP answer"
    text = f"HTTP {status} {_phrase(status)}".rstrip()
    if 300 <= status < 400 and _header(headers, "location") is None:
        return f"{text}: a redirect without a Location header"
    hint = _STATUS_HINTS.get(status)
    return f"{text}: {hint}" if hint else text


_STATUS_HINTS = {
    401: "the feed needs a login; monitor does not send credentials",
    403: "the server refuses us (it may block bots or need a login)",
    404: "the feed URL may have changed; check it on the publisher's site",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _describe(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _freshness_hint(
    headers: Mapping[str, str], ttl: int | None, now: datetime, cap: timedelta
) -> timedelta:
    """How long the response says it stays fresh: the longest of its hints, capped."""
    cached = max_age(headers)
    if cached is None:
        cached = expires_in(headers, now)  # max-age wins over Expires (RFC 9111 5.3)
    hints = [hint for hint in (cached, _ttl(ttl)) if hint is not None]
    return min(cap, max(hints, default=_ZERO))


def _ttl(ttl: int | None) -> timedelta | None:
    if ttl is None or ttl <= 0:
        return None
    return timedelta(seconds=min(ttl, _LONGEST_HINT_SECONDS))


def max_age(headers: Mapping[str, str]) -> timedelta | None:
    """Cache-Control max-age minus the Age the response already has, or None without one."""
    value = _header(headers, "cache-control")
    if value is None:
        return None
    for directive in value.split(","):
        name, _, argument = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            # RFC 9111 4.2.1: with several max-age directives, the first one is used.
            seconds = _delta_seconds(argument.strip().strip('"'))
            if seconds is None:
                return None
            age = _delta_seconds(_header(headers, "age")) or _ZERO
            return max(_ZERO, seconds - age)
    return None


def expires_in(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long until Expires, or None without one. An invalid Expires means already stale.

    Measured from the response's Date when it has one (RFC 9111 4.2.1), so a server whose
    clock is off still gets the lifetime it meant; otherwise from `now`.
    """
    value = _header(headers, "expires")
    if value is None:
        return None
    expires = parse_http_date(value)
    if expires is None:
        return _ZERO
    sent = parse_http_date(_header(headers, "date") or "") or now
    return _clamp(expires - sent)


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Retry-After as a wait from `now`: delta-seconds or an HTTP-date. None if absent/bad."""
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _delta_seconds(value)
    if seconds is not None:
        return seconds
    when = parse_http_date(value)
    return None if when is None else _clamp(when - now)


def parse_http_date(value: str) -> datetime | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime) as aware UTC, or None if it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # HTTP dates are always GMT; asctime has no zone and "-0000" parses as naive.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _delta_seconds(value: str | None) -> timedelta | None:
    """RFC 9110 delta-seconds (1*DIGIT) as a bounded timedelta, or None."""
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return timedelta(seconds=min(int(value), _LONGEST_HINT_SECONDS))


def _clamp(delta: timedelta) -> timedelta:
    return min(max(delta, _ZERO), _LONGEST_HINT)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # FetchResult gives lower-case names; tolerate any case for callers building headers.
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None
