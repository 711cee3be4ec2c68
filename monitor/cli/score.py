"""`monitor score PATH...`: score article files against the watchlists and explain why.

The same scoring as a poll: the lexical score (core.scoring) with the semantic part of the
watchlists that have examples, from an index built on every loaded watchlist (as the daemon
builds it), so `--watchlist` narrows what is shown and never changes a score.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from monitor.adapters.embed import build_index, folder_sources
from monitor.adapters.files.articles import ArticleInput, article_files, read_articles
from monitor.adapters.files.watchlists import display_path, load_watchlists
from monitor.cli.output import print_json_line
from monitor.cli.watchlists import watchlist_context
from monitor.core.matcher import compile_matcher
from monitor.core.scoring import Score, score_watchlists
from monitor.core.semantic_features import article_features
from monitor.errors import ConfigError, InputError, ParseError


def register(subparsers: Any) -> None:
    score = subparsers.add_parser(
        "score",
        help="score article files against the watchlists and explain the scores",
        description="A .txt file is an article whose first line is the title; a .html file "
        "is an article page; a .jsonl file holds one article per line with title, summary "
        "and/or content, optional id and url.",
    )
    score.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help=".txt, .html or .jsonl files, or folders of them",
    )
    score.add_argument(
        "--watchlist",
        dest="watchlists",
        action="append",
        metavar="ID",
        help="only this watchlist (repeat for several; default: all)",
    )
    score.add_argument(
        "--watchlist-dir",
        type=Path,
        metavar="DIR",
        help="read watchlists from DIR (default: the config's, else ./watchlists)",
    )
    score.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default) or one JSON object per line",
    )
    score.set_defaults(func=score_command)


def result_json(article: ArticleInput, score: Score) -> dict[str, Any]:
    """One output line: the issue's keys first, then `missing` and `near` for the gates."""
    explanation = score.explanation()
    return {
        "article": article.id,
        "watchlist": score.watchlist_id,
        "score": score.score,
        "matched": score.matched,
        "alert": score.alert,
        "vetoed_by": score.vetoed_by,
        "terms": explanation["terms"],
        "missing": explanation["missing"],
        "near": explanation["near"],
        # Only for watchlists with examples, as in the stored explanation.
        **({"semantic": explanation["semantic"]} if "semantic" in explanation else {}),
    }


def score_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    directory, channels, _note = watchlist_context(args.config)
    directory = args.watchlist_dir or directory
    loaded = load_watchlists(directory, known_channels=channels)
    status = 0
    for problems in loaded.problems.values():
        status = 1
        for problem in problems:
            print(problem, file=sys.stderr)
    available = {w.id for w in loaded.watchlists}
    wanted = args.watchlists or sorted(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ConfigError(
            f"unknown or invalid watchlist {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(available)) or 'none'} (in {directory})"
        )
    files = input_files(args.paths)
    matcher = compile_matcher(w for w in loaded.watchlists if w.id in wanted)
    index, skipped = build_index(folder_sources(loaded.watchlists, directory))
    for problem in skipped:
        status = 1  # that watchlist scores by its terms alone, as in the daemon
        print(f"monitor: semantic part skipped: {problem}", file=sys.stderr)
    for path in files:
        try:
            articles = read_articles(path)
        except ParseError as exc:
            print(f"monitor: input: {exc}", file=sys.stderr)
            status = 2  # the input must be fixed; the other files are still scored
            continue
        similar = (
            index.scores([article_features(a.title, a.text) for a in articles], wanted)
            if index is not None and articles
            else [None] * len(articles)
        )
        for article, semantic in zip(articles, similar, strict=True):
            results = score_watchlists(matcher, article.title, article.text, semantic=semantic)
            if args.format == "json":
                for _, score in results:
                    print_json_line(result_json(article, score), out)
            else:
                print_text(article, [score for _, score in results], out)
    return status


def input_files(paths: list[Path]) -> list[Path]:
    """The article files the arguments name; InputError (exit 2) for a path that does not
    exist or a folder with no article file in it, before anything is scored."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{display_path(path)}: no such file or folder")
        if path.is_dir() and not list(article_files([path])):
            raise InputError(
                f"{display_path(path)}: no .txt, .html, .htm or .jsonl files in this folder"
            )
    return list(article_files(paths))


def print_text(article: ArticleInput, scores: list[Score], out: TextIO) -> None:
    print(f"{article.id}: {article.title or '(no title)'}", file=out)
    for score in scores:
        if score.matched:
            verdict = "MATCH, ALERT" if score.alert else "MATCH"
        elif score.vetoed_by:
            verdict = f"vetoed by exclude {score.vetoed_by!r}"
        elif score.missing:
            groups = "; ".join(" or ".join(group) for group in score.missing)
            verdict = f"no match: require needs {groups}"
        else:
            verdict = "no match"
        limits = f"threshold {score.threshold:g}"
        if score.alert_threshold is not None:
            limits += f", alert {score.alert_threshold:g}"
        print(f"  {score.watchlist_id}: {score.score:g} ({limits}): {verdict}", file=out)
        for term in score.terms:
            print(
                f"    {term.term}: +{term.contribution:g} (title {term.title_count}, "
                f"body {term.body_count})",
                file=out,
            )
            for snippet in term.snippets:
                print(f"      {snippet}", file=out)
        for near in score.near:
            print(
                f"    near {' + '.join(near.terms)} within {near.within} words: +{near.bonus:g}",
                file=out,
            )
        if score.semantic is not None:
            print(f"    {score.semantic.describe()}", file=out)
            if score.require_met_by_semantic:
                print("    require: met by similarity (the article names no term)", file=out)
    print(file=out)
