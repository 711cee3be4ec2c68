"""Stories in the database: assigning new articles to stories, the LSH band index, listing.

Database only (SQLAlchemy Core, SQLite and PostgreSQL); the decision of what is a near copy
is core.dedup's. Never reads the clock: `now` and `window` come from the caller.

How an article finds its story, within stories seen since `now - window`:

1. exact signals: an article with the same canonical URL, else the same content hash (the
   story seen last of those);
2. LSH candidates: articles whose band rows agree with one of this article's bands (at most
   the newest `ROWS_PER_BAND` rows of each band value), in the window, ordered by the number
   of agreeing bands, at most `MAX_CANDIDATES`; their stored signatures decide
   (`_accepted`), and the most similar one above the threshold gives the story;
3. otherwise a new story.

One feed's new articles are assigned together, in order, with a fixed number of statements
whatever their count: one lookup of the exact signals, one of the band rows, one of the
candidates' signatures, then one INSERT of the new stories, one UPDATE of the stories joined,
one of the articles and one INSERT of the band rows (on PostgreSQL, where each is a round trip
under the story lock, those three writes are one statement, and the band rows are read by
one LATERAL seek per element of an array instead of a UNION). An earlier article of the batch is a
candidate of the later ones exactly as if its rows had been written before they were looked
up (the per-article assignment this replaces, 5-6 statements and 32 band INSERTs each, was a
third of the first poll's CPU).

The band index is one narrow table that is its own covering index: (band hash, second
created, article), the primary key and, on SQLite, WITHOUT ROWID. Only 31 bits of each band
hash are kept: an unrelated article sharing a truncated value by chance is one more candidate
whose signature is compared, never a wrong story. About 7 bytes of key per band row against
the 150 the table and its two indexes took before (migration 0006).

Several workers. Two copies of one story polled at the same moment by two workers would each
miss the other's uncommitted rows and open two stories. On PostgreSQL `assign_stories` takes
a transaction-level advisory lock (`STORY_LOCK_KEY`) before looking up, so assignments are
serialised and each one sees what the previous committed; the lock is released at commit,
so callers should assign stories at the end of a feed's transaction, not before slow work.
SQLite serialises writers itself and is meant for one worker.

A story's band values are indexed once per hour, not once per copy. An article with the
content hash of an article its story already holds has the same band values (the same folded
title and text), and a near copy shares most of them with the candidate it joined through:
their rows would only repeat that article's. A wire report in a hundred feeds filled the newest
rows of each of its band values with itself, and writing and reading those rows was most of a
first poll's story work (bench/ingest.py, with and without --distinct). So a joining article
writes only the values its story has no row for in this `BAND_REFRESH` period: an exact copy
none (unless it is the period's first of that content), a near copy those that no row of the
story written this period carries, among the rows its lookup read. It still gets its story
and signature. A story kept alive by copies stays findable by its near copies for the whole
window after the last one, less at most an hour.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    true,
    type_coerce,
    union_all,
    update,
)

from monitor.adapters.db.dialect import driver_rows, insert_plain_rows, update_plain_rows
from monitor.adapters.db.feed_store import outlet_name
from monitor.adapters.db.schema import articles, feeds, stories, story_bands
from monitor.adapters.db.transactions import CHUNK, chunks
from monitor.core import dedup
from monitor.core.developments import kept_apart, next_edition

MAX_CANDIDATES = 20  # most-agreeing candidates verified per article; copies agree on many bands
ROWS_PER_BAND = 16  # newest rows read per band value: bounds the work of one lookup
STORY_LOCK_KEY = 0x5709_0001  # pg_advisory_xact_lock key of story assignment
STORED_HASH_SHIFT = 32  # dedup's 63-bit band hashes are stored as their top 31 bits
BAND_REFRESH = timedelta(hours=1)  # a story's band values are written once per period


# Why each band value is read newest first and at most `ROWS_PER_BAND` rows: some values are
# shared by hundreds or thousands of unrelated articles in the window (both minima of the band
# fall on common 5-grams such as " the " or "ation"; in the 13 real feeds, ledes collide this
# way about as often as the synthetic articles of bench/stories.py). A copy is still found
# through any rarer band it shares (every labelled copy of the evaluation set shares a band
# that no synthetic article carries) or, through a common one, by being among the newest.


def stored_band_hashes(bands: Iterable[int]) -> list[int]:
    """The band index's values for dedup's band hashes, each once."""
    return list(dict.fromkeys(band >> STORED_HASH_SHIFT for band in bands))


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class NewArticle:
    """A stored article that has no story yet. `signature` and `bands`, when the parse
    worker computed them (signature bytes, dedup's band hashes), save computing them here."""

    article_id: int
    title: str
    text: str
    canonical_url: str | None
    content_hash: str
    published_at: datetime
    signature: bytes | None = None
    bands: tuple[int, ...] | None = None


@dataclass(slots=True)
class _Keyed:
    """An article of the batch with its signature and stored band values."""

    article: NewArticle
    signature: dedup.Stored
    blob: bytes
    bands: list[int]


def _keyed(article: NewArticle) -> _Keyed:
    if article.signature is not None and article.bands is not None:
        signature = dedup.signature_from_bytes(article.signature)
        return _Keyed(article, signature, article.signature, stored_band_hashes(article.bands))
    full = dedup.minhash(article.title, article.text)  # the bands need all 32 bits of each value
    bands = stored_band_hashes(dedup.band_hashes(full))
    return _Keyed(article, dedup.stored_form(full), dedup.signature_to_bytes(full), bands)


@dataclass(frozen=True, slots=True)
class _Candidate:
    article_id: int
    story_id: int
    signature: dedup.Stored


@dataclass(slots=True)
class _Lookup:
    """What the database holds for one batch, and what the batch has added so far."""

    since: datetime
    # exact signal value -> {story id: last seen}, from the database
    by_url: dict[str, dict[int, datetime]] = field(default_factory=dict)
    by_hash: dict[str, dict[int, datetime]] = field(default_factory=dict)
    # (content hash, story id) -> when the newest stored article of the pair was fetched
    hash_fetched: dict[tuple[str, int], datetime] = field(default_factory=dict)
    # band value -> the newest article ids in the window, newest first, from the database
    band_rows: dict[int, list[int]] = field(default_factory=dict)
    # article id -> when its band rows were written (all of an article's at once)
    band_created: dict[int, int] = field(default_factory=dict)
    signatures: dict[int, _Candidate | None] = field(default_factory=dict)
    # the batch so far: story of each assigned article, earlier articles per value
    last_seen: dict[int, datetime] = field(default_factory=dict)
    batch_urls: dict[str, int] = field(default_factory=dict)
    batch_hashes: dict[str, int] = field(default_factory=dict)
    batch_pairs: set[tuple[str, int]] = field(default_factory=set)  # (content hash, story)
    batch_bands: dict[int, list[int]] = field(default_factory=dict)
    batch_candidates: dict[int, _Candidate] = field(default_factory=dict)
    # story id (negative: new in the batch) -> its title, for the templated-opposites guard
    titles: dict[int, str] = field(default_factory=dict)
    # story id -> its stored reports' publication times, for the next-edition guard (read
    # only for headline-only articles), and the batch's, added as they are assigned
    published: dict[int, list[datetime]] = field(default_factory=dict)
    batch_published: dict[int, list[datetime]] = field(default_factory=dict)


def assign_story(
    conn: Connection,
    *,
    article_id: int,
    title: str,
    text: str,
    canonical_url: str | None,
    content_hash: str,
    published_at: datetime,
    now: datetime,
    window: timedelta,
) -> int:
    """Give one stored article its story and index it; returns the story id."""
    article = NewArticle(article_id, title, text, canonical_url, content_hash, published_at)
    return assign_stories(conn, [article], now=now, window=window)[0]


def assign_stories(
    conn: Connection, articles: Sequence[NewArticle], *, now: datetime, window: timedelta
) -> list[int]:
    """Give each article its story, in order, in the caller's transaction; returns story ids.

    A later article of the batch can join the story of an earlier one, as if each article's
    rows were written before the next is looked up.
    """
    if not articles:
        return []
    _lock_assignment(conn)
    keyed = [_keyed(article) for article in articles]
    lookup = _gather(conn, keyed, now - window)
    # Decide: an existing story's id, or -(n + 1) for the n-th new story of the batch.
    decided: list[int] = []
    new_titles: list[str] = []
    written: list[list[int]] = []  # the band values each article's rows are written for
    refresh_since = _refresh_start(now)
    for item in keyed:
        story, exact = _find_in(conn, lookup, item)
        if story is None:
            new_titles.append(item.article.title)
            story = -len(new_titles)
            written.append(item.bands)
        elif exact:  # the same content, or the same page edited: its values were not read
            copy = _copy_indexed(lookup, item.article.content_hash, story, refresh_since)
            written.append([] if copy else item.bands)
        else:
            written.append(_not_carried(lookup, item.bands, story, refresh_since))
        decided.append(story)
        _remember(lookup, item, story, now, written[-1])
    return _apply(conn, keyed, decided, new_titles, now, written)


def _refresh_start(now: datetime) -> datetime:
    """The start of `now`'s `BAND_REFRESH` period: the same for every worker and batch."""
    step = BAND_REFRESH.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // step * step, UTC)


def _copy_indexed(lookup: _Lookup, content_hash: str, story: int, since: datetime) -> bool:
    """Whether `story` already has band rows of this content since `since`: an article of
    the story with the same content hash was stored in this period (the period's first one
    wrote its rows), or came earlier in this batch."""
    if (content_hash, story) in lookup.batch_pairs:
        return True
    fetched = lookup.hash_fetched.get((content_hash, story))
    return fetched is not None and fetched >= since


def _not_carried(lookup: _Lookup, values: list[int], story: int, since: datetime) -> list[int]:
    """Those of `values` for which `story` has no row written since `since`, among the rows
    the lookup read (an article of the story whose story is unknown here counts as none):
    the rows a near copy adds to its story's."""
    oldest = _seconds(since)

    def carried(value: int) -> bool:
        for article_id in lookup.batch_bands.get(value, ()):  # rows this batch will write
            candidate = lookup.batch_candidates.get(article_id)
            if candidate is not None and candidate.story_id == story:
                return True
        for article_id in lookup.band_rows.get(value, ()):  # newest first
            if lookup.band_created.get(article_id, 0) < oldest:
                return False
            candidate = lookup.signatures.get(article_id)
            if candidate is not None and candidate.story_id == story:
                return True
        return False

    return [value for value in values if not carried(value)]


def find_story(conn: Connection, article: NewArticle, *, since: datetime) -> int | None:
    """The story `article` would join among stories seen since `since`; writes nothing."""
    item = _keyed(article)
    return _find_in(conn, _gather(conn, [item], since), item)[0]


def _lock_assignment(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORY_LOCK_KEY})


