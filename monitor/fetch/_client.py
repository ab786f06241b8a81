"""The fetch stage: one pooled httpx client with limits, conditional GET and checked redirects.

Imports only `models`, `errors` and the project's USER_AGENT. Each redirect hop is followed
here so the guard, the redirect limit and the permanent-move bookkeeping see every hop.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from types import TracebackType

import httpcore
import httpx

from monitor import USER_AGENT
from monitor.errors import FetchError
from monitor.fetch._aiohttp import GuardedAiohttpTransport
from monitor.fetch._decode import ACCEPT_ENCODING, BoundedBody, content_coding
from monitor.fetch._errors import parse_retry_after, translate_errors
from monitor.fetch._guard import (
    AddressPolicy,
    GuardedBackend,
    Resolver,
    is_blocked_address,
    resolve_host,
)
from monitor.models import Fetched

FEED_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, application/feed+json,"
    " application/xml;q=0.9, text/xml;q=0.8, application/json;q=0.5, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_PERMANENT = frozenset({301, 308})
_TEMPORARY = frozenset({302, 303, 307})
_RETRY_HINTED = frozenset({429, 503})
KEEPALIVE_EXPIRY = 15.0  # seconds an idle connection stays pooled
# "auto": plain http through aiohttp's C parser (about a tenth of httpcore's CPU per request,
# bench/poll.py measures both), https through httpcore with h2, so HTTP/2 is spoken wherever a
# server offers it (ALPN), with its multiplexed, reused connections.
DEFAULT_TRANSPORT = "auto"
TRANSPORTS = ("aiohttp", "httpcore")  # the transports themselves; "auto" routes between them


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits and manners of every fetch; `allow_private` turns the address guard off."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0  # over all hops, body included; waiting for a slot excluded
    max_feed_bytes: int = 10 * 2**20
    max_page_bytes: int = 5 * 2**20
    max_redirects: int = 5
    per_host: int = 2
    global_limit: int = 64
    allow_private: bool = False
    user_agent: str = USER_AGENT
    http2: bool = True  # honoured by the "httpcore" transport only
    transport: str | None = None  # "auto", "aiohttp" or "httpcore"; None: DEFAULT_TRANSPORT


class _Slots:
    """At most `per_host` exchanges with one host and `total` overall; idle hosts are dropped."""

    def __init__(self, per_host: int, total: int) -> None:
        self._per_host = per_host
        self._total = asyncio.Semaphore(total)
        self._hosts: dict[str, _Host] = {}

    def hold(self, host: str) -> _Held:
        """`async with slots.hold(host):` one slot of the host's, then one of the total."""
        return _Held(self, host)


class _Host:
    """A host's semaphore and how many exchanges hold or wait for it."""

    __slots__ = ("semaphore", "users")

    def __init__(self, per_host: int) -> None:
        self.semaphore = asyncio.Semaphore(per_host)
        self.users = 0


class _Held:
    """One exchange's slots (a class: a generator context manager cost 3 us more a request)."""

    __slots__ = ("_host", "_name", "_slots")

    def __init__(self, slots: _Slots, name: str) -> None:
        self._slots = slots
        self._name = name

    async def __aenter__(self) -> None:
        slots = self._slots
        host = slots._hosts.get(self._name)
        if host is None:
            host = slots._hosts[self._name] = _Host(slots._per_host)
        host.users += 1
        self._host = host
        try:
            await host.semaphore.acquire()  # the host first: a queued host holds no global slot
        except BaseException:
            self._leave()
            raise
        try:
            await slots._total.acquire()
        except BaseException:
            host.semaphore.release()
            self._leave()
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots._total.release()
        self._host.semaphore.release()
        self._leave()

    def _leave(self) -> None:
        self._host.users -= 1
        if not self._host.users:
            del self._slots._hosts[self._name]


@dataclass(frozen=True, slots=True)
class _Answer:
    """One hop's outcome: a redirect target or a final response."""

    status: int
    headers: dict[str, str]
    location: httpx.URL | None = None
    body: bytes = b""


def _checked_url(url: httpx.URL | str, subject: str) -> tuple[httpx.URL, str]:
    """The URL checked, and its text (str() of an httpx.URL is rebuilt at every call)."""
    if isinstance(url, str):
        return _checked_text(url, subject)
    checked = _check(url, subject)
    return checked, str(checked)


def _plain_headers(headers: httpx.Headers) -> dict[str, str]:
    """Lower-case names to values, repeated ones joined by ", " as httpx's items() does, read
    from the raw pairs (items() works out the whole set's encoding again for each value)."""
    plain: dict[str, str] = {}
    for raw_name, raw_value in headers.raw:
        name = raw_name.decode("latin-1").lower()
        value = _header_text(raw_value)
        plain[name] = f"{plain[name]}, {value}" if name in plain else value
    return plain


