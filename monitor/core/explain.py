"""`monitor explain`: the verdicts about one stored article, decided from plain facts.

Pure: facts gathered by flows/explain.py in, verdicts out; no database, clock or files. Three
questions, each answered with the evidence an analyst can check:

- identity: was the article new when stored, edited since, and is it the same item as an
  earlier article of another feed (same canonical URL or same text)?
- story: did it open its story, or join it by an exact signal (same canonical URL, same text)
  or by estimated similarity with which earlier article? The decision at poll time read the
  band index of the moment; this replays it on the story's members, which is what it saw
  for every article still in the story.
- each watchlist that exists: what happened, as one `Outcome` with its detail.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.core import dedup
from monitor.core.scoring import Score
from monitor.core.states import HeldReason


class Outcome(enum.StrEnum):
    """What became of an article for one watchlist; the first that applies, in this order."""

    NOT_COVERED = "not_covered"  # the watchlist's `feeds` leave out the article's feed
    COPY_OF_DELIVERED = "copy_of_delivered"  # its story was delivered already for the watchlist
    ALERTED = "alerted"  # an immediate alert carried it
    RATE_LIMITED = "rate_limited"  # strong enough to alert, held back by max_alerts_per_hour
    DELIVERED = "delivered"  # in digest D
    PENDING = "pending"  # matched; waits for the watchlist's next digest
    VETOED = "vetoed"  # an exclude phrase occurs
    MISSING_GROUP = "missing_group"  # a require group has no hit
    BELOW_THRESHOLD = "below_threshold"
    NOT_RECORDED = "not_recorded"  # matches the watchlist as it is now, but no match is stored
    TEXT_PRUNED = "text_pruned"  # no match stored and the text is gone: cannot be scored now


@dataclass(frozen=True, slots=True)
class DigestFacts:
    digest_id: int
    kind: str  # "digest" | "alert"
    created_at: datetime
    deliveries: tuple[tuple[str, str], ...]  # (channel, status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.digest_id,
            "kind": self.kind,
            "created_at": self.created_at,
            "deliveries": [{"channel": c, "status": s} for c, s in self.deliveries],
        }

    def words(self) -> str:
        channels = ", ".join(f"{c} {s}" for c, s in self.deliveries) or "no channel"
        return f"{self.kind} {self.digest_id} of {self.created_at:%Y-%m-%d %H:%M} UTC ({channels})"


@dataclass(frozen=True, slots=True)
class UpdateFacts:
    """Copy or development (core.developments), for a match of a story delivered before:
    stored by the digest or alert that decided it, or decided now for a pending match."""

    kind: str  # "copy" | "development"
    rule: str
    evidence: str
    against: int  # a copy: the match it repeats; a development: the delivered match it updates
    stored: bool  # False: the next digest has not decided yet, this is what it would decide

    def words(self) -> str:
        when = "" if self.stored else ", as the next digest would decide"
        role = "repeats" if self.kind == "copy" else "updates"
        return (
            f"a {self.kind} (rule {self.rule}: {self.evidence}; {role} match {self.against}{when})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule": self.rule,
            "evidence": self.evidence,
            "against_match_id": self.against,
            "stored": self.stored,
        }


@dataclass(frozen=True, slots=True)
class MatchFacts:
    """A stored match of the article for one watchlist, and where it went."""

    match_id: int
    score: float
    explanation: Mapping[str, Any]
    matched_at: datetime
    origin: str
    held_reason: str | None
    digest: DigestFacts | None
    alert: DigestFacts | None
    duplicate_of: int | None  # the match that carried its story, if recorded as a copy
    update: UpdateFacts | None = None  # copy or development, in a story delivered before


@dataclass(frozen=True, slots=True)
class WatchlistFacts:
    watchlist_id: str
    covered: bool
    score_now: Score | None  # the watchlist as it is now, on the stored text; None if pruned
    match: MatchFacts | None
    # The story delivered for this watchlist by another match: (its match id, where).
    story_delivered: tuple[int, DigestFacts | None] | None


@dataclass(frozen=True, slots=True)
class WatchlistVerdict:
    watchlist_id: str
    outcome: Outcome
    detail: str
    score: float | None
    threshold: float | None
    explanation: Mapping[str, Any] | None
    digest: DigestFacts | None
    alert: DigestFacts | None
    update: UpdateFacts | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "watchlist": self.watchlist_id,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "update": self.update.as_dict() if self.update else None,
            "score": self.score,
            "threshold": self.threshold,
            "digest": self.digest.as_dict() if self.digest else None,
            "alert": self.alert.as_dict() if self.alert else None,
            "explanation": dict(self.explanation) if self.explanation is not None else None,
        }


def watchlist_verdict(facts: WatchlistFacts) -> WatchlistVerdict:
    """What became of the article for one watchlist, and why."""
    match, now = facts.match, facts.score_now
    explanation = match.explanation if match else (now.explanation() if now else None)
    score = match.score if match else (now.score if now else None)
    threshold = now.threshold if now else (match.explanation.get("threshold") if match else None)

    def verdict(
        outcome: Outcome, detail: str, digest: DigestFacts | None = None
    ) -> WatchlistVerdict:
        update = match.update if match else None
        if update is not None and update.kind == "development":
            detail += f"; {update.words()}"
        return WatchlistVerdict(
            facts.watchlist_id,
            outcome,
            detail,
            score,
            threshold,
            explanation,
            digest or (match.digest if match else None),
            match.alert if match else None,
            update,
        )

    if match is None and not facts.covered:
        return verdict(Outcome.NOT_COVERED, "its feed is not among the watchlist's `feeds`")
    if match is not None:
        delivered = facts.story_delivered
        waiting = match.alert is None and match.digest is None
        decided = match.update.kind if match.update else None
        if match.duplicate_of is not None or (
            delivered is not None
            and delivered[0] != match.match_id
            and waiting
            and decided != "development"
        ):
            where = delivered[1] if delivered is not None else None
            original = match.duplicate_of or (delivered[0] if delivered else None)
            shown = where.words() if where else f"match {original}"
            why = f"; {match.update.words()}" if match.update else ""
            return verdict(
                Outcome.COPY_OF_DELIVERED,
                f"not delivered: its story was delivered in {shown} (match {original}){why}",
                where,
            )
        if match.alert is not None:
            return verdict(Outcome.ALERTED, f"alerted in {match.alert.words()}")
        if match.held_reason == HeldReason.RATE_LIMITED.value:
            then = f"; then in {match.digest.words()}" if match.digest else "; waits for the digest"
            return verdict(
                Outcome.RATE_LIMITED,
                "strong enough for an immediate alert, held back by max_alerts_per_hour" + then,
            )
        if match.digest is not None:
            return verdict(Outcome.DELIVERED, f"in {match.digest.words()}")
        found = "backfilled" if match.origin == "backfill" else "matched"
        return verdict(Outcome.PENDING, f"{found}; waits for the watchlist's next digest")
    if now is None:
        return verdict(Outcome.TEXT_PRUNED, "no match stored; its text was pruned by retention")
    if now.vetoed_by is not None:
        return verdict(Outcome.VETOED, f"vetoed by exclude {now.vetoed_by!r}")
    if now.missing:
        groups = "; ".join(group_words(group) for group in now.missing)
        return verdict(Outcome.MISSING_GROUP, f"missing a required group: needs {groups}")
    if not now.matched:
        return verdict(
            Outcome.BELOW_THRESHOLD, f"score {now.score:g} below threshold {now.threshold:g}"
        )
    return verdict(
        Outcome.NOT_RECORDED,
        "matches the watchlist as it is now, but was stored before this version: "
        f"`monitor watchlists apply {facts.watchlist_id}` records it",
    )


def group_words(group: Sequence[str], shown: int = 6) -> str:
    """A require group in words: its first few alternatives, and how many more."""
    words = " or ".join(group[:shown])
    return words + (f" or {len(group) - shown} more" if len(group) > shown else "")


# ---- identity and story ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """An article as the identity and story questions need it."""

    article_id: int
    feed: str
    canonical_url: str | None
    content_hash: str
    signature: bytes | None
    fetched_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class IdentityVerdict:
    decision: str  # "new" | "edited"
    same_as: tuple[tuple[int, str, str], ...]  # earlier articles: (id, feed, "url" | "text")

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "same_as": [{"article_id": a, "feed": f, "by": by} for a, f, by in self.same_as],
        }


def identity_verdict(article: Member, others: Sequence[Member]) -> IdentityVerdict:
    """New or edited since stored; and which earlier articles of other feeds carry the same
    item (each feed stores its own copy: identity is per feed)."""
    same = []
    for other in sorted(others, key=lambda m: m.article_id):
        if other.article_id >= article.article_id:
            continue
        if article.canonical_url and other.canonical_url == article.canonical_url:
            same.append((other.article_id, other.feed, "url"))
        elif other.content_hash == article.content_hash:
            same.append((other.article_id, other.feed, "text"))
    decision = "edited" if article.updated_at > article.fetched_at else "new"
    return IdentityVerdict(decision, tuple(same))


@dataclass(frozen=True, slots=True)
class StoryJoin:
    how: str  # "opened" | "same_url" | "same_text" | "similar" | "none"
    with_article: int | None = None
    similarity: float | None = None

    def words(self) -> str:
        if self.how == "opened":
            return "opened the story (no earlier article in it)"
        if self.how == "same_url":
            return f"joined it by exact signal: same canonical URL as article {self.with_article}"
        if self.how == "same_text":
            return f"joined it by exact signal: same text as article {self.with_article}"
        if self.how == "similar":
            return (
                f"joined it by estimated similarity {self.similarity:.2f} with article "
                f"{self.with_article} (threshold {dedup.THRESHOLD:g})"
            )
        return "has no story (it was stored without story grouping)"

    def as_dict(self) -> dict[str, Any]:
        return {"how": self.how, "with_article": self.with_article, "similarity": self.similarity}


def story_join(article: Member, members: Sequence[Member]) -> StoryJoin:
    """How the article came to its story: replayed on the earlier members of the story."""
    earlier = sorted(
        (m for m in members if m.article_id < article.article_id), key=lambda m: m.article_id
    )
    if not earlier:
        return StoryJoin("opened")
    for member in reversed(earlier):  # the exact lookups take the most recent story member
        if article.canonical_url and member.canonical_url == article.canonical_url:
            return StoryJoin("same_url", member.article_id)
    for member in reversed(earlier):
        if member.content_hash == article.content_hash:
            return StoryJoin("same_text", member.article_id)
    if article.signature is None:
        return StoryJoin("similar", earlier[-1].article_id, None)
    mine = dedup.signature_from_bytes(article.signature)
    best: tuple[float, int] | None = None
    for member in earlier:
        if member.signature is None:
            continue
        similarity = dedup.estimated_jaccard(mine, dedup.signature_from_bytes(member.signature))
        if best is None or similarity > best[0]:
            best = (similarity, member.article_id)
    if best is None:
        return StoryJoin("similar", earlier[-1].article_id, None)
    return StoryJoin("similar", best[1], round(best[0], 3))
