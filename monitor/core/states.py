"""The states of feeds, deliveries and digests: enums with documented members, shared by the
pure core and the database schema (which stores their values)."""

from __future__ import annotations

import enum


class FeedState(enum.StrEnum):
    """Where a feed stands in its polling life."""

    ACTIVE = "active"  # polled on its interval
    BACKOFF = "backoff"  # failed recently; retried on a capped exponential schedule
    STOPPED = "stopped"  # gone for good (410) or removed by hand; never polled again
    DISABLED = "disabled"  # paused with `monitor feeds disable`; `feeds enable` resumes it


# The states a poll never claims.
NOT_POLLED = (FeedState.STOPPED, FeedState.DISABLED)


class DeliveryStatus(enum.StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the channel accepted it
    DEAD = "dead"  # max_attempts reached, or a permanent failure; kept with its error


class DigestKind(enum.StrEnum):
    DIGEST = "digest"  # the scheduled ranked digest of a watchlist
    ALERT = "alert"  # an immediate alert for a strong hit


class FeedOutcome(enum.StrEnum):
    """What one feed's poll came to in a cycle's report (`monitor poll`, metrics)."""

    FETCHED = "fetched"  # a new body was parsed and stored
    NOT_MODIFIED = "not_modified"  # 304
    UNCHANGED = "unchanged"  # 200 with the same bytes as last time: nothing parsed
    FAILED = "failed"  # no usable answer or an error status; retried with backoff
    STOPPED = "stopped"  # the feed is gone (410): never polled again


class MatchOrigin(enum.StrEnum):
    """How a stored match was found."""

    POLL = "poll"  # scored when its article arrived
    BACKFILL = "backfill"  # scored later, when its watchlist appeared or changed; never alerts


class HeldReason(enum.StrEnum):
    """Why a match strong enough for an immediate alert did not get one."""

    RATE_LIMITED = "max_alerts_per_hour"  # the watchlist's hourly alert budget was spent


class FeedbackLabel(enum.StrEnum):
    """An analyst's verdict on one delivered article for one watchlist."""

    RELEVANT = "relevant"  # the watchlist was right to deliver it
    IRRELEVANT = "irrelevant"  # noise: the watchlist should not have delivered it
