"""The watchlist model and its validation from TOML text (DESIGN.md, "Watchlist files").

Pure: text in, `Watchlist` or `WatchlistError` out; reading files is adapters/files/watchlists.py.
Every problem in a file is reported, not just the first, each as `FILE: WHERE: WHAT`, with
`(line N)` appended when the line is known. Indexes count from 0, as in config errors.

Decisions the format leaves open:

- `require`, `exclude` and `near` take strings. A string that is a spelling of a term (its
  `match` or an alias, compared after folding) stands for that term with all its spellings;
  any other string is a free-standing phrase matched by the same rules (case-insensitive, no
  weight). DESIGN's own example needs both: "S-400" is a term, "second batch" is not.
- A spelling ending in "*" is a stem (`Kurd*`: Kurds, Kurdish, Kurdistan); at least three
  letters or digits must come before the "*".
- One spelling belongs to one term: two terms that fold to the same spelling would count
  every hit twice, so that is an error.
- `schedule` is a 5-field crontab line or @hourly, @daily (= @midnight), @weekly. Weekday
  numbers follow crontab (0 and 7 are Sunday); `Watchlist.cron` spells them as names
  because APScheduler 3 counts 0 as Monday. Use CronTrigger.from_crontab(w.cron, w.timezone).
"""

from monitor.core.watchlist.model import DEFAULT_TIMEZONE, Near, Term, Watchlist, spelling_key
from monitor.core.watchlist.parse import parse_watchlist, validate_watchlist
from monitor.core.watchlist.schedule import DEFAULT_SCHEDULE, check_cron, crontab_for_apscheduler

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_TIMEZONE",
    "Near",
    "Term",
    "Watchlist",
    "check_cron",
    "crontab_for_apscheduler",
    "parse_watchlist",
    "spelling_key",
    "validate_watchlist",
]
