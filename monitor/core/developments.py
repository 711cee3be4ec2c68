"""Copy or development: does an article that joined a delivered story tell the reader anything new?

Pure: titles, texts, publication times and window statistics in, a `Decision` out; standard
library only (memoised helpers keep only what they derived from strings). No clock, network,
database, logging or environment. Grouping ("is this the same story?") is core.dedup's; this
module answers the second question, delivery, for an article that grouping put into a story
the watchlist has already delivered. The shell passes the delivered items (and the copies
suppressed against them: they say nothing the delivered ones did not) and the window's term
statistics (`WindowTerms` from `window_terms`: every story of the window counted once).

The signals (`signals`), all against what the delivered items' leads and ledes said:
- opposites: the headline turns a delivered headline's event to its opposite (closes / reopens,
  imposed / lifted, approved / rejected, called off / goes ahead, rises / falls);
- new events: the lead (title and first sentence) has an event word of a class no delivered
  lead has. Classes group the synonyms copy desks swap (shut = close = halt = suspend, climb =
  rise = surge, quit = resign = step down); words only talked about ("could close") do not
  count;
- outcomes: what a delivered lead only expected (may, could, nears, preparing, bid to, calls
  for, who will...?) is now a fact ("MPs in new bid to oust PM", then "MPs oust PM");
- new numbers (a new death toll, a vote count; 3% tolerance for rounding; durations, years and
  codes such as "Q4" left out; "$1.8B" = "$1.8 billion"), a new negation, a new kind of actor
  as the headline's subject (Congress, then the Justice Department);
- novel words: the lead's other words no delivered lede has, weighted by inverse story
  frequency ("inverse event frequency", Brants, Chen and Farahat 2003: counted per article,
  the many copies of one development make its own words look common);
- same lede: the first sentence says nothing a delivered lede did not (a copy re-headlines
  the wire lede and keeps it); headline and first-sentence similarity; the time gap; a weekday
  the lead names where the delivered leads named another.
A logistic regression over them (`FEATURES`, constants below, fitted by
`bench/developments.py --fit`) gives the probability of a development; above `THRESHOLD` the
article is delivered, and the signal that pushed furthest is reported as the `Rule`.

Why this. Measured on tests/data/story_developments.jsonl (`PYTHONPATH=. python
bench/developments.py` prints every figure here; recall = developments delivered, suppression
= copies held back, each pair decided as if the later item joined the earlier's story):
- Novel words alone (the TREC Novelty "new words" measure; Allan, Wade and Bolivar 2003; Zhang,
  Callan and Minka 2002): tune 0.76 / 0.76, held-out 0.81 / 0.72. Re-headlined copies carry
  as many new words as developments: "shut" for "closes", "Orlando" for "Florida", a ticker.
  Title similarity alone: 0.72 / 0.73; the time gap is chance. One similarity is not enough.
- The words that tell a development are few and known (what happened, to whom, how many), as
  Kumaran and Allan (2004) found for new-event detection. Hand-set rules over the signals
  above, in order (same lede a copy, then any event signal, then novel words over 21): tune
  0.96 / 0.95, held-out 0.81 / 0.92.
- The logistic regression over the same signals (penalty and threshold chosen by grouped
  5-fold cross-validation on tune: 0.93 / 0.92 there): tune 0.96 / 0.94, held-out 0.92 /
  0.91 (with a text: 1.00 / 0.97; headline only: 0.67 / 0.84). It beats the rules on held-out
  recall by three developments for one more copy, which is the trade the issue asks for (a
  suppressed development is the worst failure), so it ships.
Neither meets the 0.95 floors on held-out. The misses are lexical: polysemous event words in
re-headlined headline-only copies ("opens up", "Hit Series", "up for"), numbers in quoted
titles, "to unveil" read as a fact so its outcome "unveils" looks like a copy, and a new
story under the same headline template with no text to compare. History, in the data's
README: each held-out third was used once; the rules were revised twice after a held-out
reading and measured on a fresh third each time (v1 0.93 / 0.86, v2 0.93 / 0.77, v3 0.81 /
0.92), the model was fitted after the third.
Fresh held-out (tests/data/story_fresh_heldout.jsonl, 152 UCI headline pairs labelled after
the model was frozen, measured once): 0.875 / 0.683. Its copy misses are the lexical ones
above plus outlet suffixes with a number ("WBOC-TV 16") and passive subjects ("ousted by
parliament" against "Parliament ousts"); nothing was changed after reading them.
Why not a sentence embedding, for the paraphrased headlines these miss. Measured 2026-12-07
with all-MiniLM-L6-v2 (sentence-transformers on PyTorch, in a scratch environment; nothing of
it ships): the cosine of the two leads (title and first sentence) of every labelled pair.
It tells copies from different stories well (story_pairs.jsonl: AUC 0.97), but copies from
developments no better than the signals above (AUC tune 0.83, held-out 0.79, fresh 0.91,
heldout2 0.81): a development reuses the story's wording as much as a copy does. A cosine
that holds back a third of heldout2's copies (0.85) holds back a quarter of the tune and
held-out developments too, and 0.76, half of those copies, 54-63% of them. The earlier
static-embedding feature (WordLlama) gave the model nothing on held-out either. So it would
add PyTorch (hundreds of MB) for no development kept; left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise

from monitor.core.folding import fold_text

NUMBER_TOLERANCE = 0.03  # 25,250 and 25,000 SUVs are one recall
LEDE_SENTENCES = 3  # what a delivered item is known to have said: title and first sentences


class Kind(StrEnum):
    COPY = "copy"  # the same report: suppressed
    DEVELOPMENT = "development"  # a new event in the story: delivered as an update


class Rule(StrEnum):
    """The signal that pushed the decision furthest its way (a copy: SAME_LEDE or NOTHING_NEW)."""

    OPPOSITE = "opposite-event"
    NEW_EVENT = "new-event"
    OUTCOME = "outcome"
    NEW_NUMBER = "new-number"
    NEGATION = "negation"
    NEW_ACTOR = "new-actor"
    NOVEL_WORDS = "novel-words"
    HEADLINE_CHANGED = "headline-changed"
    LEDE_CHANGED = "lede-changed"
    TIME_GAP = "time-gap"
    WEEKDAY_CHANGE = "weekday-change"
    SAME_LEDE = "same-lede"  # a copy: the delivered lede under another headline
    NOTHING_NEW = "nothing-new"
    # A copy that grouping put into a story of its own, found at delivery against the
    # watchlist's recently delivered stories (core.digest.updates.LateCopies).
    LATE_COPY = "late-copy"


@dataclass(frozen=True, slots=True)
class StoryItem:
    """An article as the decision sees it. `text` is the stored text (empty for headline-only
    entries); `published` gives the time gap (None: no gap)."""

    title: str
    text: str = ""
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowTerms:
    """How many stories of the window use each term (`story_terms`), and how many stories."""

    stories: int
    frequency: Mapping[str, int]

    def idf(self, term: str) -> float:
        return math.log((self.stories + 1) / (self.frequency.get(term, 0) + 1))


# ------------------------------------------------------------------------------- words


def _wordset(words: str) -> frozenset[str]:
    """A set of the whitespace-separated words of a literal list."""
    return frozenset(words.split())


_WORD = re.compile(r"[^\W_]+(?:['.][^\W_]+)*")
_STOP = _wordset(
    """a an the and or but of to in on at for from by with as is are was were be been being it
    its this that these those he she they them his her their we our you your i me my not no than
    then there here who whom which what when where why how all any both each few more most other
    some such only own same so too very can will just should now after before over under again
    further into out up down off about against between during through says said say also has
    have had do does did would could may might must shall amid while new percent pct"""
)
# "percent" and "pct" are stop words because "38%" folds to the number alone: a copy desk
# spelling the sign out ("38 percent", "38 per cent") said nothing new; the number rule
# weighs the 38.
# Irregular forms the suffix rules cannot reach, and "hit" / "struck" folded into one event.
_IRREGULAR = {
    "rose": "rise", "fell": "fall", "won": "win", "went": "go", "gone": "go", "goes": "go",
    "shot": "shoot", "struck": "strike", "hit": "strike", "freed": "free", "left": "leave",
    "lost": "lose", "held": "hold", "sank": "sink", "slid": "slide", "fled": "flee",
    "dies": "die", "died": "die", "dying": "die", "froze": "freeze", "frozen": "freeze",
    "broke": "break", "broken": "break", "chose": "choose", "chosen": "choose",
    "began": "begin", "begun": "begin", "met": "meet", "sold": "sell", "told": "tell",
    "led": "lead", "bought": "buy", "paid": "pay", "sought": "seek",
}  # fmt: skip


# Forms that must not reach an event word through the suffix rules: "missing" is not "miss",
# "according to" is attribution, not an accord.
_KEEP = frozenset({"missing", "according"})


# Memoised: a story's delivered items are read again for every article that joins it. The
# caches hold strings only, so the functions stay pure.
@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # A light suffix stripper, enough to make "closes", "closed", "closing" and "close" one
    # term; a full Porter stemmer merges too much in headlines ("news" / "new").
    if word in _KEEP:
        return word
    word = _IRREGULAR.get(word, word)
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if word[-1] == word[-2] and word[-1] not in "lsz":  # "stopped" -> "stop"
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@lru_cache(maxsize=1 << 12)
def _words(text: str) -> tuple[str, ...]:
    """Folded words, dots inside dropped ("U.S." = "US"), possessives cut ("Libya's")."""
    return _folded_words(fold_text(text))


def _folded_words(folded: str) -> tuple[str, ...]:
    out: list[str] = []
    for word in _WORD.findall(folded):
        if "." in word:
            word = word.replace(".", "")
        if word.endswith("'s"):
            word = word[:-2]
        elif word.endswith("'"):
            word = word[:-1]
        if word == "cent" and out and out[-1] == "per":
            out[-1] = "percent"  # British spelling: "38 per cent" is "38 percent"
        elif word:
            out.append(word)
    return tuple(out)


@lru_cache(maxsize=1 << 12)
def _terms(text: str) -> tuple[str, ...]:
    return tuple(_stem(word) for word in _words(text) if word not in _STOP)


# Wire slugs and version marks that copies add and drop: "UPDATE 3-", "RPT-", "(2)",
# "-- 3rd Update", a trailing syndication " 0", an ellipsis where a feed cut the headline.
_WIRE_MARK = re.compile(
    r"^(?:update|rpt|wrapup|corrected|refile|urgent|breaking)\s*\d*\s*[-:]\s*"
    r"|\s*--\s*\d+(?:st|nd|rd|th)\s+update\s*$|\s*\(\d+\)\s*$|\s+0$",
    re.IGNORECASE,
)


def clean_title(title: str) -> str:
    title = title.replace("...", " ").replace("…", " ").strip()
    previous = None
    while previous != title:
        previous, title = title, _WIRE_MARK.sub("", title).strip()
    return title


_SENTENCE_END = re.compile(r"(?<=[.!?…”\"’])\s+(?=[A-Z“\"‘'(\[0-9•])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Z]\.){1,3}|\b(?:Mr|Mrs|Ms|Dr|St|Gen|Sen|Rep|Gov|Lt|Col|Sgt|No|Jan|Feb|Aug"
    r"|Sept|Oct|Nov|Dec|Inc|Corp|Co|Jr|Sr|Mt|vs)\.)$"
)
# Lines that syndication adds and that never carry news; a copy with one of them added is
# still a copy. Also the TIME feed's embedded player marker. Plain substrings: a regular
# expression with this many alternatives costs more than the rest of the sentence split.
_BOILERPLATE = (
    "this is a developing story", "this story has been updated", "this story was updated",
    "this story will be updated", "sign up ", "published in dawn", "reporting by", "editing by",
    "click here", "follow us", "read more", "[time-brightcove", "all rights reserved", "copyright ",
)  # fmt: skip


def _is_boilerplate(sentence: str) -> bool:
    low = sentence.lower()
    return any(phrase in low for phrase in _BOILERPLATE)


_SENTENCE_SCAN = 1500  # characters of a text read for its lede


@lru_cache(maxsize=1 << 12)
def sentences(text: str) -> tuple[str, ...]:
    """The first `LEDE_SENTENCES` sentences of the text that are not boilerplate; "U.S." and
    "Mr." end none. Only the lede matters here, and splitting a whole body costs more than
    the decision, so the scan stops there."""
    out: list[str] = []
    kept = 0
    start = 0
    body = text[:_SENTENCE_SCAN].strip()
    for match in (*_SENTENCE_END.finditer(body), None):
        end = match.start() if match else len(body)
        piece = body[start:end]
        start = match.end() if match else end
        if not piece:
            continue
        if out and _ABBREVIATION.search(out[-1][-8:]):
            out[-1] += " " + piece
            continue
        if out and not _is_boilerplate(out[-1]):
            kept += 1
            if kept == LEDE_SENTENCES:
                break
        out.append(piece)
    return tuple(s for s in out[: LEDE_SENTENCES + 4] if not _is_boilerplate(s))[:LEDE_SENTENCES]


def _lead(item: StoryItem) -> tuple[str, tuple[str, ...]]:
    return clean_title(item.title), sentences(item.text)[:1]


def _lede(item: StoryItem) -> str:
    return " . ".join([clean_title(item.title), *sentences(item.text)[:LEDE_SENTENCES]])


def story_terms(title: str, text: str) -> frozenset[str]:
    """The terms an article contributes to `WindowTerms` (count each story once)."""
    return frozenset(_terms(_lede(StoryItem(title, text))))


def window_terms(stories: Iterable[Iterable[tuple[str, str]]]) -> WindowTerms:
    """`WindowTerms` from stories given as their articles' (title, text)."""
    frequency: dict[str, int] = {}
    count = 0
    for articles in stories:
        count += 1
        seen: set[str] = set()
        for title, text in articles:
            seen |= story_terms(title, text)
        for term in seen:
            frequency[term] = frequency.get(term, 0) + 1
    return WindowTerms(count, frequency)


