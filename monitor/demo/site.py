"""A static HTTP server for the bundled fixture site, on loopback, in a background thread.

The site's files carry the token `{{BASE}}`, replaced on the fly by the server's origin so
that feeds link to pages on the same server. Used by `news-monitor demo` and by the tests.
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def bundled_site() -> Path:
    """The directory of the site shipped inside the package."""
    return Path(str(files("monitor.demo") / "site"))


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        name = urlsplit(self.path).path.lstrip("/") or "index.html"
        path = (self.server.root / name).resolve()
        if self.server.root.resolve() not in path.parents or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes().replace(b"{{BASE}}", self.server.origin.encode())
        ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own output."""


_Server = TypeVar("_Server", bound=ThreadingHTTPServer)


@contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    """Run `server` in a thread for the block; shut down and closed after, whatever happens."""
    thread = threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_site(root: Path | None = None) -> Iterator[_SiteServer]:
    """Serve `root` (default: the bundled site) on 127.0.0.1; yields the server (`.origin`)."""
    with serving(_SiteServer(root or bundled_site())) as server:
        yield server