# --- gather: a fixed number of statements per batch -------------------------------------


def _gather(conn: Connection, keyed: Sequence[_Keyed], since: datetime) -> _Lookup:
    lookup = _Lookup(since=since)
    urls = list(dict.fromkeys(k.article.canonical_url for k in keyed if k.article.canonical_url))
    hashes = list(dict.fromkeys(k.article.content_hash for k in keyed))
    if 0 < len(urls) <= CHUNK and 0 < len(hashes) <= CHUNK:
        # A feed's batch: both lookups in one statement (a round trip less under the lock).
        lookup.by_url, lookup.by_hash = defaultdict(dict), defaultdict(dict)
        params = {"urls": urls, "hashes": hashes, "since": since}
        for row in conn.execute(_exact_both_statement(), params):
            if row.kind == "u":
                lookup.by_url[row.value][int(row.id)] = row.last_seen_at
            else:
                lookup.by_hash[row.value][int(row.id)] = row.last_seen_at
                lookup.hash_fetched[(row.value, int(row.id))] = row.fetched_at
    else:
        lookup.by_url = _exact(conn, articles.c.canonical_url, urls, since)
        lookup.by_hash = _exact(conn, articles.c.content_hash, hashes, since, lookup.hash_fetched)
    # An article with an exact signal in the database never reaches the band index; the
    # others might (an earlier article of the batch may still give them an exact one).
    similar = [k for k in keyed if _exact_story(lookup, k.article)[0] is None]
    values = list(dict.fromkeys(value for k in similar for value in k.bands))
    lookup.band_rows = _band_rows(conn, values, since, lookup.band_created)
    # The signatures the database-only ranking asks for; the batch's own articles can only
    # push some of these out, and a rare newcomer is fetched when it is asked for.
    wanted = {article_id for k in similar for article_id in _ranked(lookup, k, batch=False)}
    _fetch_signatures(conn, lookup, wanted)
    return lookup