# ------------------------------------------------------------------------------- events

# Event classes: the synonyms a copy desk swaps for one another share a class, different
# events do not. Multi-word entries are joined by "_". A word may sit in several classes; it
# is new only if none of them is delivered.
_EVENT_CLASSES = {
    "close": "close closure shut shutdown seal halt suspend suspension stop ground freeze pause "
    "end cut_ties",
    "reopen": "reopen resume restore recover rebound return restart reconnect back_online back_up",
    "cancel": "cancel call_off scrap axe abandon",
    "delay": "postpone postponement delay push_back put_off defer adjourn",
    "reschedule": "reschedule",
    "proceed": "go_ahead proceed take_place",
    "lift": "lift revoke rescind ease end overturn annul withdraw remove",
    "impose": "impose introduce slap levy sanction",
    "approve": "approve approval pass clear adopt endorse ratify nod greenlight",
    "reject": "reject rejection vote_down defeat veto block refuse turn_down say_no",
    "ban": "ban bar prohibit outlaw forbid",
    "fail": "fail stall",
    "deny": "deny denial dismiss reject rebuff",
    "accuse": "accuse allege claim",
    "blame": "blame",
    "kill": "kill dead death die toll fatal",
    "injure": "injure wound hurt",
    "arrest": "arrest detain detention custody nab raid",
    "free": "free release bail acquit",
    "publish": "release publish unveil launch debut",
    "resign": "resign resignation quit step_down leave",
    "oust": "oust sack fire dismiss remove impeach vote_out",
    "win": "win victory landslide elect reelect",
    "lose": "lose loss defeat",
    "choose": "pick choose select name appoint reappoint hire tap nominate",
    "agree": "agree agreement deal accord pact settle settlement",
    "acquire": "buy acquire acquisition purchase takeover merge merger combine",
    "investigate": "investigate investigation probe inquiry",
    "charge": "charge indict prosecute",
    "sue": "sue lawsuit",
    "convict": "convict guilty sentence jail prison",
    "appeal": "appeal",
    "trial": "trial",
    "bankrupt": "bankrupt bankruptcy insolvency receivership chapter",
    "rise": "rise climb jump surge soar gain rally increase spike advance raise up higher",
    "fall": "fall drop decline slide slip sink tumble plunge slump dip lower down retreat cut "
    "tank decrease",
    "beat": "beat top exceed",
    "miss": "miss disappoint trail",
    "warn": "warn threaten",
    "promise": "promise pledge vow",
    "demand": "demand urge call_on",
    "condemn": "condemn criticize slam blast rip rebuke denounce target break_with",
    "defend": "defend",
    "apologize": "apologize apology sorry regret",
    "delete": "delete",
    "meet": "meet meeting talk summit",
    "conclude": "conclude wrap_up finish complete",
    "collapse": "collapse violate breach",
    "start": "begin start launch open kick_off effect",
    "identify": "identify name",
    "evacuate": "evacuate evacuation flee",
    "contain": "contain",
    "rescue": "rescue",
    "outage": "crash outage down offline glitch",
    "escape": "escape elude slip",
    "attack": "attack fire shell strike bomb shoot raid hack",
    "seize": "seize intercept halt capture impound",
    "reveal": "reveal leak disclose expose",
    "rename": "rename",
    "change": "switch relocate",
    # Money coming in: "raises $2.1 million in taxes" is not a rise.
    "collect": "raise collect reap rake haul net generate bring_in",
}
# Templated opposites: a headline that moves to one side of a pair from the other.
_OPPOSITES = (
    ("close", "reopen"), ("cancel", "proceed"), ("delay", "proceed"), ("impose", "lift"),
    ("approve", "reject"), ("approve", "fail"), ("win", "lose"), ("rise", "fall"),
    ("beat", "miss"), ("arrest", "free"), ("start", "conclude"), ("agree", "collapse"),
    ("outage", "reopen"), ("accuse", "deny"), ("convict", "free"),
)  # fmt: skip
# Institutions as the subject of a headline: a new kind of actor is a new event (another body
# opens an inquiry); naming the same kind differently ("lawmakers", "parliament") is not.
_ACTOR_CLASSES = {
    "legislature": "congress congressional house senate senator lawmaker legislator parliament "
    "parliamentary mp panel committee assembly congressman congresswoman",
    "prosecution": "prosecutor justice_department doj attorney fbi fed",
    "regulator": "regulator agency watchdog nhtsa sec fda faa ftc fcc epa ntsb iaea",
    "court": "court judge tribunal",
    "police": "police",
    "military": "army military navy troop soldier",
    "government": "government ministry minister cabinet president premier pm white_house kremlin "
    "chancellor",
    "armed_group": "rebel militia militant insurgent gunman gunmen",
    "union": "union",
}


