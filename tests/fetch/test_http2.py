"""HTTP/2 where a server offers it: a real h2 server (hypercorn, TLS with ALPN) on loopback.

With the default "auto" transport an https feed is fetched over HTTP/2, and several feeds of
one host share one connection; plain http goes through the aiohttp transport.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from monitor.fetch import Fetcher, FetchOptions
from tests.alerts.support import free_port
from tests.fetch.conftest import resolver_for, run

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>h2</title></channel></rss>'


@pytest.fixture(autouse=True)
def transport() -> str:
    """The default ("auto") under test, not the per-transport parameter of the other tests."""
    return "auto"


class _App:
    """An ASGI app recording the HTTP version and connection of each request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append((scope["http_version"], scope.get("client")))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/rss+xml")],
            }
        )
        await send({"type": "http.response.body", "body": FEED})


@pytest.mark.parametrize(
    ("kind", "version"), [("auto", "2"), ("httpcore", "2"), ("aiohttp", "1.1")]
)
def test_https_speaks_http2_and_shares_one_connection(
    tmp_path: Path, ca: trustme.CA, kind: str, version: str
) -> None:
    cert = ca.issue_cert("news.test")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    config = Config()
    config.certfile = config.keyfile = str(tmp_path / "server.pem")
    config.alpn_protocols = ["h2", "http/1.1"]
    config.loglevel = "WARNING"
    app = _App()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]

    async def scenario() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        for _ in range(500):  # until it listens (bounded: 5 s)
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            break
        options = FetchOptions(allow_private=True, transport=kind)
        resolver = resolver_for({"news.test": ["127.0.0.1"]})
        statuses = []
        async with Fetcher(options, resolver=resolver, ssl_context=client_context) as fetcher:
            for path in ("a", "b", "c"):
                got = await fetcher.fetch(f"https://news.test:{port}/{path}.rss")
                statuses.append(got.status)
        stop.set()
        await task
        return statuses

    assert run(scenario()) == [200, 200, 200]
    assert [seen for seen, _ in app.seen] == [version] * 3
    assert len({client for _, client in app.seen}) == 1  # one reused connection
