"""A watchlist as plain JSON values and its version: what the database keeps of the watchlist
in force, so `backtest` can replay that version while the file on disk holds an edit, and a
backfill runs only when a watchlist really changed. Pure: no files, no database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from monitor.core.watchlist.model import Near, Term, Watchlist


def watchlist_to_dict(watchlist: Watchlist) -> dict[str, Any]:
    """Every setting of the watchlist as JSON values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(watchlist)))  # type: ignore[no-any-return]


def watchlist_from_dict(data: dict[str, Any]) -> Watchlist:
    """The inverse of `watchlist_to_dict`."""
    values = dict(data)
    values["terms"] = tuple(
        Term(
            match=t["match"],
            aliases=tuple(t["aliases"]),
            weight=t["weight"],
            case_sensitive=t["case_sensitive"],
        )
        for t in values["terms"]
    )
    values["near"] = tuple(
        Near(terms=tuple(n["terms"]), within=n["within"], bonus=n["bonus"]) for n in values["near"]
    )
    values["require"] = tuple(tuple(group) for group in values["require"])
    for key, value in values.items():  # the other lists of strings: channels, examples...
        if isinstance(value, list):
            values[key] = tuple(value)
    return Watchlist(**values)


def watchlist_version(watchlist: Watchlist) -> str:
    """A hash of what the watchlist decides and where it sends: equal for equal settings,
    whichever file they were read from."""
    data = watchlist_to_dict(dataclasses.replace(watchlist, source=""))
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