def _lexicon(classes: Mapping[str, str]) -> dict[str, frozenset[str]]:
    entries: dict[str, set[str]] = {}
    for name, words in classes.items():
        for entry in words.split():
            key = "_".join(_stem(part) for part in entry.split("_"))
            entries.setdefault(key, set()).add(name)
    return {key: frozenset(names) for key, names in entries.items()}


_EVENTS = _lexicon(_EVENT_CLASSES)
_ACTORS = _lexicon(_ACTOR_CLASSES)
_PHRASE_STARTS = frozenset(key.split("_")[0] for key in (*_EVENTS, *_ACTORS) if "_" in key)
_OPPOSITE: dict[str, frozenset[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE[_a] = _OPPOSITE.get(_a, frozenset()) | {_b}
    _OPPOSITE[_b] = _OPPOSITE.get(_b, frozenset()) | {_a}

# What marks an event as expected rather than happened, within its clause.
_SPECULATIVE = _wordset(
    """would may might could expect expected expects expectation expectations likely poised
    planning prepare prepares preparing near nears nearing consider considers considering weigh
    weighs mull mulls bid coming upcoming spoiler spoilers preview ahead should call calls urge
    urges urged pressure face faces threat threaten threatens if whether unless"""
)
_BEFORE_TO = _wordset(
    "plan plans set seek seeks aim aims hope hopes want wants intend intends look looks"
)
_FUTURE = frozenset({"will", "to", "ll", "would"})
_NEGATIONS = _wordset(
    "not no never wont dont doesnt didnt isnt arent wasnt werent cant cannot without"
)
_CLAUSE = re.compile(r"[,;:—–]|\s-\s|\.\s")


@dataclass(frozen=True, slots=True)
class _Hit:
    key: str  # the stemmed word or phrase
    classes: frozenset[str]
    expected: bool  # in a speculative clause ("may reopen", "calls for ... to quit")
    future: bool  # "will reopen", "to reopen": announced, not yet a fact


# Hyphenated compounds name things ("write-downs", "third-party", "no-confidence", "sell-off");
# the event words and numbers inside them are not events or counts of the story.
_COMPOUND = re.compile(r"\b[^\W_]+(?:-[^\W_]+)+\b")


@lru_cache(maxsize=1 << 12)
def _event_hits(text: str) -> tuple[_Hit, ...]:
    text = _COMPOUND.sub(" ", fold_text(text))
    question = "?" in text
    hits: list[_Hit] = []
    for clause in _CLAUSE.split(text):
        words = [w.replace("'", "") for w in _folded_words(clause)]
        stems = [_stem(w) for w in words]
        marks = [
            w in _SPECULATIVE or (w in _BEFORE_TO and words[i + 1 : i + 2] == ["to"])
            for i, w in enumerate(words)
        ]
        i = 0
        while i < len(stems):
            key = stems[i]
            width = 1
            if key in _PHRASE_STARTS and i + 1 < len(stems):
                phrase = f"{key}_{stems[i + 1]}"
                if phrase in _EVENTS:
                    key, width = phrase, 2
            if key in _EVENTS:
                expected = question or any(marks[: i + 1]) or any(marks[i + width : i + width + 2])
                future = any(w in _FUTURE for w in words[max(0, i - 2) : i])
                hits.append(_Hit(key, _EVENTS[key], expected, future))
            i += width
    return tuple(hits)


def _classes(hits: Iterable[_Hit]) -> set[str]:
    out: set[str] = set()
    for hit in hits:
        out |= hit.classes
    return out


def _actors(text: str) -> set[str]:
    stems = [_stem(w) for w in _words(text)]
    out: set[str] = set()
    i = 0
    while i < len(stems):
        if i + 1 < len(stems) and f"{stems[i]}_{stems[i + 1]}" in _ACTORS:
            out |= _ACTORS[f"{stems[i]}_{stems[i + 1]}"]
            i += 2
            continue
        out |= _ACTORS.get(stems[i], frozenset())
        i += 1
    return out


def _subject(title: str) -> str:
    """A headline's words before its first event word: who acts."""
    words = _words(title)
    stems = [_stem(w) for w in words]
    for i, key in enumerate(stems):
        if key in _EVENTS or (i + 1 < len(stems) and f"{key}_{stems[i + 1]}" in _EVENTS):
            return " ".join(words[:i])
    return ""


# ------------------------------------------------------------------------------- numbers

_CARDINALS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
# "first" is left out: "first night", "first month" describe, they do not count.
_ORDINALS = "second third fourth fifth sixth seventh eighth ninth tenth"
_NUMBER_WORDS = {
    **{w: float(i) for i, w in enumerate(_CARDINALS.split(" "))},
    **{w: float(i + 2) for i, w in enumerate(_ORDINALS.split(" "))},
    "thirty": 30.0, "forty": 40.0, "fifty": 50.0, "sixty": 60.0, "seventy": 70.0,
    "eighty": 80.0, "ninety": 90.0, "hundred": 100.0, "dozen": 12.0,
}  # fmt: skip
_SCALES = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "mln": 1e6, "mil": 1e6, "million": 1e6,
    "b": 1e9, "bn": 1e9, "bln": 1e9, "billion": 1e9, "tn": 1e12, "trillion": 1e12,
}  # fmt: skip
# A quantity, not a code: digits glued to letters ("Q4", "MH370", "4Q") are names.
_NUMBER = re.compile(
    r"(?<![^\W_])(\d+(?:[.,]\d+)*)(?:\s*(?:st|nd|rd|th))?"
    r"(?:\s*-?\s*(k|mn|mln|mil|million|m|bn|bln|billion|b|tn|trillion|thousand)\b)?"
    r"(?![^\W_])",
    re.IGNORECASE,
)
_TIME_UNIT = re.compile(r"(?:minute|hour|day|night|week|month|year|decade)s?")


@lru_cache(maxsize=1 << 12)
def _numbers(text: str) -> frozenset[float]:
    """Quantities in `text`; durations ("two days after") and years are not news numbers."""
    return _folded_numbers(fold_text(text))


def _folded_numbers(folded: str) -> frozenset[float]:
    folded = _COMPOUND.sub(" ", folded)
    values: set[float] = set()
    for match in _NUMBER.finditer(folded):
        digits, scale = match.group(1).replace(",", ""), match.group(2)
        try:
            value = float(digits)
        except ValueError:
            continue
        after = folded[match.end() :].split(maxsplit=1)
        if after and _TIME_UNIT.fullmatch(re.sub(r"\W", "", after[0])):
            continue
        if scale:
            value *= _SCALES[scale.lower()]
        elif "." not in digits and 1900 <= value <= 2100:
            continue
        values.add(value)
    words = _folded_words(folded)
    for i, word in enumerate(words):
        # "the two countries" refers to who is there; it counts nothing new.
        if word in _NUMBER_WORDS and not (
            (i + 1 < len(words) and _TIME_UNIT.fullmatch(words[i + 1]))
            or (i > 0 and words[i - 1] == "the")
        ):
            values.add(_NUMBER_WORDS[word])
    return frozenset(values)


def _is_known_number(value: float, known: frozenset[float]) -> bool:
    return any(abs(value - k) <= NUMBER_TOLERANCE * max(abs(k), 1e-9) for k in known)


# ------------------------------------------------------------------------------- decision


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything the model looks at, for one article against a story's delivered items."""

    opposites: tuple[str, ...]  # event classes the headline flips to ("reopen" after "close")
    new_events: tuple[str, ...]  # lead event words of classes no delivered lead has
    outcomes: tuple[str, ...]  # event words stated as fact that delivered leads only expected
    new_numbers: tuple[float, ...]  # lead numbers no delivered lede has
    negation: bool  # the lead negates, no delivered lead did
    new_actors: tuple[str, ...]  # kinds of institution newly the headline's subject
    novel_words: tuple[str, ...]  # other lead terms no delivered lede has, rarest first
    novelty: float  # their summed inverse story frequency
    same_lede: bool  # the first sentence says nothing the delivered ledes did not
    title_similarity: float  # best 5-gram Jaccard of the headline with a delivered headline
    lede_similarity: float  # the same for the first sentences (1.0 when one side has none)
    gap_hours: float  # since the newest delivered item (0 when times are unknown)
    new_weekdays: tuple[str, ...]  # weekdays the lead names and no delivered lead did
    weekday_change: bool  # ... where the delivered leads named another one


def title_event_classes(title: str) -> frozenset[str]:
    """The event classes of a headline (after wire marks are cut)."""
    return frozenset(_classes(_event_hits(clean_title(title))))


def flipped(new: AbstractSet[str], known: AbstractSet[str]) -> tuple[str, ...]:
    """The event classes of `new` that turn one of `known` to its opposite ("reopen" where
    "close" was), when `new` does not restate the old one too."""
    return tuple(
        name
        for name in sorted(new - known)
        if _OPPOSITE.get(name, frozenset()) & known and not _OPPOSITE.get(name, frozenset()) & new
    )


def _folded_terms(folded: str) -> frozenset[str]:
    return frozenset(_stem(word) for word in _folded_words(folded) if word not in _STOP)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What one delivered item told the reader, in the terms the rules compare."""

    title_classes: frozenset[str]
    lead_hits: tuple[_Hit, ...]
    subjects: frozenset[str]
    numbers: frozenset[float]
    terms: frozenset[str]
    negated: bool
    title_shingles: frozenset[str]
    first_shingles: frozenset[str] | None
    weekdays: frozenset[str]


@lru_cache(maxsize=1 << 12)
def _seen(title: str, text: str) -> _Seen:
    item = StoryItem(title, text)
    clean, first = _lead(item)
    folded_lede = fold_text(_lede(item))  # folded once for terms and numbers
    lead = " . ".join([clean, *first])
    return _Seen(
        title_classes=title_event_classes(clean),
        lead_hits=_event_hits(lead),
        subjects=frozenset(_actors(_subject(clean))),
        numbers=_folded_numbers(folded_lede),
        terms=_folded_terms(folded_lede),
        negated=_negated(lead),
        title_shingles=_shingles(clean),
        first_shingles=_shingles(first[0]) if first else None,
        weekdays=_weekdays(lead),
    )


_WEEKDAYS = _wordset("monday tuesday wednesday thursday friday saturday sunday")
_PLAIN_WORD = re.compile(r"[^\W_]+")


def _weekdays(text: str) -> frozenset[str]:
    return frozenset(_PLAIN_WORD.findall(fold_text(text))) & _WEEKDAYS


@lru_cache(maxsize=1 << 12)
def _shingles(text: str) -> frozenset[str]:
    """Character 5-grams of the folded words, as core.dedup compares them."""
    joined = " ".join(_PLAIN_WORD.findall(fold_text(text)))
    return frozenset(joined[i : i + 5] for i in range(max(1, len(joined) - 4)))


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def signals(article: StoryItem, delivered: Sequence[StoryItem], window: WindowTerms) -> Signals:
    """The signals of `article` against the `delivered` items of its story."""
    title, first = _lead(article)
    lead = " . ".join([title, *first])
    seen = [_seen(item.title, item.text) for item in delivered]
    known_hits = [hit for s in seen for hit in s.lead_hits]
    known_classes = _classes(known_hits)
    known_title_classes = set().union(*(s.title_classes for s in seen))
    known_numbers = frozenset().union(*(s.numbers for s in seen))
    known_terms = set().union(*(s.terms for s in seen))
    known_subjects = set().union(*(s.subjects for s in seen))
    known_weekdays = frozenset().union(*(s.weekdays for s in seen))

    hits = _event_hits(lead)
    opposites = flipped(title_event_classes(title), known_title_classes)
    # An event only talked about ("could close", "considering returning") is not news yet.
    new_events = tuple(
        dict.fromkeys(h.key for h in hits if not h.expected and not h.classes & known_classes)
    )
    facts = _classes(h for h in known_hits if not h.expected)
    expected = _classes(h for h in known_hits if h.expected) - facts
    outcomes = tuple(
        dict.fromkeys(
            h.key for h in hits if not h.expected and not h.future and h.classes & expected
        )
    )
    new_numbers = tuple(sorted(v for v in _numbers(lead) if not _is_known_number(v, known_numbers)))
    new_actors = tuple(sorted(_actors(_subject(title)) - known_subjects))
    # Event words are judged by their classes, digits by the number rule.
    skip = {h.key for h in hits}
    novel = sorted(
        (t for t in set(_terms(lead)) - known_terms if t not in skip and not t[0].isdigit()),
        key=lambda t: (-window.idf(t), t),
    )
    return Signals(
        opposites=opposites,
        new_events=new_events,
        outcomes=outcomes,
        new_numbers=new_numbers,
        negation=_negated(lead) and not any(s.negated for s in seen),
        new_actors=new_actors,
        novel_words=tuple(novel),
        novelty=sum(window.idf(t) for t in novel),
        same_lede=bool(first) and not (_content_terms(first[0]) - known_terms),
        title_similarity=max(_jaccard(_shingles(title), s.title_shingles) for s in seen),
        lede_similarity=max(
            (_jaccard(_shingles(first[0]), s.first_shingles) for s in seen if s.first_shingles)
            if first
            else (),
            default=1.0,
        ),
        gap_hours=_gap_hours(article, delivered),
        new_weekdays=tuple(sorted(_weekdays(lead) - known_weekdays)),
        weekday_change=bool(_weekdays(lead) - known_weekdays) and bool(known_weekdays),
    )


def _gap_hours(article: StoryItem, delivered: Sequence[StoryItem]) -> float:
    times = [item.published for item in delivered if item.published is not None]
    if article.published is None or not times:
        return 0.0
    return max(0.0, (article.published - max(times)).total_seconds() / 3600)


# A dateline ("ANKARA, Turkey (AW) — ", "KHARTOUM: ") and attribution are how outlets dress one
# lede differently; they are not news.
_DATELINE = re.compile(r"^[A-Z][A-Z .'-]+(?:, [A-Z][\w .'-]*)?(?: \([A-Za-z]+\))?\s*(?:—|–|:|-)\s+")
_ATTRIBUTION = frozenset(
    _stem(w)
    for w in _wordset(
        "said according told added report reported reporting statement spokesman "
        "spokeswoman spokesperson citing cited"
    )
)


def _content_terms(sentence: str) -> set[str]:
    return {t for t in _terms(_DATELINE.sub("", sentence)) if t not in _ATTRIBUTION}


FEATURES = (
    "opposites", "new_events", "outcomes", "new_numbers", "negation", "new_actors", "novelty",
    "same_lede", "title_similarity", "lede_similarity", "log_gap_hours", "weekday_change",
)  # fmt: skip


def feature_vector(s: Signals) -> tuple[float, ...]:
    """The model's inputs, in `FEATURES` order."""
    return (
        float(len(s.opposites)), float(len(s.new_events)), float(len(s.outcomes)),
        float(len(s.new_numbers)), float(s.negation), float(len(s.new_actors)), s.novelty,
        float(s.same_lede), s.title_similarity, s.lede_similarity, math.log1p(s.gap_hours),
        float(s.weekday_change),
    )  # fmt: skip


# The model: logistic regression over `FEATURES`, standardised with the tune split's means and
# deviations. Fitted by `bench/developments.py --fit` on the tune split of
# tests/data/story_developments.jsonl (L2 penalty and threshold chosen by grouped 5-fold
# cross-validation there, for the best of the worse of recall and suppression); paste its
# output here when the set or the signals change.
# chosen: lambda 0.01, threshold 0.35 (CV min(recall, suppression) 0.923)
_MEAN = (
    0.035443,
    0.367089,
    0.0278481,
    0.0987342,
    0.0177215,
    0.035443,
    8.24032,
    0.237975,
    0.473397,
    0.853467,
    1.09517,
    0.101266,
)
_SCALE = (
    0.184897,
    0.714714,
    0.205578,
    0.366818,
    0.131937,
    0.184897,
    10.4878,
    0.425844,
    0.293073,
    0.270302,
    1.53825,
    0.30168,
)
_WEIGHTS = (
    0.27142,
    1.74528,
    0.632847,
    0.536284,
    0.396332,
    0.53256,
    0.705522,
    -1.19307,
    -0.586048,
    -0.206087,
    0.580409,
    0.249534,
)
_BIAS = -0.401608
THRESHOLD = 0.35  # probability of a development above which the article is delivered

_RULE_OF_FEATURE = {
    "opposites": Rule.OPPOSITE,
    "new_events": Rule.NEW_EVENT,
    "outcomes": Rule.OUTCOME,
    "new_numbers": Rule.NEW_NUMBER,
    "negation": Rule.NEGATION,
    "new_actors": Rule.NEW_ACTOR,
    "novelty": Rule.NOVEL_WORDS,
    "same_lede": Rule.SAME_LEDE,
    "title_similarity": Rule.HEADLINE_CHANGED,
    "lede_similarity": Rule.LEDE_CHANGED,
    "log_gap_hours": Rule.TIME_GAP,
    "weekday_change": Rule.WEEKDAY_CHANGE,
}


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    rule: Rule  # the signal that pushed the decision furthest its way
    evidence: str  # the words behind it, for explain and the logs
    new_sentence: str  # the sentence that carries the news, for "Update: ..."; "" for a copy
    probability: float  # the model's probability that the article is a development
    signals: Signals


def development_probability(s: Signals) -> tuple[float, tuple[float, ...]]:
    """The model's probability of a development, and each feature's contribution."""
    contributions = tuple(
        w * (x - m) / sd
        for w, x, m, sd in zip(_WEIGHTS, feature_vector(s), _MEAN, _SCALE, strict=True)
    )
    score = _BIAS + sum(contributions)
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, score)))), contributions


