"""`monitor explain URL|ARTICLE_ID`: the life of one stored article, from the fetch that brought
it to the digests it reached, or why it did not. Read-only; the facts are flows/explain.py's."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from monitor.app import load_watchlists_once, semantic_indexes
from monitor.cli.common import database_from
from monitor.cli.output import print_json
from monitor.flows.explain import ExplainReport, explain_article


def register(subparsers: Any) -> None:
    explain = subparsers.add_parser(
        "explain",
        help="trace one stored article: feed, identity, story, scores, digests, or why not",
    )
    explain.add_argument(
        "reference", metavar="URL|ARTICLE_ID", help="the article's link (any form) or its id"
    )
    explain.add_argument("--format", choices=("text", "json"), default="text")
    explain.set_defaults(func=explain_command)


def explain_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    settings, engine = database_from(args)
    try:
        watchlists = load_watchlists_once(settings)
        semantic = semantic_indexes(settings)(watchlists)
        report = explain_article(engine, args.reference, watchlists, semantic)
    finally:
        engine.dispose()
    if report is None:
        print(f"monitor: explain: no stored article is {args.reference!r}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json(report.as_dict(), out)
    else:
        print_text(report, out)
    return 0


def print_text(report: ExplainReport, out: TextIO) -> None:
    a = report.article
    print(f"article {a.article_id}: {a.title or '(no title)'}", file=out)
    if a.url:
        print(f"  {a.url}", file=out)
    print(
        f"  published {a.published_at:%Y-%m-%d %H:%M} UTC; stored "
        f"{a.member.fetched_at:%Y-%m-%d %H:%M} UTC" + (" (text pruned)" if a.text is None else ""),
        file=out,
    )
    status = a.feed_last_status if a.feed_last_status is not None else "-"
    print(f"feed {a.feed}: {a.feed_url} (last status {status})", file=out)
    identity = report.identity
    line = f"identity: {identity.decision}"
    if identity.decision == "edited":
        line += f" (updated {a.member.updated_at:%Y-%m-%d %H:%M} UTC)"
    print(line, file=out)
    for other, feed, by in identity.same_as:
        what = "canonical URL" if by == "url" else "text"
        print(f"  same {what} as article {other} of feed {feed}", file=out)
    if report.also_found:
        print(f"  the URL also names articles {', '.join(map(str, report.also_found))}", file=out)
    story = f"story {a.story_id} ({report.story_size} articles)" if a.story_id else "story: none"
    print(f"{story}: {report.story.words()}", file=out)
    for verdict in report.watchlists:
        score = f"{verdict.score:g}" if verdict.score is not None else "-"
        threshold = f"{verdict.threshold:g}" if verdict.threshold is not None else "-"
        print(
            f"watchlist {verdict.watchlist_id}: {verdict.outcome.value} "
            f"(score {score}, threshold {threshold}): {verdict.detail}",
            file=out,
        )
        explanation = verdict.explanation or {}
        if verdict.outcome.value == "not_covered":
            continue
        for term in explanation.get("terms", []):
            print(
                f"    {term['term']}: +{term['contribution']:g} (title {term['title_count']}, "
                f"body {term['body_count']})",
                file=out,
            )
            for snippet in term.get("snippets", []):
                print(f"      {snippet}", file=out)
        for near in explanation.get("near", []):
            print(
                f"    near {' + '.join(near['terms'])} within {near['within']} words: "
                f"+{near['bonus']:g}",
                file=out,
            )
