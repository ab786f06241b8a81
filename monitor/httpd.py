"""The optional status endpoint: /healthz, /metrics and the latest matches as Atom feeds.

A deliberately small HTTP/1.1 server on asyncio streams (GET only, one request per
connection), so that health checks answer from the same event loop they vouch for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

from monitor import PROJECT_URL, __version__
from monitor.metrics import CONTENT_TYPE as METRICS_TYPE

if TYPE_CHECKING:
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEED_SIZE = 50
HEALTH_TIMEOUT = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def atom_feed(title: str, self_url: str, rows: list[Any], now: datetime) -> bytes:
    """An Atom document of archived matches, newest first, readable by any feed reader."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    sub(feed, "id", f"urn:news-monitor:{self_url}")
    sub(feed, "title", title)
    sub(feed, "updated", (rows[0].detected_at if rows else now).astimezone(UTC).isoformat())
    sub(feed, "link", rel="self", href=self_url)
    sub(feed, "generator", "news-monitor", uri=PROJECT_URL, version=__version__)
    for row in rows:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:news-monitor:match:{row.rule}:{row.story}")
        sub(entry, "title", f"{row.rule}: {row.title}")
        sub(entry, "link", href=row.url or "")
        sub(entry, "updated", row.detected_at.astimezone(UTC).isoformat())
        if row.published:
            sub(entry, "published", row.published.astimezone(UTC).isoformat())
        sub(entry, "category", term=row.rule)
        sub(sub(entry, "author"), "name", row.feed)
        sub(entry, "summary", f"matched: {', '.join(row.matched)}. {row.snippet}")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


class StatusServer:
    """Serves the endpoints for one runtime until closed."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.server: asyncio.Server | None = None
        self.url = ""

    @classmethod
    @asynccontextmanager
    async def maybe(
        cls, listen: str | None, runtime: Runtime
    ) -> AsyncIterator[StatusServer | None]:
        """Serve on `listen` ("host:port") if set; yield None otherwise."""
        if not listen:
            yield None
            return
        host, _, port = listen.rpartition(":")
        server = cls(runtime)
        server.server = await asyncio.start_server(server._handle, host.strip("[]"), int(port))
        bound = server.server.sockets[0].getsockname()
        server.url = f"http://{listen.rpartition(':')[0]}:{bound[1]}"
        try:
            yield server
        finally:
            server.server.close()
            await server.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, target, _ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method not in {"GET", "HEAD"}:
                status, ctype, body = 405, "text/plain", b"GET only\n"
            else:
                status, ctype, body = await self._route(unquote(urlsplit(target).path))
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a client that does not speak HTTP gets nothing
        finally:
            writer.close()

    async def _health(self) -> tuple[int, str, bytes]:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self.runtime.archive.outbox_counts), HEALTH_TIMEOUT
            )
        except Exception as exc:
            return 503, "text/plain", f"archive unavailable: {exc}\n".encode()
        return 200, "text/plain", b"ok\n"

    async def _route(self, path: str) -> tuple[int, str, bytes]:
        archive = self.runtime.archive
        if path == "/healthz":
            return await self._health()
        if path == "/metrics":
            return 200, METRICS_TYPE, await asyncio.to_thread(self.runtime.metrics.render)
        now = datetime.now(UTC)
        if path == "/matches.atom":
            rows = await asyncio.to_thread(archive.matches, limit=FEED_SIZE)
            return (
                200,
                ATOM_TYPE,
                atom_feed("news-monitor: latest matches", self.url + path, rows, now),
            )
        if path.startswith("/rules/") and path.endswith(".atom"):
            rule = path[len("/rules/") : -len(".atom")]
            if rule not in {r.name for r in self.runtime.settings.rules}:
                return 404, "text/plain", f"no rule named {rule!r}\n".encode()
            rows = await asyncio.to_thread(archive.matches, rule=rule, limit=FEED_SIZE)
            return 200, ATOM_TYPE, atom_feed(f"news-monitor: {rule}", self.url + path, rows, now)
        return 404, "text/plain", b"not found\n"