def _header_text(raw: bytes) -> str:
    """ASCII as nearly every header is; else UTF-8 when it decodes, else latin-1 (as httpx)."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


@lru_cache(maxsize=65536)
def _checked_text(url: str, subject: str) -> tuple[httpx.URL, str]:
    """A feed's URL parsed and checked once, not at every poll (httpx.URL is immutable)."""
    checked = _check(url, subject)
    return checked, str(checked)


def _check(url: httpx.URL | str, subject: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {url!r}", kind="bad-url", subject=subject) from exc
    if parsed.scheme not in {"http", "https"}:
        raise FetchError(
            f"only http and https are fetched, not {parsed.scheme or 'a relative URL'!r}",
            kind="blocked-address",
            subject=subject,
        )
    if not parsed.host:
        raise FetchError(f"no host in {str(parsed)!r}", kind="bad-url", subject=subject)
    return parsed.copy_with(fragment=None) if parsed.fragment else parsed  # copy_with parses again


def _httpcore_transport(
    options: FetchOptions, backend: GuardedBackend, ssl_context: ssl.SSLContext
) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, http2=options.http2, trust_env=False)
    # httpx 0.28 takes no network backend, so its pool is rebuilt around ours (encode/httpx#3749).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=options.global_limit,
        max_keepalive_connections=options.global_limit,
        keepalive_expiry=KEEPALIVE_EXPIRY,
        http1=True,
        http2=options.http2,
        network_backend=backend,
    )
    return transport


