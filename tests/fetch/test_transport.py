"""The aiohttp transport: guarded resolver, raw bytes for the bounded decoder, pooling."""

from __future__ import annotations

import asyncio
import gzip
import socket

import httpx
import pytest

from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchOptions
from monitor.fetch import _client as fetch_client
from monitor.fetch._aiohttp import GuardedAiohttpTransport, GuardedResolver
from monitor.fetch._guard import GuardedBackend
from tests.fetch.conftest import ScriptedServer, resolver_for, run

GUARDED = FetchOptions(allow_private=False)


def test_auto_is_the_default() -> None:
    from monitor.config import FetchSettings  # noqa: PLC0415 - the config's own default

    assert FetchSettings().transport == "auto"
    assert "aiohttp" in fetch_client.TRANSPORTS
    assert FetchOptions().transport is None  # follows DEFAULT_TRANSPORT


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fetch transport"):
        Fetcher(FetchOptions(transport="curl"))


def test_resolver_answers_only_checked_addresses() -> None:
    table = {"dual.test": ["::1", "127.0.0.1"], "mixed.test": ["8.8.8.8", "10.0.0.7"]}
    resolve = resolver_for(table)

    async def scenario() -> tuple[list[tuple[str, str, int]], FetchError | None]:
        open_ = GuardedResolver(GuardedBackend(resolve, guard=False))
        answers = await open_.resolve("dual.test", 8080)
        guarded = GuardedResolver(GuardedBackend(resolve, guard=True))
        try:
            await guarded.resolve("mixed.test", 80)
        except FetchError as exc:
            return [(a["hostname"], a["host"], a["family"]) for a in answers], exc
        return [(a["hostname"], a["host"], a["family"]) for a in answers], None

    answers, refused = run(scenario())
    assert answers == [
        ("dual.test", "::1", socket.AF_INET6),
        ("dual.test", "127.0.0.1", socket.AF_INET),
    ]
    assert refused is not None
    assert refused.kind == "blocked-address"
    assert "10.0.0.7" in str(refused)


def test_metadata_literal_is_refused_even_when_private_is_allowed(server: ScriptedServer) -> None:
    async def scenario() -> FetchError:
        options = FetchOptions(allow_private=True, transport="aiohttp")
        async with Fetcher(options) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch("http://169.254.169.254/latest/meta-data/")
            return caught.value

    assert run(scenario()).kind == "blocked-address"
    assert server.connections == 0


def test_transport_hands_over_raw_encoded_bytes(server: ScriptedServer) -> None:
    """auto_decompress is off: what reaches fetch's bounded decoder is the gzip stream."""
    packed = gzip.compress(b"<rss>" + b"x" * 10_000 + b"</rss>")
    server.scripts["/feed"] = lambda ex: ex.reply(200, packed, {"Content-Encoding": "gzip"})

    async def scenario() -> bytes:
        backend = GuardedBackend(resolver_for({}), guard=False)
        transport = GuardedAiohttpTransport(
            backend, ssl_context=httpx.create_ssl_context(), max_connections=4
        )
        async with httpx.AsyncClient(transport=transport) as client:
            request = client.build_request("GET", server.url("/feed"))
            response = await client.send(request, stream=True)
            try:
                return b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()

    assert run(scenario()) == packed


def test_keep_alive_resolves_once_per_connection(server: ScriptedServer) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>", {"ETag": '"v1"'})
    resolver = resolver_for({"news.test": ["127.0.0.1"]})

    async def scenario() -> list[int]:
        options = FetchOptions(allow_private=True, transport="aiohttp")
        async with Fetcher(options, resolver=resolver) as fetcher:
            url = server.url("/feed", "news.test")
            return [(await fetcher.fetch(url)).status for _ in range(3)]

    assert run(scenario()) == [200, 200, 200]
    assert server.connections == 1
    assert resolver.lookups == ["news.test"]  # type: ignore[attr-defined]


def test_a_refused_body_drops_its_connection(server: ScriptedServer) -> None:
    """An unread body must not leave its bytes on a pooled connection for the next request."""
    server.scripts["/big"] = lambda ex: ex.reply(200, b"x" * 4 * 2**20)  # more than buffers hold
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")

    async def scenario() -> tuple[str, bytes]:
        options = FetchOptions(allow_private=True, transport="aiohttp", max_feed_bytes=1000)
        async with Fetcher(options) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch(server.url("/big"))
            after = await fetcher.fetch(server.url("/feed"))
            return caught.value.kind, after.body

    assert run(scenario()) == ("too-big", b"<rss/>")
    assert server.connections == 2


def test_only_get_and_head_are_sent() -> None:
    async def scenario() -> None:
        backend = GuardedBackend(resolver_for({}), guard=False)
        transport = GuardedAiohttpTransport(
            backend, ssl_context=httpx.create_ssl_context(), max_connections=1
        )
        async with httpx.AsyncClient(transport=transport) as client:
            await client.post("http://127.0.0.1:9/", content=b"x")

    with pytest.raises(httpx.UnsupportedProtocol):
        run(scenario())


def test_many_concurrent_fetches_share_the_pool(server: ScriptedServer) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")

    async def scenario() -> list[int]:
        options = FetchOptions(allow_private=True, transport="aiohttp", global_limit=4, per_host=4)
        async with Fetcher(options) as fetcher:
            done = await asyncio.gather(*(fetcher.fetch(server.url("/feed")) for _ in range(40)))
            return [f.status for f in done]

    assert run(scenario()) == [200] * 40
    assert server.max_in_flight["*"] <= 4
    assert server.connections <= 4


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/feed", "example.com"),
        ("https://example.com:443/feed", "example.com"),
        ("http://example.com:8080/feed", "example.com:8080"),
        ("https://bücher.example/feed", "xn--bcher-kva.example"),
        ("http://[::1]:8080/feed", "[::1]:8080"),
    ],
)
def test_the_host_header_is_the_one_httpx_would_send(url: str, host: str) -> None:
    """Requests carry a stream, so httpx adds no Host: ours must be the one it would add."""
    parsed = httpx.URL(url)
    assert fetch_client._host_header(parsed) == host
    assert httpx.Request("GET", parsed).headers["Host"] == host


@pytest.mark.parametrize(
    "given",
    [
        {"User-Agent": "ours/1", "Accept": "application/rss+xml", "Accept-Encoding": "gzip"},
        {"Accept": "application/rss+xml"},  # the others left out: none of aiohttp's added
        {},
    ],
)
def test_the_request_carries_exactly_the_headers_given(
    server: ScriptedServer, given: dict[str, str]
) -> None:
    """aiohttp adds User-Agent, Accept and Accept-Encoding to a request lacking them; the
    transport sends only what it was given (fetch asks only for encodings it decodes)."""
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")

    async def scenario() -> None:
        backend = GuardedBackend(resolver_for({}), guard=False)
        transport = GuardedAiohttpTransport(
            backend, ssl_context=httpx.create_ssl_context(), max_connections=1
        )
        request = httpx.Request(
            "GET", server.url("/feed"), headers=given, stream=httpx.ByteStream(b"")
        )
        response = await transport.handle_async_request(request)
        await response.aclose()
        await transport.aclose()

    run(scenario())
    (seen,) = server.requests
    wanted = {name.lower(): value for name, value in given.items()}
    own = {"user-agent", "accept", "accept-encoding"}
    assert {name: seen.headers.get(name) for name in own} == {
        name: wanted.get(name) for name in own
    }
