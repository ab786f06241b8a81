"""A scripted HTTP/1.1 server on 127.0.0.1 for the fetch tests, plain or with TLS.

Each test maps paths to scripts; a script writes exactly the bytes it wants (status, headers,
a dribbled body, a reset). The server records every request and how many were in flight
per Host, so tests assert what the client sent. Every test runs once per fetch transport.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
import trustme

from monitor.fetch import Fetcher, FetchOptions
from monitor.fetch import _client as fetch_client
from monitor.models import Fetched

T = TypeVar("T")
WAIT = 5.0  # bound on every wait inside the server


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    host: str  # Host header without the port
    headers: dict[str, str]  # lower-case names


class Exchange:
    """What a script gets: the request and ways to answer it byte by byte."""

    def __init__(self, handler: _Handler, seen: Seen) -> None:
        self.handler = handler
        self.seen = seen
        self.server: ScriptedServer = handler.server.owner  # type: ignore[attr-defined]

    def head(self, status: int, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.write(body)

    def write(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0)."""
        sock = self.handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        self.handler.close_connection = True


Script = Callable[[Exchange], None]

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = WAIT  # idle keep-alive connections end on their own

    def do_GET(self) -> None:
        owner: ScriptedServer = self.server.owner  # type: ignore[attr-defined]
        headers = {name.lower(): value for name, value in self.headers.items()}
        host = headers.get("host", "").rsplit(":", 1)[0]
        seen = Seen(self.path.split("?", 1)[0], host, headers)
        owner.begin(seen)
        try:
            script = owner.scripts.get(seen.path)
            exchange = Exchange(self, seen)
            if script is None:
                exchange.reply(404, b"no script")
            else:
                script(exchange)
        finally:
            owner.end(seen)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: ScriptedServer, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        self.owner.connections += 1
        if self.tls is not None:
            sock.settimeout(WAIT)
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                raise
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys  # noqa: PLC0415

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError, ValueError)):
            self.owner.errors.append(exc)


class ScriptedServer:
    """Serves `scripts[path]` on 127.0.0.1; unknown paths get 404."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.scripts: dict[str, Script] = {}
        self.requests: list[Seen] = []
        self.errors: list[BaseException | None] = []
        self.connections = 0
        self.gate = threading.Event()  # scripts that hold a request wait on it
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self._changed = threading.Condition()
        self._server = _Server(self, tls)
        self.port: int = self._server.server_address[1]
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = self.origin.split(":", 1)[0]
        return f"{scheme}://{host}:{self.port}{path}"

    def begin(self, seen: Seen) -> None:
        with self._changed:
            self.requests.append(seen)
            self.in_flight[seen.host] += 1
            self.in_flight["*"] += 1
            for key in (seen.host, "*"):
                self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
            self._changed.notify_all()

    def end(self, seen: Seen) -> None:
        with self._changed:
            self.in_flight[seen.host] -= 1
            self.in_flight["*"] -= 1
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool]) -> bool:
        """Block (bounded) until `predicate()` holds; call through asyncio.to_thread."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout=WAIT)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


@pytest.fixture(autouse=True, params=fetch_client.TRANSPORTS)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transport a Fetcher uses when its options name none: each test runs with each."""
    name: str = request.param
    monkeypatch.setattr(fetch_client, "DEFAULT_TRANSPORT", name)
    return name


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv
    assert not srv.errors, srv.errors


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[ScriptedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("news.test").configure_cert(context)
    with ScriptedServer(tls=context) as srv:
        yield srv
    assert not srv.errors, srv.errors


def resolver_for(table: dict[str, list[str]]) -> Callable[[str], Awaitable[list[str]]]:
    """A resolver answering from `table`; other names fail like NXDOMAIN. Records lookups."""
    lookups: list[str] = []

    async def resolve(host: str) -> list[str]:
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.lookups = lookups  # type: ignore[attr-defined]
    return resolve


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one scenario on a fresh event loop."""
    return asyncio.run(coro)


FetchOne = Callable[..., Fetched]


@pytest.fixture
def fetch_one() -> FetchOne:
    """fetch_one(url, options=..., resolver=..., **fetch_kwargs) with a fresh Fetcher."""

    def call(
        url: str,
        options: FetchOptions | None = None,
        resolver: Callable[[str], Awaitable[list[str]]] | None = None,
        **kwargs: Any,
    ) -> Fetched:
        async def go() -> Fetched:
            opts = options or FetchOptions(allow_private=True)
            async with Fetcher(opts, resolver=resolver) as fetcher:
                return await fetcher.fetch(url, **kwargs)

        return run(go())

    return call
