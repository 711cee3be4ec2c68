"""A real HTTP server on 127.0.0.1 for end-to-end tests and benchmarks: serves feeds with
ETags and Last-Modified, honours conditional GETs, and can misbehave on purpose (hang, drip,
gzip bombs, redirects, error statuses). Never listens beyond loopback.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = "Sat, 21 Nov 2026 10:00:00 GMT"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    # Set: answer once it is set (waiting at most `delay` seconds), not after a fixed sleep,
    # so a test can hold a response until something else has happened, however loaded the
    # machine is.
    gate: threading.Event | None = None
    behaviour: str = "normal"  # normal | hang | drip | gzip-bomb | endless


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on a bomb or a hang are the point of those routes


class FeedServer:
    """`with FeedServer() as server: server.add("/a.xml", Route(...)); server.url("/a.xml")`."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1") -> None:
        if not host.startswith("127."):
            raise ValueError(f"loopback addresses only, got {host}")
        self.host = host
        self.routes: dict[str, Route] = {}
        self.latency = latency
        self.hits: Counter[str] = Counter()
        self.conditional_hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        # When the first and the latest request since the counts were last taken arrived
        # (time.time()): a benchmark's polling window, as the server saw it.
        self.first_hit_at: float | None = None
        self.last_hit_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server((host, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def take_counts(self) -> tuple[Counter[str], Counter[str], float | None, float | None]:
        """Hits and 304s per path, and the first and latest request's time, since the last
        call (or the start); the counts start again from zero."""
        with self._lock:
            taken = (self.hits, self.not_modified, self.first_hit_at, self.last_hit_at)
            self.hits, self.not_modified = Counter(), Counter()
            self.conditional_hits = Counter()
            self.first_hit_at = self.last_hit_at = None
        return taken

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: with Nagle on, the second waits for the
            # client's delayed ACK (40 ms a response) unless `latency` asks for a delay.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path
                with server._lock:
                    server.hits[path] += 1
                    server.last_hit_at = time.time()
                    if server.first_hit_at is None:
                        server.first_hit_at = server.last_hit_at
                    if self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"):
                        server.conditional_hits[path] += 1
                route = server.routes.get(path)
                if server.latency:
                    time.sleep(server.latency)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.gate is not None:
                    route.gate.wait(route.delay or None)
                elif route.delay:
                    time.sleep(route.delay)
                if route.behaviour != "normal":
                    self._misbehave(route)
                    return
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                if (
                    route.status == 200
                    and route.etag
                    and self.headers.get("If-None-Match") == route.etag
                ):
                    with server._lock:
                        server.not_modified[path] += 1
                    self._send(304, b"", {"ETag": route.etag})
                    return
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _misbehave(self, route: Route) -> None:
                try:
                    if route.behaviour == "hang":
                        server._stop.wait(600)
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", route.content_type)
                    if route.behaviour == "gzip-bomb":
                        bomb = _gzip_bomb()
                        self.send_header("Content-Encoding", "gzip")
                        self.send_header("Content-Length", str(len(bomb)))
                        self.end_headers()
                        self.wfile.write(bomb)
                        return
                    self.end_headers()  # no length: the body runs until we stop
                    chunk = b"<rss><channel>" + b"<item><title>x</title></item>" * 1000
                    while not server._stop.is_set():
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if route.behaviour == "drip":
                            server._stop.wait(0.5)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


_BOMB: bytes | None = None


def _gzip_bomb() -> bytes:
    """~1 GB of zeros in ~1 MB of gzip."""
    global _BOMB
    if _BOMB is None:
        block = bytes(16 * 1024 * 1024)
        stream = gzip.compress(block, compresslevel=9)
        # Concatenated gzip members decompress to the concatenation of their contents.
        _BOMB = stream * 64
    return _BOMB
