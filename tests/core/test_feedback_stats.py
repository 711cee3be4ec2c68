"""core/feedback_stats.py and core/label_replay.py on plain data: what counts in the window,
which term is noisy, and that every suggested edit is what a replay of the labels says."""

from __future__ import annotations

from datetime import timedelta

from fixed_time import NOW

from monitor.core.backtest import StoredArticle
from monitor.core.feedback_stats import StoredMatch, StoryLabel, watchlist_stats
from monitor.core.label_replay import LabelledArticle, replay_labels
from monitor.core.states import FeedbackLabel
from monitor.core.watchlist import parse_watchlist

RELEVANT, IRRELEVANT = FeedbackLabel.RELEVANT, FeedbackLabel.IRRELEVANT
WATCHLIST = parse_watchlist(
    'name = "x"\nthreshold = 4\nchannels = ["local"]\n'
    '[[terms]]\nmatch = "S-400"\nweight = 4\n[[terms]]\nmatch = "CAATSA"\nweight = 4\n',
    watchlist_id="x",
    source="x.toml",
)
SINCE = NOW - timedelta(days=30)


def article(article_id: int, text: str, title: str = "") -> StoredArticle:
    return StoredArticle(article_id, article_id, None, title, text, None, "desk")


def match(article_id: int, *terms: str, days_ago: float = 1, alerted: bool = False) -> StoredMatch:
    return StoredMatch(article_id, article_id, NOW - timedelta(days=days_ago), alerted, terms)


ARTICLES = {
    1: article(1, "Turkey activates the S-400 near Ankara despite CAATSA warnings."),
    2: article(2, "Senators want a CAATSA waiver for allies."),
    3: article(3, "The Mercedes S-400 sedan has a quiet cabin."),
    4: article(4, "A used Mercedes S400 costs a third less."),
}
LABELS = [
    StoryLabel(1, 1, RELEVANT),
    StoryLabel(2, 2, RELEVANT),
    StoryLabel(3, 3, IRRELEVANT),
    StoryLabel(4, 4, IRRELEVANT),
]
MATCHES = [
    match(1, "S-400", "CAATSA", alerted=True),
    match(2, "CAATSA"),
    match(3, "S-400"),
    match(4, "S-400", days_ago=2),
]


def test_counts_precision_and_the_noisy_term() -> None:
    stats = watchlist_stats(
        WATCHLIST, MATCHES, LABELS, list(ARTICLES.values()), since=SINCE, now=NOW
    )
    assert (stats.matches, stats.stories, stats.alerts) == (4, 4, 1)
    assert [n for _, n in stats.per_day] == [1, 3]
    assert (stats.labelled, stats.precision, stats.labelled_share) == (4, 0.5, 1.0)
    assert [(t.term, t.relevant, t.irrelevant, t.noisy) for t in stats.terms] == [
        ("S-400", 1, 2, True),
        ("CAATSA", 2, 0, False),
    ]
    [noisy] = stats.noisy
    exclude = noisy.edits[0]
    assert (exclude.kind, exclude.toml) == ("exclude", 'exclude = ["Mercedes"]')
    assert (exclude.removes_irrelevant, exclude.loses_relevant) == (2, 0)
    assert (exclude.before.precision, exclude.after.precision) == (0.5, 1.0)


def test_a_word_of_a_relevant_article_is_never_suggested() -> None:
    articles = {**ARTICLES, 1: article(1, "Mercedes? No: the S-400 missile system, near Ankara.")}
    stats = watchlist_stats(
        WATCHLIST, MATCHES, LABELS, list(articles.values()), since=SINCE, now=NOW
    )
    [noisy] = stats.noisy
    excludes = [e for e in noisy.edits if e.kind == "exclude"]
    assert excludes and all("Mercedes" not in e.toml for e in excludes)
    # every edit shown is checked: replaying it keeps the relevant article 1
    assert all(e.loses_relevant == 0 for e in excludes)


def test_a_weight_change_says_what_it_costs() -> None:
    # S-400 alone brings the relevant articles 1 and 5 too: a lower weight drops them with the
    # noise, and "Mercedes" (in article 5) is no exclude to suggest.
    articles = {
        **ARTICLES,
        1: article(1, "Turkey activates the S-400 near Ankara."),
        5: article(5, "Mercedes trucks carried the S-400 to Ankara."),
        6: article(6, "The Mercedes S-400 wins a design prize."),
    }
    labels = [*LABELS, StoryLabel(5, 5, RELEVANT), StoryLabel(6, 6, IRRELEVANT)]
    matches = [match(1, "S-400"), *MATCHES[1:], match(5, "S-400"), match(6, "S-400")]
    stats = watchlist_stats(
        WATCHLIST, matches, labels, list(articles.values()), since=SINCE, now=NOW
    )
    [noisy] = stats.noisy
    assert (noisy.noise.relevant, noisy.noise.irrelevant) == (2, 3)
    weight = next(e for e in noisy.edits if e.kind == "weight")
    assert weight.toml == 'weight = 3 for "S-400" (terms[0], now 4)'
    assert (weight.removes_irrelevant, weight.loses_relevant) == (3, 2)
    assert all("Mercedes" not in e.toml for e in noisy.edits)


def test_outside_the_window_does_not_count_and_pruned_labels_still_do() -> None:
    matches = [*MATCHES, match(2, "CAATSA", days_ago=45)]
    matches[1] = match(2, "CAATSA", days_ago=45)  # article 2 matched before the window only
    articles = [a for i, a in ARTICLES.items() if i != 4]  # article 4's text was pruned
    stats = watchlist_stats(WATCHLIST, matches, LABELS, articles, since=SINCE, now=NOW)
    assert (stats.matches, stats.labelled, stats.relevant, stats.irrelevant) == (3, 3, 1, 2)
    [noisy] = stats.noisy
    assert (noisy.noise.term, noisy.noise.relevant, noisy.noise.irrelevant) == ("S-400", 1, 2)
    # Only article 3 still has its text: the edits are checked on it alone.
    assert noisy.edits
    assert all(e.removes_irrelevant == 1 and e.before.irrelevant == 1 for e in noisy.edits)


def test_replay_lists_the_flips_with_the_label() -> None:
    edited = parse_watchlist(
        'name = "x"\nthreshold = 4\nexclude = ["Ankara"]\n[[terms]]\nmatch = "S-400"\nweight = 4\n'
        '[[terms]]\nmatch = "CAATSA"\nweight = 4\n',
        watchlist_id="x",
        source="x.toml",
    )
    labelled = [LabelledArticle(ARTICLES[label.article_id], label.label) for label in LABELS]
    replay = replay_labels(WATCHLIST, edited, labelled)
    assert (replay.before.precision, replay.after.precision) == (0.5, round(1 / 3, 4))
    [flip] = replay.flips
    assert (flip.article_id, flip.label, flip.matched_after, flip.good) == (
        1,
        RELEVANT,
        False,
        False,
    )
    assert flip.reason == "now vetoed by exclude 'Ankara'; was score 8 reaches threshold 4"
