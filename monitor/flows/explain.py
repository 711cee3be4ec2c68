"""`monitor explain URL|ARTICLE_ID`: the life of one stored article, end to end.

Gather (one read transaction: the article and its feed, the articles sharing its URL or text,
its story's members, its matches with their digests, alerts and deliveries, and the story's
delivery for each watchlist, and for a match of a story delivered before its copy-or-development
decision, stored or as the next digest would take it), score it now from its stored text
against each watchlist, and let core.explain decide every verdict. Writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from monitor.adapters.db import digest_store, trace_store
from monitor.adapters.db.trace_store import StoredMatchRow, TracedArticle
from monitor.adapters.embed import SemanticIndex
from monitor.core.digest.updates import LateCopies, decide_updates
from monitor.core.explain import (
    DigestFacts,
    IdentityVerdict,
    MatchFacts,
    StoryJoin,
    UpdateFacts,
    WatchlistFacts,
    WatchlistVerdict,
    identity_verdict,
    story_join,
    watchlist_verdict,
)
from monitor.core.matcher import compile_matcher
from monitor.core.scoring import Score, score_watchlists
from monitor.core.semantic_features import article_features
from monitor.core.urls import canonical_url
from monitor.core.watchlist import Watchlist
from monitor.flows import story_window


@dataclass(frozen=True, slots=True)
class ExplainReport:
    article: TracedArticle
    identity: IdentityVerdict
    story: StoryJoin
    story_size: int
    watchlists: tuple[WatchlistVerdict, ...]
    also_found: tuple[int, ...]  # other articles the URL names (other feeds' copies)

    def as_dict(self) -> dict[str, Any]:
        a = self.article
        return {
            "article": {
                "id": a.article_id,
                "title": a.title,
                "url": a.url,
                "canonical_url": a.canonical_url,
                "published_at": a.published_at,
                "fetched_at": a.member.fetched_at,
                "updated_at": a.member.updated_at,
                "pruned": a.text is None,
            },
            "feed": {
                "name": a.feed,
                "url": a.feed_url,
                "tags": list(a.feed_tags),
                "last_status": a.feed_last_status,
                "last_polled_at": a.feed_last_polled_at,
            },
            "identity": self.identity.as_dict(),
            "story": {"id": a.story_id, "articles": self.story_size, **self.story.as_dict()},
            "watchlists": [v.as_dict() for v in self.watchlists],
            "also_found": list(self.also_found),
        }


def resolve_reference(engine: Engine, reference: str) -> list[int]:
    """The article ids an ARTICLE_ID or URL names (a URL also by its canonical form)."""
    if reference.isdigit():
        return [int(reference)]
    try:
        canonical: str | None = canonical_url(reference)
    except ValueError:
        canonical = None
    with engine.connect() as connection:
        return trace_store.find_article_ids(connection, url=reference, canonical=canonical)


def explain_article(
    engine: Engine,
    reference: str,
    watchlists: Sequence[Watchlist],
    semantic: SemanticIndex | None = None,
) -> ExplainReport | None:
    """Everything known about the article `reference` names; None if no stored article.
    `semantic`: the index of the watchlists (as a poll builds it), for the semantic part."""
    ids = resolve_reference(engine, reference)
    if not ids:
        return None
    with engine.connect() as connection:
        article = trace_store.traced_article(connection, ids[0])
        if article is None:
            return None
        report = _explain(connection, article, watchlists, tuple(ids[1:]), semantic)
        connection.rollback()
    return report


def _explain(
    connection: Connection,
    article: TracedArticle,
    watchlists: Sequence[Watchlist],
    also_found: tuple[int, ...],
    semantic: SemanticIndex | None = None,
) -> ExplainReport:
    member = article.member
    identity = identity_verdict(
        member,
        trace_store.same_item_candidates(
            connection, article.article_id, member.canonical_url, member.content_hash
        ),
    )
    members = (
        trace_store.story_members(connection, article.story_id) if article.story_id else [member]
    )
    join = story_join(member, members) if article.story_id else StoryJoin("none")
    stored = {
        m.watchlist_id: m for m in trace_store.matches_of_article(connection, member.article_id)
    }
    scores = _scores_now(article, watchlists, semantic)
    verdicts = []
    for watchlist in sorted(watchlists, key=lambda w: w.id):
        match = stored.get(watchlist.id)
        verdicts.append(
            watchlist_verdict(
                WatchlistFacts(
                    watchlist_id=watchlist.id,
                    covered=watchlist.covers_feed(article.feed, article.feed_tags),
                    score_now=scores.get(watchlist.id),
                    match=(
                        _match_facts(connection, watchlist.id, article, match) if match else None
                    ),
                    story_delivered=_story_delivered(connection, watchlist.id, article, match),
                )
            )
        )
    return ExplainReport(article, identity, join, len(members), tuple(verdicts), also_found)


def _scores_now(
    article: TracedArticle, watchlists: Sequence[Watchlist], semantic: SemanticIndex | None
) -> dict[str, Score]:
    if article.text is None or not watchlists:
        return {}
    matcher = compile_matcher(watchlists)
    similar = None
    if semantic is not None:
        similar = semantic.scores([article_features(article.title, article.text)])[0]
    return dict(score_watchlists(matcher, article.title, article.text, semantic=similar))


def _update_facts(
    connection: Connection, watchlist_id: str, article: TracedArticle, match: StoredMatchRow
) -> UpdateFacts | None:
    """Copy or development: as stored, or for a pending match of a story delivered before,
    what the next digest would decide now (the same gather and core call, nothing written)."""
    stored = digest_store.decisions_of_matches(connection, [match.match_id]).get(match.match_id)
    if stored is not None:
        return UpdateFacts(
            stored["kind"], stored["rule"], stored["evidence"], stored["against_match_id"], True
        )
    if article.story_id is None or match.digest_id is not None or match.alert_digest_id:
        return None
    history = digest_store.story_histories(connection, watchlist_id, [article.story_id]).get(
        article.story_id
    )
    pending = digest_store.pending_candidate(connection, watchlist_id, match.match_id)
    if not pending:
        return None
    if history is None:
        # A new story: the digest holds it back if it only repeats a story sent lately (a
        # late copy; the new stories and the developments of the same digest are not known
        # before it is made).
        recent = digest_store.recent_histories(connection, watchlist_id, now=match.matched_at)
        late = LateCopies(recent, story_window.window_terms(connection)).decide(pending[0])
        if late is None:
            return None
        return UpdateFacts(late.kind.value, late.rule.value, late.evidence, late.against, False)
    decision = decide_updates(pending, history, story_window.window_terms(connection))[0]
    return UpdateFacts(
        decision.kind.value, decision.rule.value, decision.evidence, decision.against, False
    )


def _match_facts(
    connection: Connection, watchlist_id: str, article: TracedArticle, match: StoredMatchRow
) -> MatchFacts:
    wanted = [d for d in (match.digest_id, match.alert_digest_id) if d is not None]
    facts = trace_store.digest_facts(connection, wanted)
    return MatchFacts(
        match_id=match.match_id,
        score=match.score,
        explanation=match.explanation,
        matched_at=match.matched_at,
        origin=match.origin,
        held_reason=match.held_reason,
        digest=facts.get(match.digest_id) if match.digest_id else None,
        alert=facts.get(match.alert_digest_id) if match.alert_digest_id else None,
        duplicate_of=match.duplicate_of_match_id,
        update=_update_facts(connection, watchlist_id, article, match),
    )


def _story_delivered(
    connection: Connection,
    watchlist_id: str,
    article: TracedArticle,
    match: StoredMatchRow | None,
) -> tuple[int, DigestFacts | None] | None:
    """The match that carried the article's story to the watchlist, and where it went."""
    original: int | None = None
    if match is not None and match.duplicate_of_match_id is not None:
        original = match.duplicate_of_match_id
    elif article.story_id is not None:
        original = digest_store.delivered_stories(connection, watchlist_id, [article.story_id]).get(
            article.story_id
        )
    if original is None:
        return None
    row = trace_store.match_by_id(connection, original)
    if row is None:
        return (original, None)
    target = row.digest_id or row.alert_digest_id
    facts = trace_store.digest_facts(connection, [target]) if target else {}
    return (original, facts.get(target) if target else None)
