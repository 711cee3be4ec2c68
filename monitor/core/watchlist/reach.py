"""Checks of a valid watchlist against the config: can it ever deliver anything?

A watchlist can be well-formed and still never deliver: its threshold lies above any score its
terms can reach, its `feeds` name nothing the config polls, an `exclude` vetoes every text one
of its own terms matches, it has no channel, or a `require` group can only be met by text that
an `exclude` vetoes. `watchlists check` reports these beside the format problems, each as
`FILE: WHERE: WHAT` with the fix.

Pure: a `Watchlist` and the names the config defines in, problems out. Kept apart from
checks.py because it compiles the watchlist with the real matcher (core/matcher.py imports
core/watchlist, so checks.py cannot import it), which makes "every text that matches the term
also matches the exclude" the matcher's own answer, not a second reading of the rules.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from monitor.core.folding import fold_text, spelling_variants
from monitor.core.matcher import Matcher, compile_matcher
from monitor.core.watchlist.checks import Checker
from monitor.core.watchlist.lines import LineIndex
from monitor.core.watchlist.model import Watchlist

# Appended to a stem's text to stand for "any continuation of the word": an exclude vetoes a
# stem only when it matches the stem followed by letters it cannot know.
_CONTINUATION = "zq"


@dataclass(frozen=True, slots=True)
class ConfigNames:
    """What config.toml defines, as far as a watchlist may name it; None: not known (the
    config could not be read), and that check is skipped."""

    channels: Collection[str] | None = None
    feeds: Collection[str] | None = None
    tags: Collection[str] | None = None


def delivery_problems(
    watchlist: Watchlist, names: ConfigNames, *, lines: LineIndex | None = None
) -> list[str]:
    """Every reason `watchlist` can never deliver (or never alert), as `FILE: WHERE: WHAT`."""
    check = Checker(watchlist.source or watchlist.id, lines or LineIndex(""))
    vetoes = _Vetoes(watchlist)
    _channels(check, watchlist, names.channels)
    _feeds(check, watchlist, names)
    _excludes(check, watchlist, vetoes)
    _requires(check, watchlist, vetoes)
    _thresholds(check, watchlist, vetoes)
    return check.problems


def highest_score(watchlist: Watchlist) -> float:
    """The most any article can score: each term at most twice its weight (saturation), every
    [[near]] bonus, and the semantic cap when there are examples. Terms and bonuses that an
    `exclude` always vetoes cannot count towards a match and are left out."""
    return _highest(watchlist, _Vetoes(watchlist))


class _Vetoes:
    """Which spellings an `exclude` vetoes wherever they match, asked of the real matcher."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self.matcher: Matcher = compile_matcher([watchlist])
        self.phrases = self.matcher.phrase_entries[watchlist.id]

    def spelling(self, spelling: str) -> str | None:
        """The exclude found in every text that `spelling` matches, if there is one."""
        texts = _probe_texts(spelling)
        if not texts:
            return None
        for phrase in self.watchlist.exclude:
            entry = self.phrases[phrase]
            if all(entry in self.matcher.scan("", text).body.hits for text in texts):
                return phrase
        return None

    def term(self, index: int) -> str | None:
        """The exclude that vetoes every spelling of term `index`, if one does."""
        term = self.watchlist.terms[index]
        for phrase in self.watchlist.exclude:
            if self.watchlist.term_index(phrase) == index:
                return phrase  # the exclude is a spelling of the term itself
        found = [self.spelling(s) for s in term.spellings]
        return found[0] if found and all(found) else None

    def phrase(self, phrase: str) -> str | None:
        """The exclude that vetoes every text a require or near string matches, if one does."""
        index = self.watchlist.term_index(phrase)
        return self.term(index) if index is not None else self.spelling(phrase)


def _probe_texts(spelling: str) -> list[str]:
    """The shortest texts that `spelling` matches: each of its forms alone (S-400, S400,
    S 400), and for a stem also followed by more letters."""
    stem = spelling.endswith("*")
    body = fold_text(spelling.removesuffix("*"))
    try:
        forms = list(dict.fromkeys([spelling.removesuffix("*"), *spelling_variants(body)]))
    except ValueError:  # too many joins: the format check reports it
        return []
    if stem:
        forms += [form + _CONTINUATION for form in forms]
    return forms


def _channels(check: Checker, watchlist: Watchlist, known: Collection[str] | None) -> None:
    if known is None:
        return  # no config to deliver through: `watchlists check` says channels go unchecked
    defined = ", ".join(sorted(known))
    if not watchlist.channels:
        fix = (
            f"name one or more of the channels of config.toml: {defined}"
            if defined
            else "define a [channels.NAME] table in config.toml and name it here"
        )
        check.problem(
            ("channels",),
            f"is empty: digests and alerts of this watchlist go nowhere; {fix}",
        )
    elif not set(watchlist.channels) & set(known):
        check.problem(
            ("channels",),
            "names no channel of config.toml, so nothing is ever delivered; channels defined "
            f"there: {defined or 'none'}",
        )


