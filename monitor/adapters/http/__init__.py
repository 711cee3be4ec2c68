"""HTTP for feeds: the client and its transport, the conditional fetcher, its limits, and the
map from httpx's exceptions to ours."""
