"""Signed, expiring tokens for the one-click feedback links of digests and alerts.

A token says: this watchlist, this article, this label, valid until this moment, and its own
random id (so the one row it stores can be recognised when the link is used again). It is
`base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))`, with the payload
a compact JSON array. The MAC covers the encoded text, not the decoded bytes, and the
signature is compared as text: a changed character anywhere is rejected, even one that
would decode to the same bytes. Pure: the clock and the random id are parameters.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from monitor.core.digest.model import DigestContent, DigestItem, FeedbackLinks
from monitor.core.states import FeedbackLabel

VERSION = 1
MIN_SECRET_BYTES = 16  # shorter secrets can be guessed offline from one link


class TokenProblem(enum.StrEnum):
    """Why a token was refused; each has its own page and HTTP status."""

    MALFORMED = "malformed"  # not a token at all (cut off when copied, or made up)
    TAMPERED = "tampered"  # the signature does not match: changed, or signed with another secret
    EXPIRED = "expired"  # was valid, its time is over


class TokenError(ValueError):
    def __init__(self, problem: TokenProblem) -> None:
        self.problem = problem
        super().__init__(f"feedback token {problem.value}")


@dataclass(frozen=True, slots=True)
class FeedbackClaim:
    """What a valid token asks for."""

    watchlist_id: str
    article_id: int
    label: FeedbackLabel
    expires_at: datetime
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, encoded_payload: str) -> str:
    return _b64(hmac.new(secret, encoded_payload.encode("ascii"), hashlib.sha256).digest())


def mint_token(secret: bytes, claim: FeedbackClaim) -> str:
    """The url-safe token for `claim`; `claim.token_id` should be fresh and random."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the feedback secret needs at least {MIN_SECRET_BYTES} bytes")
    payload = [
        VERSION,
        claim.watchlist_id,
        claim.article_id,
        claim.label.value,
        int(claim.expires_at.timestamp()),
        claim.token_id,
    ]
    encoded = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode())
    return f"{encoded}.{_mac(secret, encoded)}"


def verify_token(secret: bytes, token: str, now: datetime) -> FeedbackClaim:
    """The claim of a genuine, unexpired token; TokenError saying why otherwise."""
    encoded, dot, signature = token.partition(".")
    if not dot or not encoded or not signature or not token.isascii():
        raise TokenError(TokenProblem.MALFORMED)
    if not hmac.compare_digest(_mac(secret, encoded), signature):
        raise TokenError(TokenProblem.TAMPERED)
    try:
        version, watchlist_id, article_id, label, expires, token_id = json.loads(_unb64(encoded))
        checks = (
            version == VERSION,
            isinstance(watchlist_id, str),
            type(article_id) is int,
            type(expires) is int,
            isinstance(token_id, str) and token_id,
        )
        if not all(checks):
            raise ValueError("unexpected payload")
        claim = FeedbackClaim(
            watchlist_id,
            article_id,
            FeedbackLabel(label),
            datetime.fromtimestamp(expires, UTC),
            token_id,
        )
    except (ValueError, TypeError, binascii.Error, OverflowError):
        # Signed by us yet unreadable: only a future version or a bug makes one.
        raise TokenError(TokenProblem.MALFORMED) from None
    if now >= claim.expires_at:
        raise TokenError(TokenProblem.EXPIRED)
    return claim


def feedback_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/feedback/{token}"


def link_digest(
    content: DigestContent,
    *,
    secret: bytes,
    public_url: str,
    expires_at: datetime,
    new_token_id: Callable[[], str],
) -> DigestContent:
    """`content` with "relevant" / "not relevant" links on every item that names its article
    (items of payloads frozen before article ids were kept have none)."""

    def linked(item: DigestItem) -> DigestItem:
        if item.article_id is None:
            return item
        urls = {
            label: feedback_url(
                public_url,
                mint_token(
                    secret,
                    FeedbackClaim(
                        content.watchlist_id, item.article_id, label, expires_at, new_token_id()
                    ),
                ),
            )
            for label in FeedbackLabel
        }
        links = FeedbackLinks(
            relevant=urls[FeedbackLabel.RELEVANT], irrelevant=urls[FeedbackLabel.IRRELEVANT]
        )
        return replace(item, feedback=links)

    return replace(content, items=tuple(linked(item) for item in content.items))
