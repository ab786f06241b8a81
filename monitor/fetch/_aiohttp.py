"""An httpx transport over aiohttp, keeping the fetch stage's two guarantees.

httpx stays the client API; aiohttp's C parser moves the bytes (about a tenth of httpcore's
CPU per request). The address guard runs in an aiohttp resolver that answers only checked
IPs, so the socket goes to the judged address (literal IPs are judged before the request);
`auto_decompress=False` leaves the raw body to fetch's bounded decoder.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import lru_cache

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from monitor.fetch._guard import MAX_ADDRESSES, GuardedBackend, literal_address


class GuardedResolver(AbstractResolver):
    """aiohttp resolver: `guard` resolves and judges; only allowed addresses come back."""

    def __init__(self, guard: GuardedBackend) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = (await self._guard.addresses(host, None))[:MAX_ADDRESSES]
        self._guard.check(host, addresses)  # FetchError passes through aiohttp unchanged
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in addresses
        ]

    async def close(self) -> None:
        """Nothing to release."""


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """aiohttp failures as the httpx exceptions fetch's error edge already translates."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ClientConnectorError as exc:  # DNS, refused, TLS: the cause says which
        # Not str(exc): aiohttp writes "ssl:default" into every connect failure.
        raise httpx.ConnectError(f"cannot connect: {exc.__cause__ or type(exc).__name__}") from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line or header
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc) or type(exc).__name__) from exc


class _RawStream(httpx.AsyncByteStream):
    """The body as it arrives, still encoded; closing returns or drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.is_eof():
            self._response.release()  # keep-alive: back to the pool
        else:
            self._response.close()  # unread body (refused, too big): drop the connection


class GuardedAiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one aiohttp session whose resolver is `guard`; no proxy, no redirects.

    The session is created on first use, inside the running event loop.
    """

    def __init__(
        self,
        guard: GuardedBackend,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        keepalive_expiry: float = 15.0,
    ) -> None:
        self._guard = guard
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._guard),
            use_dns_cache=False,  # every new connection is resolved and judged again
            ssl=self._ssl,
            limit=self._max_connections,
            limit_per_host=0,  # fetch's own slots hold the per-host limit
            keepalive_timeout=self._keepalive,
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # raw bytes: fetch decodes them with a bound
            trust_env=False,  # a proxy from the environment would bypass the guard
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        limits = request.extensions.get("timeout", {})
        key = (limits.get("connect"), limits.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            # `connect` covers resolving, the TCP and TLS handshakes; `sock_read` each read.
            timeout = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[0], sock_read=key[1]
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in {"GET", "HEAD"}:
            raise httpx.UnsupportedProtocol(f"{request.method} is not fetched")
        literal = literal_address(request.url.host)
        if literal is not None:  # aiohttp does not ask the resolver about literal IPs
            self._guard.check(request.url.host, [literal])
        if self._session is None:
            self._session = self._open()
        headers = []
        given = set()
        for name, value in request.headers.multi_items():
            lower = name.lower()
            if lower != "host":
                headers.append((name, value))
                given.add(lower)
        with _httpx_errors():
            response = await self._session.request(
                request.method,
                _yarl(str(request.url)),
                headers=headers,
                # none of aiohttp's own: the fetch stage asks only for the encodings it
                # decodes. Only for a request lacking one: skipping costs 3% of a 304 poll.
                skip_auto_headers=None if given >= _OWN_HEADERS else _OWN_HEADERS - given,
                allow_redirects=False,
                timeout=self._timeout(request),
            )
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_RawStream(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


# the headers aiohttp adds to a request lacking them
_OWN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding"})


@lru_cache(maxsize=65536)
def _yarl(url: str) -> URL:
    """aiohttp's URL for httpx's, parsed once per feed URL (yarl URLs are immutable)."""
    return URL(url, encoded=True)