def classify_update(
    article: StoryItem, delivered: Sequence[StoryItem], window: WindowTerms
) -> Decision:
    """Whether `article`, which joined a story whose `delivered` items the reader has, is a
    copy of them or a development, with the signal and the words that decided."""
    if not delivered:
        raise ValueError("a story with no delivered item has nothing to copy: deliver it as new")
    s = signals(article, delivered, window)
    probability, contributions = development_probability(s)
    if probability <= THRESHOLD:
        name = FEATURES[min(range(len(FEATURES)), key=contributions.__getitem__)]
        rule = Rule.SAME_LEDE if s.same_lede else Rule.NOTHING_NEW
        return Decision(Kind.COPY, rule, f"strongest against: {_describe(name, s)}", "",
                        probability, s)  # fmt: skip
    name = FEATURES[max(range(len(FEATURES)), key=contributions.__getitem__)]
    key = (s.new_events or s.outcomes or (None,))[0] if name in ("new_events", "outcomes") else None
    known = set().union(*(_seen(item.title, item.text).terms for item in delivered))
    sentence = _new_sentence(article, key, known, window)
    return Decision(Kind.DEVELOPMENT, _RULE_OF_FEATURE[name], _describe(name, s), sentence,
                    probability, s)  # fmt: skip


def _describe(name: str, s: Signals) -> str:
    """The words behind one feature, for a reader of the logs."""
    if name == "opposites":
        return "headline turns to " + "/".join(s.opposites)
    if name == "new_events":
        return "new event words: " + (", ".join(s.new_events) or "none")
    if name == "outcomes":
        return "now a fact: " + (", ".join(s.outcomes) or "none")
    if name == "new_numbers":
        return "new numbers: " + (", ".join(f"{v:g}" for v in s.new_numbers) or "none")
    if name == "negation":
        return "the lead negates" if s.negation else "no new negation"
    if name == "new_actors":
        return "new actors: " + ("/".join(s.new_actors) or "none")
    if name == "novelty":
        return f"novel words {', '.join(s.novel_words[:5]) or 'none'} (weight {s.novelty:.1f})"
    if name == "same_lede":
        return "same first sentence as delivered" if s.same_lede else "first sentence rewritten"
    if name == "title_similarity":
        return f"headline similarity {s.title_similarity:.2f}"
    if name == "lede_similarity":
        return f"first-sentence similarity {s.lede_similarity:.2f}"
    if name == "log_gap_hours":
        return f"{s.gap_hours:.0f} hours after the last delivered item"
    return "weekday now " + ("/".join(s.new_weekdays) or "unchanged")


