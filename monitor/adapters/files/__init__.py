"""Files on disk that are inputs: the watchlist folder, and documents to score or learn from."""