def _exact(
    conn: Connection,
    column: Any,
    values: Sequence[str],
    since: datetime,
    fetched: dict[tuple[str, int], datetime] | None = None,
) -> dict[str, dict[int, datetime]]:
    """value -> {story id: last seen} of the stories in the window holding an article with
    that value; with `fetched`, also when each (value, story)'s newest article was fetched."""
    found: dict[str, dict[int, datetime]] = defaultdict(dict)
    statement = _exact_statement(column.name, fetched is not None)
    for chunk in chunks(values):
        for row in conn.execute(statement, {"values": list(chunk), "since": since}):
            found[row.value][int(row.id)] = row.last_seen_at
            if fetched is not None:
                fetched[(row.value, int(row.id))] = row.fetched_at
    return found


@cache
def _exact_statement(name: str, with_fetched: bool, values: str = "values") -> Any:
    """(value, story) pairs from the covering index first, then their stories: a value
    carried by many articles (a wire story in a hundred feeds) joined every one of them to
    its story and grouped them again, 4-5 times the CPU of this. Built once per column:
    building it per call was a third of the lookup's CPU (py-spy, bench/ingest.py).
    `with_fetched` adds the newest fetch time of each pair, which the (content_hash,
    story_id, fetched_at) index also holds (migration 0011)."""
    column = articles.c[name]
    if with_fetched:
        pairs = (
            select(
                column.label("value"),
                articles.c.story_id,
                func.max(articles.c.fetched_at).label("fetched_at"),
            )
            .where(column.in_(bindparam(values, expanding=True)))
            .group_by(column, articles.c.story_id)
            .subquery("pairs")
        )
    else:
        pairs = (
            select(column.label("value"), articles.c.story_id)
            .where(column.in_(bindparam(values, expanding=True)))
            .distinct()
            .subquery("pairs")
        )
    extra = [pairs.c.fetched_at] if with_fetched else []
    return (
        select(pairs.c.value, stories.c.id, stories.c.last_seen_at, *extra)
        .join_from(pairs, stories, pairs.c.story_id == stories.c.id)
        .where(stories.c.last_seen_at >= bindparam("since", type_=stories.c.last_seen_at.type))
    )


