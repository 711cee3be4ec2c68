"""The one exception tree of monitor. Library exceptions are mapped onto it at the edges.

    MonitorError                  anything monitor reports to a user
    ├── ConfigError               config.toml is invalid (file: key: what)
    ├── WatchlistError            a watchlist file is invalid; carries every problem found
    ├── DatabaseError             the database cannot be reached or migrated
    ├── FetchError                one feed could not be fetched (stage "fetch")
    │   ├── FetchTimeout          no complete answer within the time limit
    │   ├── TooLarge              the body exceeded max_bytes after decompression
    │   ├── TooManyRedirects      a redirect loop or chain longer than the limit
    │   ├── HTTPStatusError       the server answered with an error status
    │   ├── BlockedAddress        the SSRF guard refused a hop into a private network
    │   └── ConnectError          DNS, TCP or TLS failed
    ├── ParseError                the bytes are not a feed we can read (stage "parse")
    └── DeliveryError             a channel did not accept a message (stage "deliver")
        └── PermanentDeliveryError  retrying cannot help (bad address, 4xx other than 408/429)

Every error's `str()` is a sentence a user can act on; the stage prefix says where it happened.
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


class BlockedAddress(FetchError):
    """The SSRF guard refused a hop: a redirect from a public address into this machine's
    networks (loopback, private, link-local, CGNAT, cloud metadata), or an imported feed URL
    pointing there. Set `[polling] allow_private_networks = true` if the feed is meant to."""


class ConnectError(FetchError):
    pass


class ParseError(MonitorError):
    stage = "parse"


class DeliveryError(MonitorError):
    stage = "deliver"


class PermanentDeliveryError(DeliveryError):
    pass