# "no-confidence vote", "no-fly zone" and "says no" are not negations of the event.
_NOT_NEGATION = re.compile(r"\bno-(?=\w)|\bsay(?:s|ing)? no\b", re.IGNORECASE)


def _negated(text: str) -> bool:
    words = _words(_NOT_NEGATION.sub(" ", fold_text(text)))
    return any(w.replace("'", "") in _NEGATIONS or w.endswith("n't") for w in words)


def _new_sentence(article: StoryItem, key: str | None, known: set[str], window: WindowTerms) -> str:
    """The sentence to show after "Update:": the first of the lede that carries the deciding
    word, else the one with the most novel weight; a full sentence reads better than a title."""
    candidates = [*sentences(article.text)[:LEDE_SENTENCES], clean_title(article.title)]
    if key is not None:
        for sentence in candidates:
            stems = [_stem(w.replace("'", "")) for w in _words(sentence)]
            if key in {*stems, *(f"{a}_{b}" for a, b in pairwise(stems))}:
                return sentence
    return max(candidates, key=lambda c: sum(window.idf(t) for t in set(_terms(c)) - known))


# ------------------------------------------------------------------------------- the window

RECENT_STORIES = 300  # stories the shell's window statistics cover; see RecentStoryTerms


class RecentStoryTerms:
    """`WindowTerms` over the `capacity` stories that received an article last, kept up to
    date one article at a time, so a digest or an alert never recounts its window.

    Why a fixed number of stories, not every story of the clustering window: the model's
    novelty weights were fitted with inverse story frequencies over a window of 291 stories
    (bench/developments.py), and an idf grows with the log of the window's size: over the
    100,000 articles of a busy week every novel word would weigh about 5 more and copies
    would start to read as developments. The stories seen last keep the statistics at the
    scale the model knows, and the cost bounded whatever the store holds.

    Pure: a value the shell feeds with stored articles (`add`), in the order they arrived.
    No I/O, clock or logging; `terms` returns a copy, so a decision never sees it change.
    """

    def __init__(self, capacity: int = RECENT_STORIES) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._stories: dict[object, frozenset[str]] = {}  # insertion order = seen order
        self._frequency: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._stories)

    def add(self, story: object, title: str, text: str) -> None:
        """Count one article of `story` (any hashable key); its new terms count once."""
        terms = story_terms(title, text)
        old = self._stories.pop(story, None)
        fresh = terms if old is None else terms - old
        for term in fresh:
            self._frequency[term] = self._frequency.get(term, 0) + 1
        self._stories[story] = terms if old is None else old | terms
        while len(self._stories) > self.capacity:
            oldest = next(iter(self._stories))
            for term in self._stories.pop(oldest):
                left = self._frequency[term] - 1
                if left:
                    self._frequency[term] = left
                else:
                    del self._frequency[term]

    def terms(self) -> WindowTerms:
        return WindowTerms(len(self._stories), dict(self._frequency))


