"""Benchmark: scoring throughput against the number of terms, and against one regex per term.

Articles of about 5 KB (English-like text with Turkish names, a few term mentions each) are
scored against watchlists of 50 terms each: 1, 10 and 100 watchlists, so 50, 500 and 5,000
terms, all compiled into one matcher. The mentions are of terms of the first watchlist, which
every set contains, so every run finds the same hits and only the number of terms differs.
The same run measures the naive baseline, one compiled regular expression per term over the
folded text, on a few articles only (it needs about a second per article at 5,000 terms),
and prints the ratios. It also times rebuilding the matcher for 5,000 terms, which happens
whenever a watchlist file changes.

    /work/venv/bin/python bench/scoring.py [--articles 300] [--naive-articles 3] [--seed 7]

Targets (issue 3): time per article grows < 1.5x from 50 to 5,000 terms; >= 1,000x the naive
baseline at 5,000 terms; rebuild < 50 ms for 5,000 terms. A rebuild after an edit reuses
what unchanged watchlists and spellings compiled to (remembered in matcher.py); the first
build of a process compiles everything, and is shown too.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence

from monitor.core.folding import fold, fold_text, spelling_pieces
from monitor.core.matcher import _compile_watchlist, _spelling_patterns, compile_matcher
from monitor.core.scoring import contribution, score_watchlists
from monitor.core.watchlist import Term, Watchlist

TERMS_PER_WATCHLIST = 50
COMMON_TEXT = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when "
    "what will more if no out so said up about than into them can only other new some could "
    "time these two may then first any like now my such make over our even most me state "
    "after also made many did must before back see through way where get much go well your "
    "know should down work year because come people just say each those take day good how "
    "long minister talks government army border officials meeting defence deal sanctions "
    "agreement week reported statement analysts forces troops region security pressure"
)
COMMON = COMMON_TEXT.split()
SYLLABLES_TEXT = "ka ri to men sul dar ba lik ye ni os tan gor vi el mur sa del kir an ov ski"
SYLLABLES = SYLLABLES_TEXT.split()


def made_up_name(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
    return word.capitalize()


def make_terms(rng: random.Random, count: int) -> list[Term]:
    """Names, designations, multi-word names and stems, unlike any common word."""
    terms: list[Term] = []
    seen: set[str] = set()
    while len(terms) < count:
        kind = rng.random()
        if kind < 0.5:
            match = made_up_name(rng)
        elif kind < 0.7:
            match = f"{rng.choice('BFSTKM')}{rng.choice(['', '-'])}{rng.randint(10, 999)}"
            match = f"Q{match}"  # a letter prefix no common text has
        elif kind < 0.9:
            match = f"{made_up_name(rng)} {made_up_name(rng)}"
        else:
            match = made_up_name(rng) + "*"
        key = fold_text(match.rstrip("*"))
        if key in seen:
            continue
        seen.add(key)
        aliases = (match.replace("a", "á", 1),) if rng.random() < 0.3 and "*" not in match else ()
        terms.append(Term(match, aliases, float(rng.randint(1, 5)), rng.random() < 0.05))
    return terms


def make_watchlists(terms: Sequence[Term]) -> list[Watchlist]:
    return [
        Watchlist(
            id=f"w{index:03d}",
            name=f"w{index}",
            threshold=4.0,
            terms=tuple(terms[start : start + TERMS_PER_WATCHLIST]),
        )
        for index, start in enumerate(range(0, len(terms), TERMS_PER_WATCHLIST))
    ]


def make_article(rng: random.Random, terms: Sequence[Term], size: int = 5000) -> tuple[str, str]:
    words: list[str] = []
    length = 0
    while length < size:
        if rng.random() < 0.004:
            word = rng.choice(terms).match.rstrip("*") + rng.choice(["", "'de", "s"])
        elif rng.random() < 0.02:
            word = rng.choice(["Erdoğan", "İstanbul", "Çavuşoğlu", "Ankara’s", "S–400"])
        else:
            word = rng.choice(COMMON)
        words.append(word)
        length += len(word) + 1
        if rng.random() < 0.07:
            words[-1] += rng.choice([".", ",", ";"])
    title = " ".join(rng.choice(COMMON) for _ in range(8)).capitalize()
    return title, " ".join(words)


def naive_scorer(terms: Sequence[Term]) -> Callable[[str, str], float]:
    """One compiled regex per term over the folded text: what the issue calls the baseline."""
    compiled = []
    for term in terms:
        bodies = []
        for spelling in term.spellings:
            pieces, tight = spelling_pieces(fold_text(spelling.rstrip("*")))
            bodies.append(
                re.escape(pieces[0])
                + "".join(
                    (r"[\W_]*" if is_tight else r"[\W_]+") + re.escape(piece)
                    for piece, is_tight in zip(pieces[1:], tight, strict=True)
                )
            )
        tail = r"[^\W_]*" if term.match.endswith("*") else r"s?(?![^\W_])"
        pattern = re.compile(rf"(?<![^\W_])(?:{'|'.join(bodies)}){tail}")
        compiled.append((term.weight, pattern))

    def score(title: str, text: str) -> float:
        folded_title, folded_text = fold(title).text, fold(text).text
        total = 0.0
        for weight, pattern in compiled:
            in_title = len(pattern.findall(folded_title))
            in_body = len(pattern.findall(folded_text))
            total += contribution(weight, in_title, in_body)
        return total

    return score


def per_article(run: Callable[[str, str], object], articles: Sequence[tuple[str, str]]) -> float:
    """Seconds per article: the best of a few passes, the least disturbed by other work on a
    shared machine (the first call warms caches)."""
    run(*articles[0])
    passes = []
    for _ in range(5):
        started = time.perf_counter()
        for title, text in articles:
            run(title, text)
        passes.append((time.perf_counter() - started) / len(articles))
    return min(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--naive-articles", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    all_terms = make_terms(rng, 5000)
    articles = [make_article(rng, all_terms[:TERMS_PER_WATCHLIST]) for _ in range(args.articles)]
    size = statistics.mean(len(t) + len(b) for t, b in articles)
    print(
        f"{len(articles)} articles of {size / 1000:.1f} KB on average; "
        f"{TERMS_PER_WATCHLIST} terms per watchlist\n"
    )
    print(
        f"{'terms':>6} {'watchlists':>10} {'matcher/s':>10} {'µs/article':>11} "
        f"{'naive/s':>9} {'speed-up':>9}"
    )
    timings: dict[int, float] = {}
    for count in (50, 500, 5000):
        terms = all_terms[:count]
        matcher = compile_matcher(make_watchlists(terms))
        ours = per_article(
            lambda title, text, m=matcher: score_watchlists(m, title, text), articles
        )
        naive = per_article(naive_scorer(terms), articles[: args.naive_articles])
        timings[count] = ours
        print(
            f"{count:>6} {count // TERMS_PER_WATCHLIST:>10} {1 / ours:>10.0f} {ours * 1e6:>11.0f} "
            f"{1 / naive:>9.1f} {naive / ours:>8.0f}x"
        )
    print(
        f"\ntime per article, 5,000 terms vs 50: {timings[5000] / timings[50]:.2f}x (target < 1.5x)"
    )
    watchlists = make_watchlists(all_terms)
    for label, cold in (
        ("first build, nothing remembered", True),
        ("rebuild after one watchlist was edited", False),
    ):
        builds = []
        for attempt in range(7):
            if cold:
                _spelling_patterns.cache_clear()
                _compile_watchlist.cache_clear()
            else:  # an edit: one watchlist gets a new term, the other 99 are unchanged
                first = watchlists[0]
                edited = dataclasses.replace(first, terms=(*first.terms, Term(f"Edit{attempt}")))
                watchlists = [edited, *watchlists[1:]]
            started = time.perf_counter()
            compile_matcher(watchlists)
            builds.append(time.perf_counter() - started)
        print(
            f"matcher for 5,000 terms, {label}: {statistics.median(builds) * 1000:.1f} ms "
            f"(best {min(builds) * 1000:.1f})"
        )
    print("(target for the rebuild: < 50 ms)")


if __name__ == "__main__":
    main()
