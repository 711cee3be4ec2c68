"""monitor: a self-hosted news-monitoring alert daemon."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monitor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
