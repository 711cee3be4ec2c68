"""When a poll counts as "every parse failed" (monitor poll --once then exits 1)."""

from __future__ import annotations

from monitor.core.states import FeedOutcome
from monitor.flows.poll import PARSER_CRASHED, FeedReport, PollSummary


def report(
    name: str, outcome: FeedOutcome, parsed: bool | None, error: str | None = None
) -> FeedReport:
    return FeedReport(name, outcome, status=200, error=error, parsed=parsed)


def test_nothing_parsed_and_nothing_else_read_is_a_failed_poll() -> None:
    summary = PollSummary([report("a", FeedOutcome.FAILED, False, "not a feed: HTML")])
    assert summary.every_parse_failed


def test_broken_feeds_among_304s_are_a_quiet_steady_state_not_a_failed_poll() -> None:
    summary = PollSummary(
        [
            report("a", FeedOutcome.FAILED, False, "not a feed: HTML"),
            report("b", FeedOutcome.NOT_MODIFIED, None),
        ]
    )
    assert not summary.every_parse_failed


def test_a_parser_that_crashes_on_every_body_fails_the_poll_even_among_304s() -> None:
    summary = PollSummary(
        [
            report("a", FeedOutcome.FAILED, False, PARSER_CRASHED),
            report("b", FeedOutcome.FAILED, False, PARSER_CRASHED),
            report("c", FeedOutcome.NOT_MODIFIED, None),
        ]
    )
    assert summary.every_parse_failed


def test_one_body_parsed_is_enough() -> None:
    summary = PollSummary(
        [
            report("a", FeedOutcome.FAILED, False, PARSER_CRASHED),
            report("b", FeedOutcome.FETCHED, True),
        ]
    )
    assert not summary.every_parse_failed