def _make_transport(
    options: FetchOptions,
    backend: GuardedBackend,
    ssl_context: ssl.SSLContext,
) -> httpx.AsyncBaseTransport:
    kind = options.transport or DEFAULT_TRANSPORT
    if kind == "auto":
        return _ByScheme(
            http=_make_transport(replace(options, transport="aiohttp"), backend, ssl_context),
            https=_make_transport(replace(options, transport="httpcore"), backend, ssl_context),
        )
    if kind == "aiohttp":
        return GuardedAiohttpTransport(
            backend,
            ssl_context=ssl_context,
            max_connections=options.global_limit,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
    if kind == "httpcore":
        return _httpcore_transport(options, backend, ssl_context)
    raise ValueError(f"unknown fetch transport {kind!r}: use 'auto', 'aiohttp' or 'httpcore'")


class _ByScheme(httpx.AsyncBaseTransport):
    """http to one transport, https to another (the "auto" transport)."""

    def __init__(self, *, http: httpx.AsyncBaseTransport, https: httpx.AsyncBaseTransport) -> None:
        self._http = http
        self._https = https

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chosen = self._https if request.url.scheme == "https" else self._http
        return await chosen.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._https.aclose()


class Fetcher:
    """Fetches feeds and pages through shared keep-alive connections; an async context manager.

    `resolver` maps a host name to addresses (default: getaddrinfo); `is_blocked` judges an
    address when the guard is on; `ssl_context` replaces the default trust store.
    """

    def __init__(
        self,
        options: FetchOptions | None = None,
        *,
        resolver: Resolver | None = None,
        is_blocked: AddressPolicy = is_blocked_address,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = options or FetchOptions()
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        resolve = resolver or resolve_host
        # One transport per guard setting, since the guard lives in the connection pool.
        # Requests go straight to the transport: httpx.AsyncClient's per-request cookie, auth
        # and redirect machinery would cost more CPU than the exchange itself (fetch follows
        # redirects, sends no cookies and sets its own headers).
        self._transports = {
            allow: _make_transport(
                self.options,
                GuardedBackend(resolve, guard=not allow, is_blocked=is_blocked),
                context,
            )
            for allow in (False, True)
        }
        self._slots = _Slots(self.options.per_host, self.options.global_limit)
        self._base_headers = {
            "User-Agent": self.options.user_agent,
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        self._timeout = {
            "connect": self.options.connect_timeout,
            "read": self.options.read_timeout,
            "write": self.options.read_timeout,
            "pool": self.options.total_timeout,
        }

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for transport in self._transports.values():
            await transport.aclose()

    async def fetch_page(self, url: str, *, allow_private: bool | None = None) -> Fetched:
        """Fetch an article page: HTML accepted, `max_page_bytes` at most, no validators."""
        return await self.fetch(
            url,
            max_bytes=self.options.max_page_bytes,
            allow_private=allow_private,
            accept=PAGE_ACCEPT,
        )

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        allow_private: bool | None = None,
        accept: str = FEED_ACCEPT,
    ) -> Fetched:
        """GET `url`, following redirects; 200 and 304 return, anything else raises FetchError."""
        limit = self.options.max_feed_bytes if max_bytes is None else max_bytes
        allow = self.options.allow_private if allow_private is None else allow_private
        transport = self._transports[allow]
        headers = {**self._base_headers, "Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current, text = _checked_url(url, url)
        seen: set[str] = set()  # where redirects led
        permanent = True
        remaining = self.options.total_timeout
        loop = asyncio.get_running_loop()
        for hops in range(self.options.max_redirects + 1):
            with translate_errors(url):
                async with self._slots.hold(current.host):
                    started = loop.time()
                    async with asyncio.timeout(max(remaining, 0.0)):
                        answer = await self._exchange(transport, current, headers, limit, url)
                    remaining -= loop.time() - started
            if answer.location is None:
                return self._result(
                    url,
                    final=text,
                    answer=answer,
                    etag=etag,
                    last_modified=last_modified,
                    permanent=permanent,
                    hops=hops,
                )
            permanent = permanent and answer.status in _PERMANENT
            seen.add(text)
            current, text = _checked_url(answer.location, url)
            if text in seen:
                raise FetchError(f"redirect loop back to {text}", kind="redirect", subject=url)
        raise FetchError(
            f"more than {self.options.max_redirects} redirects", kind="redirect", subject=url
        )

    @staticmethod
    def _result(
        url: str,
        *,
        final: str,
        answer: _Answer,
        etag: str | None,
        last_modified: str | None,
        permanent: bool,
        hops: int,
    ) -> Fetched:
        if answer.status == 304:  # validators may be omitted on 304: keep the ones we hold
            etag = answer.headers.get("etag", etag)
            last_modified = answer.headers.get("last-modified", last_modified)
        else:
            etag = answer.headers.get("etag")
            last_modified = answer.headers.get("last-modified")
        return Fetched(
            url=url,
            final_url=final,
            status=answer.status,
            body=answer.body,
            headers=answer.headers,
            etag=etag,
            last_modified=last_modified,
            permanent_url=final if permanent and hops > 0 else None,
        )

    async def _exchange(
        self,
        transport: httpx.AsyncBaseTransport,
        url: httpx.URL,
        headers: dict[str, str],
        limit: int,
        subject: str,
    ) -> _Answer:
        # With a stream given, httpx builds the headers once and adds none of its own (with
        # none, it encodes an empty body and rebuilds them all to put Host first): Host is ours
        request = httpx.Request(
            "GET",
            url,
            headers={"Host": _host_header(url), **headers},
            stream=_NO_BODY,
            extensions={"timeout": self._timeout},
        )
        response = await transport.handle_async_request(request)
        try:
            status = response.status_code
            answer_headers = _plain_headers(response.headers)
            if status in _PERMANENT or status in _TEMPORARY:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(
                        f"HTTP {status} without a Location",
                        kind="http-status",
                        subject=subject,
                        status=status,
                    )
                try:
                    target = url.join(location.strip())
                except httpx.InvalidURL as exc:
                    raise FetchError(
                        f"bad redirect target {location!r}", kind="redirect", subject=subject
                    ) from exc
                return _Answer(status, answer_headers, location=target)
            if status == 304:
                return _Answer(status, answer_headers)
            if status != 200:
                raise _status_error(response, subject)
            return _Answer(status, answer_headers, body=await _read(response, limit, subject))
        finally:
            await response.aclose()


_NO_BODY = httpx.ByteStream(b"")


def _host_header(url: httpx.URL) -> str:
    """The Host header httpx would send: the host (IDNA-encoded) and a port other than the
    scheme's default (httpx.Request without a stream: 15.7 us; with one and this: 5.8 us)."""
    return url.netloc.decode("ascii")


def _status_error(response: httpx.Response, subject: str) -> FetchError:
    status = response.status_code
    retry_after = None
    hint = response.headers.get("retry-after")
    if status in _RETRY_HINTED and hint:
        retry_after = parse_retry_after(hint, datetime.now(UTC))
    reason = response.reason_phrase or "error"
    return FetchError(
        f"HTTP {status} {reason}",
        kind="http-status",
        subject=subject,
        status=status,
        retry_after=retry_after,
    )


async def _read(response: httpx.Response, limit: int, subject: str) -> bytes:
    """The body, decoded and bounded while it streams in."""
    coding = content_coding(response.headers.get_list("content-encoding"), subject=subject)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise FetchError(
            f"body of {length} bytes is larger than {limit}", kind="too-big", subject=subject
        )
    body = BoundedBody(coding, limit, subject=subject)
    async for chunk in response.aiter_raw():
        body.feed(chunk)
    return body.finish()
