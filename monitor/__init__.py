"""monitor: a self-hosted news-monitoring alert daemon."""

import sys
from typing import Any

# httpx imports its command-line client whenever click, rich and pygments are installed, and
# rich is ours: 5.6 MB of every process and 60 ms of its start that monitor never uses
# (encode/httpx#3547, not merged). A module set to None in sys.modules fails to import, and
# httpx then installs its own stand-in for the client. Only before httpx is loaded.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    """`__version__`, read when first asked for: importlib.metadata is 4.6 MB of every
    process, the forkserver and each parse worker included, which never ask."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("monitor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