def similarity(article: StoryItem, other: StoryItem) -> float:
    """Character 5-gram Jaccard of the two headlines and first sentences: which delivered
    item a copy repeats, for "also reported by" and explain."""
    mine = _shingles(" . ".join([clean_title(article.title), *sentences(article.text)[:1]]))
    theirs = _shingles(" . ".join([clean_title(other.title), *sentences(other.text)[:1]]))
    return _jaccard(mine, theirs)


def kept_apart(title: str, story_title: str) -> bool:
    """Grouping's guard (adapters/db/story_store.py calls it on the story a near-copy would
    join): a headline that turns the story's headline event to its opposite ("reopens" under
    "closes", "lifted" under "imposed") is a different event, its own story, whatever the
    shared wording says. Measured (bench/developments.py, grouping): it keeps 13 of the 59
    joining developments of the tune split and 1 of 22 held out in stories of their own and
    loses no copy on either split nor on tests/data/story_pairs.jsonl (precision and recall
    unchanged). The same template headline over different texts (daily "Business
    Highlights") cannot be told apart here: those items carry no text, and the same
    headline with no text is the same content hash, an exact join; `next_edition` keeps
    them apart by time instead."""
    new, old = title_event_classes(title), title_event_classes(story_title)
    return bool(flipped(new, old) or flipped(old, new))


# Copies of one report arrive within hours; a headline that comes back a day later is the
# recurring headline's next edition.
EDITION_GAP = timedelta(hours=24)


def next_edition(text: str, published: datetime, story_published: Iterable[datetime]) -> bool:
    """Grouping's second guard: a report that is only a headline, published more than a day
    from every report of the story it would join, is the next edition of a recurring
    headline (the daily "Business Highlights": the same words, so the same content hash, an
    exact join), a story of its own. A report with a text is left to its text. Measured on
    the labelled sets: it separates the one such pair of tests/data/story_pairs.jsonl (a
    different story) and of story_developments.jsonl, and the one tune timeline; the one
    labelled headline-only copy with the same headline came 4 hours later and still joins.
    All of these are tune or dev data; no held-out set has such a pair."""
    if text.strip():
        return False
    gaps = [abs(published - at) for at in story_published]
    return bool(gaps) and min(gaps) > EDITION_GAP