@cache
def _exact_both_statement() -> Any:
    """The canonical-URL and content-hash lookups of `_exact` as one UNION ALL, each row
    marked with its kind ("u" or "h"); the URL rows carry no fetch time."""
    url = _exact_statement("canonical_url", False, "urls").subquery("by_url")
    content = _exact_statement("content_hash", True, "hashes").subquery("by_hash")
    # The result's types are the first select's: the hash rows', whose fetch time is typed.
    return union_all(
        select(
            literal_column("'h'").label("kind"),
            content.c.value,
            content.c.id,
            content.c.last_seen_at,
            content.c.fetched_at,
        ),
        select(
            literal_column("'u'").label("kind"),
            url.c.value,
            url.c.id,
            url.c.last_seen_at,
            type_coerce(null(), articles.c.fetched_at.type).label("fetched_at"),
        ),
    )


_ARMS = (32, 64, 128, 256, 448)  # band values per statement; SQLite allows 500 UNION arms
_NO_VALUE = -1  # pads the unused arms: stored values are never negative


@cache
def _band_rows_statement(arms: int) -> Any:
    """One seek of the key per band value, newest first, at most `ROWS_PER_BAND` rows each
    (reading every row of a common value made lookups 20 times slower), `arms` values in one
    UNION ALL; built once per size, so SQLAlchemy compiles it once."""
    since: Any = bindparam("since")

    def arm(n: int) -> Any:
        return (
            select(story_bands.c.band_hash, story_bands.c.created, story_bands.c.article_id)
            .where(story_bands.c.band_hash == bindparam(f"h{n}"), story_bands.c.created >= since)
            .order_by(story_bands.c.created.desc(), story_bands.c.article_id.desc())
            .limit(literal_column(str(ROWS_PER_BAND), Integer))
            .offset(literal_column("0", Integer))  # SQLite otherwise gets an OFFSET parameter
            .subquery(f"v{n}")
        )

    return union_all(
        *(
            select(rows.c.band_hash, rows.c.created, rows.c.article_id)
            for rows in map(arm, range(arms))
        )
    )


