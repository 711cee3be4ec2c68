"""The one exception tree of monitor. Library exceptions are mapped onto it at the edges.

    MonitorError                  anything monitor reports to a user
    ├── ConfigError               config.toml is invalid (file: key: what)
    ├── WatchlistError            a watchlist file is invalid; carries every problem found
    ├── InputError                a command's argument or input file is wrong (exit 2)
    ├── DatabaseError             the database cannot be reached or migrated
    ├── FetchError                one feed could not be fetched (stage "fetch")
    │   ├── FetchTimeout          no complete answer within the time limit
    │   ├── TooLarge              the body exceeded max_bytes after decompression
    │   ├── TooManyRedirects      a redirect loop or chain longer than the limit
    │   ├── HTTPStatusError       the server answered with an error status
    │   └── ConnectError          DNS, TCP or TLS failed
    ├── ParseError                the bytes are not a feed we can read (stage "parse")
    └── DeliveryError             a channel did not accept a message (stage "deliver")
        └── PermanentDeliveryError  retrying cannot help (bad address, 4xx other than 408/429)

Every error's `str()` is a sentence a user can act on; the stage prefix says where it happened.
The command line exits 2 for ConfigError, WatchlistError and InputError (the input must be
fixed), 1 for the others (something failed while doing what was asked).
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error monitor raises on purpose."""

    stage = "monitor"


class ConfigError(MonitorError):
    stage = "config"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class WatchlistError(MonitorError):
    stage = "watchlist"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputError(MonitorError):
    """An argument names something that does not exist, or an input file cannot be used:
    `--feed nope`, `deliveries retry 99999`, a missing or malformed file."""

    stage = "input"


class DatabaseError(MonitorError):
    stage = "database"


class FetchError(MonitorError):
    stage = "fetch"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class FetchTimeout(FetchError):
    pass


class TooLarge(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class HTTPStatusError(FetchError):
    pass


class ConnectError(FetchError):
    pass


class ParseError(MonitorError):
    stage = "parse"


class DeliveryError(MonitorError):
    stage = "deliver"


class PermanentDeliveryError(DeliveryError):
    pass