def _feeds(check: Checker, watchlist: Watchlist, names: ConfigNames) -> None:
    if names.feeds is None or "*" in watchlist.feeds:
        return
    feeds, tags = set(names.feeds), set(names.tags or ())
    unknown = [(i, f) for i, f in enumerate(watchlist.feeds) if f not in feeds | tags]
    for index, name in unknown:
        close = difflib.get_close_matches(name, sorted(feeds | tags), n=1)
        hint = f'did you mean "{close[0]}"? ' if close else ""
        shown_tags = ", ".join(sorted(tags)) or "none"
        check.problem(
            ("feeds", index),
            f'"{name}" is no feed name or tag of config.toml, so it selects no articles; '
            f'{hint}use a feed name (`monitor feeds list`), a tag ({shown_tags}) or "*"',
        )
    if len(unknown) == len(watchlist.feeds):
        check.problem(
            ("feeds",),
            "selects no configured feed at all: the watchlist never sees an article",
        )


def _excludes(check: Checker, watchlist: Watchlist, vetoes: _Vetoes) -> None:
    for index, term in enumerate(watchlist.terms):
        whole = vetoes.term(index)
        if whole is not None:
            check.problem(
                ("exclude", watchlist.exclude.index(whole)),
                f'"{whole}" vetoes the watchlist\'s own term "{term.match}" (terms[{index}]): '
                "every text that matches the term also matches this exclude, so the term can "
                'only ever veto; make the exclude more specific than the term ("S-400 '
                'Mercedes", not "S-400") or remove it',
            )
            continue
        for alias_index, alias in enumerate(term.aliases):
            veto = vetoes.spelling(alias)
            if veto is not None:
                check.problem(
                    ("terms", index, "aliases", alias_index),
                    f'"{alias}" can never count: exclude "{veto}" matches every text it '
                    "matches; remove the alias or make the exclude more specific",
                )


def _requires(check: Checker, watchlist: Watchlist, vetoes: _Vetoes) -> None:
    for index, group in enumerate(watchlist.require):
        found = [(p, vetoes.phrase(p)) for p in group]
        if all(veto is not None for _, veto in found):
            which = "; ".join(f'"{p}" by exclude "{v}"' for p, v in found)
            check.problem(
                ("require", index),
                "no term or phrase can satisfy this group: every text that matches one of "
                f"its strings is vetoed ({which}); add a string the excludes leave alone or "
                "make the excludes more specific",
            )


def _thresholds(check: Checker, watchlist: Watchlist, vetoes: _Vetoes) -> None:
    highest = _highest(watchlist, vetoes)
    how = _highest_words(watchlist)
    if watchlist.threshold > highest:
        check.problem(
            ("threshold",),
            f"is {watchlist.threshold:g}, above the highest score this watchlist can reach "
            f"({highest:g}: {how}); no article can ever match: lower the threshold to at "
            f"most {highest:g} or raise the weights",
        )
    elif watchlist.alert_threshold is not None and watchlist.alert_threshold > highest:
        check.problem(
            ("alert_threshold",),
            f"is {watchlist.alert_threshold:g}, above the highest score this watchlist can "
            f"reach ({highest:g}: {how}); no immediate alert can ever be sent: lower it to "
            f"at most {highest:g} or remove it",
        )


def _highest(watchlist: Watchlist, vetoes: _Vetoes) -> float:
    terms = sum(
        2.0 * term.weight
        for index, term in enumerate(watchlist.terms)
        if vetoes.term(index) is None
    )
    bonuses = sum(
        near.bonus for near in watchlist.near if all(vetoes.phrase(p) is None for p in near.terms)
    )
    return round(terms + bonuses + _semantic_cap(watchlist), 3)


def _semantic_cap(watchlist: Watchlist) -> float:
    if not watchlist.examples:
        return 0.0
    cap = watchlist.semantic_max if watchlist.semantic_max is not None else watchlist.threshold
    # Similarity is a cosine, at most 1: the line above the floor ends there.
    return min(cap, watchlist.semantic_weight * (1.0 - watchlist.semantic_floor))


def _highest_words(watchlist: Watchlist) -> str:
    parts: Sequence[str] = ["each term adds at most twice its weight"]
    if watchlist.near:
        parts = [*parts, "plus every [[near]] bonus"]
    if watchlist.examples:
        parts = [*parts, "plus the semantic cap"]
    return ", ".join(parts)