def _band_seeks(conn: Connection, values: Sequence[int], since: int) -> Iterator[Any]:
    """(value, created, article id) rows of `_band_rows`, read the way the database plans
    best: on PostgreSQL one seek per element of an array (LATERAL), whose plan does not
    grow with the number of values (the UNION of 128 seeks took 1.4-1.6 ms a lookup there,
    the LATERAL one 0.4, on 300,000 rows); SQLite has no LATERAL and takes the UNION."""
    if not values:
        return
    if conn.dialect.name == "postgresql":
        yield from conn.execute(_LATERAL_BAND_ROWS, {"values": list(values), "since": since})
        return
    for start in range(0, len(values), _ARMS[-1]):
        chunk = values[start : start + _ARMS[-1]]
        arms = next(size for size in _ARMS if size >= len(chunk))
        params: dict[str, Any] = {"since": since}
        params.update({f"h{n}": _NO_VALUE for n in range(arms)})
        params.update({f"h{n}": value for n, value in enumerate(chunk)})
        yield from driver_rows(conn, _band_rows_statement(arms), params)


_LATERAL_BAND_ROWS = text(
    "SELECT b.band_hash, b.created, b.article_id"
    " FROM unnest(CAST(:values AS BIGINT[])) AS v(value)"
    " CROSS JOIN LATERAL (SELECT band_hash, created, article_id FROM story_bands"
    " WHERE band_hash = v.value AND created >= :since"
    f" ORDER BY created DESC, article_id DESC LIMIT {ROWS_PER_BAND}) AS b"
)


