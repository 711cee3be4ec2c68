"""core/feedback_tokens: one-click links are genuine, expire, and survive no tampering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fixed_time import NOW
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.feedback_tokens import (
    FeedbackClaim,
    TokenError,
    TokenProblem,
    mint_token,
    verify_token,
)
from monitor.core.states import FeedbackLabel

SECRET = b"s3cret-for-tests-only-0123456789"
CLAIM = FeedbackClaim(
    "s400", 42, FeedbackLabel.IRRELEVANT, NOW + timedelta(days=30), "b7Zq1x9FQe2c0kR3"
)
TOKEN = mint_token(SECRET, CLAIM)
URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _problem(token: str, now: object = NOW, secret: bytes = SECRET) -> TokenProblem:
    with pytest.raises(TokenError) as caught:
        verify_token(secret, token, now)  # type: ignore[arg-type]
    return caught.value.problem


def test_a_token_round_trips_its_claim_and_is_url_safe() -> None:
    back = verify_token(SECRET, TOKEN, NOW)
    assert (back.watchlist_id, back.article_id, back.label) == ("s400", 42, "irrelevant")
    assert (back.expires_at, back.token_id) == (NOW + timedelta(days=30), "b7Zq1x9FQe2c0kR3")
    assert set(TOKEN) <= URL_SAFE


def test_the_token_does_not_hold_the_article_id_alone() -> None:
    # A guessable id must never be enough: the token is longer than a signature.
    assert len(TOKEN) > 43 + 20 and "42" not in TOKEN.split(".")[1]


def test_an_expired_token_is_refused_from_the_moment_it_expires() -> None:
    assert verify_token(SECRET, TOKEN, CLAIM.expires_at - timedelta(seconds=1)) == CLAIM
    assert _problem(TOKEN, CLAIM.expires_at) is TokenProblem.EXPIRED


def test_another_secret_or_garbage_is_refused() -> None:
    assert _problem(TOKEN, secret=b"another-secret-0123456789") is TokenProblem.TAMPERED
    for garbage in ("", "abc", ".", "abc.", ".abc", "ä.b"):
        assert _problem(garbage) is TokenProblem.MALFORMED


def test_a_short_secret_is_refused_when_minting() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        mint_token(b"short", CLAIM)


@given(st.integers(0, len(TOKEN) - 1), st.sampled_from(sorted(URL_SAFE)))
def test_changing_any_character_is_refused(position: int, replacement: str) -> None:
    tampered = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    if tampered == TOKEN:
        return
    with pytest.raises(TokenError):
        verify_token(SECRET, tampered, NOW)


@given(st.integers(0, len(TOKEN)))
def test_cutting_the_token_short_is_refused(length: int) -> None:
    if length == len(TOKEN):
        return
    with pytest.raises(TokenError):
        verify_token(SECRET, TOKEN[:length], NOW)


def test_a_label_that_was_signed_cannot_be_swapped() -> None:
    relevant = mint_token(
        SECRET, FeedbackClaim("s400", 42, FeedbackLabel.RELEVANT, CLAIM.expires_at, "x")
    )
    payload_of_relevant = relevant.split(".")[0]
    signature_of_irrelevant = TOKEN.split(".")[1]
    assert _problem(f"{payload_of_relevant}.{signature_of_irrelevant}") is TokenProblem.TAMPERED
