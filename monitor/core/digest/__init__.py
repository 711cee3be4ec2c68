"""Digests and immediate alerts: the model and its payload, planning, snippets. Pure."""

from monitor.core.digest.model import (
    PAYLOAD_VERSION,
    Candidate,
    Copy,
    DigestContent,
    DigestItem,
    Snippet,
)
from monitor.core.digest.planning import (
    ALERT_BUDGET_WINDOW,
    AlertPlan,
    DigestPlan,
    alert_window_key,
    digest_item,
    plan_alerts,
    plan_digest,
    should_send,
)
from monitor.core.digest.snippets import best_snippet, find_hits, matched_terms, unmark

__all__ = [
    "ALERT_BUDGET_WINDOW",
    "PAYLOAD_VERSION",
    "AlertPlan",
    "Candidate",
    "Copy",
    "DigestContent",
    "DigestItem",
    "DigestPlan",
    "Snippet",
    "alert_window_key",
    "best_snippet",
    "digest_item",
    "find_hits",
    "matched_terms",
    "plan_alerts",
    "plan_digest",
    "should_send",
    "unmark",
]