def _band_rows(
    conn: Connection,
    values: Sequence[int],
    since: datetime,
    created_of: dict[int, int] | None = None,
) -> dict[int, list[int]]:
    """The newest `ROWS_PER_BAND` article ids in the window of each band value, newest first
    (ties of the same second by the larger id first); `created_of` gets each article's row
    time."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for value, created, article_id in _band_seeks(conn, values, _seconds(since)):
        found[value].append((created, article_id))
        if created_of is not None:
            created_of[article_id] = created
    # A UNION ALL promises no order: each value's rows are put newest first here.
    return {value: [a for _, a in sorted(rows, reverse=True)] for value, rows in found.items()}


def _fetch_signatures(conn: Connection, lookup: _Lookup, article_ids: Iterable[int]) -> None:
    missing = sorted(set(article_ids) - lookup.signatures.keys())
    for chunk in chunks(missing):
        for article_id in chunk:
            lookup.signatures[article_id] = None  # not a candidate: no story or no signature
        rows = conn.execute(_SIGNATURES, {"ids": chunk})
        for row in rows:
            signature = dedup.signature_from_bytes(row.signature)
            lookup.signatures[int(row.id)] = _Candidate(int(row.id), int(row.story_id), signature)
            # The headline guard (kept_apart) asks for the title of the story a candidate
            # wins: read here, not one statement per winning story inside the story lock
            # (py-spy of bench/workers.py on PostgreSQL: 11% of the writer thread's time).
            lookup.titles.setdefault(int(row.story_id), row.title or "")


_SIGNATURES = (
    select(articles.c.id, articles.c.story_id, articles.c.signature, stories.c.title)
    .join(stories, stories.c.id == articles.c.story_id)
    .where(
        articles.c.id.in_(bindparam("ids", expanding=True)),
        articles.c.signature.is_not(None),
    )
)


# --- decide, article by article, in memory ----------------------------------------------


def _find_in(conn: Connection, lookup: _Lookup, item: _Keyed) -> tuple[int | None, bool]:
    """The story `item` joins (None: a new one), and whether an exact signal joined it."""
    story, by_url = _exact_story(lookup, item.article)
    exact = story is not None
    if story is None:
        story = _similar_story(conn, lookup, item)
        # Issue 9: a near-copy whose headline flips the story's event (closes / reopens) is
        # a different event; the rule and its measurement are core.developments.kept_apart's.
        if story is not None and kept_apart(item.article.title, _story_title(conn, lookup, story)):
            story = None
    article = item.article
    # The same page (canonical URL) is the same report however late; the same headline
    # with nothing else may be tomorrow's edition of it (core.developments.next_edition).
    if (
        story is not None
        and not by_url
        and not article.text.strip()
        and next_edition(article.text, article.published_at, _story_published(conn, lookup, story))
    ):
        story = None
    return story, exact


# The newest reports of a story the next-edition guard compares with.
_EDITION_REPORTS = 20


def _story_published(conn: Connection, lookup: _Lookup, story: int) -> list[datetime]:
    if story < 0:
        return lookup.batch_published.get(story, [])
    if story not in lookup.published:
        rows = conn.execute(
            select(articles.c.published_at)
            .where(articles.c.story_id == story)
            .order_by(articles.c.id.desc())
            .limit(_EDITION_REPORTS)
        ).scalars()
        lookup.published[story] = [r for r in rows if r is not None]
    return [*lookup.published[story], *lookup.batch_published.get(story, ())]


def _story_title(conn: Connection, lookup: _Lookup, story: int) -> str:
    """The title a story was started with (of the batch's new stories: their first article)."""
    if story not in lookup.titles:
        title = conn.execute(select(stories.c.title).where(stories.c.id == story)).scalar()
        lookup.titles[story] = title or ""
    return lookup.titles[story]


def _exact_story(lookup: _Lookup, article: NewArticle) -> tuple[int | None, bool]:
    """The story an exact signal joins, and whether the signal was the canonical URL."""
    signals = [(lookup.batch_hashes, lookup.by_hash, article.content_hash, False)]
    if article.canonical_url:
        signals.insert(0, (lookup.batch_urls, lookup.by_url, article.canonical_url, True))
    for batch, stored, value, is_url in signals:
        # The story seen last of those carrying the value; the batch's are seen just now.
        seen = {
            story: lookup.last_seen.get(story, at) for story, at in stored.get(value, {}).items()
        }
        if value in batch:
            seen[batch[value]] = lookup.last_seen[batch[value]]
        if seen:
            return max(seen, key=lambda story: (seen[story], story)), is_url
    return None, False


def _ranked(lookup: _Lookup, item: _Keyed, *, batch: bool = True) -> list[int]:
    """The article ids the band index offers `item`: per band value the newest rows (the
    batch's earlier articles first, they are the newest), ranked by agreeing bands."""
    agreeing: Counter[int] = Counter()
    for value in item.bands:
        earlier = lookup.batch_bands.get(value, []) if batch else []
        rows = (earlier + lookup.band_rows.get(value, []))[:ROWS_PER_BAND]
        agreeing.update(rows)
    agreeing.pop(item.article.article_id, None)
    ranked = sorted(agreeing, key=lambda article_id: (-agreeing[article_id], -article_id))
    return ranked[:MAX_CANDIDATES]


def _similar_story(conn: Connection, lookup: _Lookup, item: _Keyed) -> int | None:
    offered = _ranked(lookup, item)
    _fetch_signatures(conn, lookup, (a for a in offered if a not in lookup.batch_candidates))
    candidates = []
    for article_id in sorted(offered):
        candidate = lookup.batch_candidates.get(article_id) or lookup.signatures.get(article_id)
        if candidate is not None:
            candidates.append(candidate)
    return _accepted(item, candidates)


def _offered(
    conn: Connection, values: Sequence[int], article_id: int, since: datetime
) -> list[int]:
    """The ids of the candidates the band index offers for stored band `values`, by id
    (what `_accepted` is given); for tests and bench/stories.py."""
    dummy = NewArticle(article_id, "", "", None, "", since)
    item = _Keyed(dummy, dedup.stored_form(dedup.minhash("", "")), b"", list(values))
    lookup = _Lookup(since=since, band_rows=_band_rows(conn, list(dict.fromkeys(values)), since))
    offered = _ranked(lookup, item)
    _fetch_signatures(conn, lookup, offered)
    return [a for a in sorted(offered) if lookup.signatures.get(a) is not None]


def _accepted(item: _Keyed, candidates: Sequence[_Candidate]) -> int | None:
    """The one place a candidate story is accepted or rejected: the most similar candidate
    (the oldest article of equals; `candidates` are by article id) if it is a near copy."""
    if not candidates:
        return None
    signatures = dedup.signature_matrix([c.signature for c in candidates])
    best = dedup.best_match(item.signature, signatures)
    return None if best is None else candidates[best].story_id


def _remember(lookup: _Lookup, item: _Keyed, story: int, now: datetime, written: list[int]) -> None:
    """What the batch's later articles see of this one: as if its rows were written."""
    article = item.article
    lookup.last_seen[story] = max(now, lookup.last_seen.get(story, now))
    lookup.batch_published.setdefault(story, []).append(article.published_at)
    if story < 0:  # new in the batch: titled by its first article, as _apply will store it
        lookup.titles.setdefault(story, article.title)
    if article.canonical_url:
        lookup.batch_urls[article.canonical_url] = story
    lookup.batch_hashes[article.content_hash] = story
    lookup.batch_pairs.add((article.content_hash, story))
    for value in written:
        lookup.batch_bands.setdefault(value, []).insert(0, article.article_id)
    lookup.batch_candidates[article.article_id] = _Candidate(
        article.article_id, story, item.signature
    )


# --- apply: one statement per kind of row -----------------------------------------------


def _apply(
    conn: Connection,
    keyed: Sequence[_Keyed],
    decided: list[int],
    new_titles: list[str],
    now: datetime,
    written: Sequence[list[int]],
) -> list[int]:
    created: list[int] = []
    joined = Counter(decided)
    if new_titles:
        rows = conn.execute(
            insert(stories).returning(stories.c.id, sort_by_parameter_order=True),
            [
                {
                    "title": title,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "article_count": joined.pop(-n - 1),
                }
                for n, title in enumerate(new_titles)
            ],
        )
        created = [int(row.id) for row in rows]
    story_ids = [created[-story - 1] if story < 0 else story for story in decided]
    assigned = [
        (story, item.blob, item.article.article_id)
        for item, story in zip(keyed, story_ids, strict=True)
    ]
    created_at = _seconds(now)
    # In key order: each insert then lands next to the one before in the index, not on a
    # random page of it.
    bands = sorted(
        (value, created_at, item.article.article_id)
        for item, values in zip(keyed, written, strict=True)
        for value in values
    )
    if conn.dialect.name == "postgresql":
        _write_assignment_postgresql(conn, joined, now, assigned, bands)
        return story_ids
    if joined:  # the existing stories the batch joined
        _count_articles(conn, joined, now)
    update_plain_rows(conn, articles, "id", ("story_id", "signature"), assigned)
    insert_plain_rows(conn, story_bands, ("band_hash", "created", "article_id"), bands)
    return story_ids


def _write_assignment_postgresql(
    conn: Connection,
    joined: Counter[int],
    now: datetime,
    assigned: Sequence[tuple[int, bytes, int]],
    bands: Sequence[tuple[int, int, int]],
) -> None:
    """The three writes of an assignment (the joined stories' counts, the articles' story
    and signature, the band rows) as one statement of data-modifying CTEs over arrays: on
    PostgreSQL each statement is a round trip made while the story lock is held, which the
    other workers wait for."""
    conn.execute(
        _POSTGRESQL_ASSIGNMENT,
        {
            "story_ids": list(joined),
            "joined": list(joined.values()),
            "seen": now,
            "article_ids": [article for _, _, article in assigned],
            "article_stories": [story for story, _, _ in assigned],
            "signatures": [blob for _, blob, _ in assigned],
            "band_hashes": [value for value, _, _ in bands],
            "band_created": [created for _, created, _ in bands],
            "band_articles": [article for _, _, article in bands],
        },
    )


# last_seen_at: the larger, as _count_statement (a worker whose batch started earlier must
# not move it back). PostgreSQL runs every data-modifying CTE to completion whether or not
# the main query reads it.
_POSTGRESQL_ASSIGNMENT = text(
    """
    WITH counted AS (
        UPDATE stories AS s
        SET article_count = s.article_count + v.joined,
            last_seen_at = GREATEST(s.last_seen_at, :seen)
        FROM unnest(CAST(:story_ids AS BIGINT[]), CAST(:joined AS BIGINT[])) AS v(id, joined)
        WHERE s.id = v.id
    ), assigned AS (
        UPDATE articles AS a
        SET story_id = v.story_id, signature = v.signature
        FROM unnest(
            CAST(:article_ids AS BIGINT[]),
            CAST(:article_stories AS BIGINT[]),
            CAST(:signatures AS BYTEA[])
        ) AS v(id, story_id, signature)
        WHERE a.id = v.id
    ), indexed AS (
        INSERT INTO story_bands (band_hash, created, article_id)
        SELECT * FROM unnest(
            CAST(:band_hashes AS BIGINT[]),
            CAST(:band_created AS BIGINT[]),
            CAST(:band_articles AS BIGINT[])
        )
    )
    SELECT 1
    """
).bindparams(bindparam("seen", type_=stories.c.last_seen_at.type))


def _count_articles(conn: Connection, joined: Counter[int], now: datetime) -> None:
    conn.execute(
        _count_statement(),
        [{"story": story, "joined": count, "seen": now} for story, count in joined.items()],
    )


@cache
def _count_statement() -> Any:
    seen = bindparam("seen", type_=stories.c.last_seen_at.type)
    last_seen = stories.c.last_seen_at
    return (
        update(stories)
        .where(stories.c.id == bindparam("story"))
        .values(
            article_count=stories.c.article_count + bindparam("joined"),
            # max(), not now: a worker whose batch started earlier must not move it back
            last_seen_at=case((last_seen < seen, seen), else_=last_seen),
        )
    )


def prune_bands(conn: Connection, older_than: datetime) -> int:
    """Drop band rows created before `older_than` (now - window); returns how many."""
    result = conn.execute(delete(story_bands).where(story_bands.c.created < _seconds(older_than)))
    return int(result.rowcount or 0)


def list_stories(conn: Connection, since: datetime | None = None) -> list[dict[str, Any]]:
    """Stories seen since `since` (all without it), newest first, with articles and outlets.

    Plain dicts with stable keys, for `monitor stories list --format json|table`. `outlets`
    are the outlets as digests name them (two feeds of one outlet are one outlet), `feeds`
    the feed names that `--feed` options take.
    """
    found = conn.execute(
        select(stories)
        .where(stories.c.last_seen_at >= since if since is not None else true())
        .order_by(stories.c.last_seen_at.desc(), stories.c.id.desc())
    ).all()
    members_of = _articles_of(conn, [row.id for row in found])
    listed = []
    for row in found:
        members = members_of.get(row.id, [])
        listed.append(
            {
                "id": row.id,
                "title": row.title,
                "first_seen_at": row.first_seen_at,
                "last_seen_at": row.last_seen_at,
                "article_count": row.article_count,
                "outlets": sorted({member["outlet"] for member in members}),
                "feeds": sorted({member["feed"] for member in members}),
                "articles": members,
            }
        )
    return listed


def _articles_of(conn: Connection, story_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not story_ids:
        return {}
    rows = conn.execute(
        select(
            articles.c.id,
            articles.c.story_id,
            articles.c.title,
            articles.c.url,
            articles.c.published_at,
            feeds.c.name.label("feed"),
            outlet_name().label("outlet"),
        )
        .join(feeds, feeds.c.id == articles.c.feed_id)
        .where(articles.c.story_id.in_(story_ids))
        .order_by(articles.c.published_at, articles.c.id)
    ).all()
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row.story_id, []).append(
            {
                "id": row.id,
                "title": row.title,
                "url": row.url,
                "published_at": row.published_at,
                "feed": row.feed,
                "outlet": row.outlet,
            }
        )
    return grouped
