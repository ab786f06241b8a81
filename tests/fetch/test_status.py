"""Statuses, conditional GET, headers sent and Retry-After, against the scripted server."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor import USER_AGENT
from monitor.errors import FETCH_ERROR_KINDS, FetchError
from monitor.fetch import FEED_ACCEPT, PAGE_ACCEPT, Fetcher, FetchOptions, parse_retry_after
from monitor.models import Fetched
from tests.fetch.conftest import Exchange, FetchOne, ScriptedServer, run

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"


def conditional(ex: Exchange) -> None:
    if ex.seen.headers.get("if-none-match") == ETAG:
        ex.reply(304, headers={"ETag": ETAG})
    else:
        ex.reply(
            200,
            FEED,
            {"Content-Type": "application/rss+xml", "ETag": ETAG, "Last-Modified": LAST_MODIFIED},
        )


def test_200_then_conditional_304(server: ScriptedServer) -> None:
    server.scripts["/feed"] = conditional

    async def scenario() -> tuple[Fetched, Fetched]:
        async with Fetcher(FetchOptions(allow_private=True)) as fetcher:
            first = await fetcher.fetch(server.url("/feed"))
            again = await fetcher.fetch(
                server.url("/feed"), etag=first.etag, last_modified=first.last_modified
            )
            return first, again

    first, again = run(scenario())
    assert (first.status, first.body, first.etag) == (200, FEED, ETAG)
    assert first.last_modified == LAST_MODIFIED
    assert first.content_type == "application/rss+xml"
    assert first.final_url == first.url == server.url("/feed")
    assert first.permanent_url is None
    assert again.not_modified
    assert again.body == b""
    assert (again.etag, again.last_modified) == (ETAG, LAST_MODIFIED)
    sent = server.requests[1].headers
    assert sent["if-none-match"] == ETAG
    assert sent["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in server.requests[0].headers
    assert server.connections == 1  # the keep-alive connection was reused


def test_headers_sent(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, FEED)
    fetch_one(server.url("/feed"))
    sent = server.requests[0].headers
    assert sent["user-agent"] == USER_AGENT
    assert "news-monitor/" in USER_AGENT
    assert "https://" in USER_AGENT
    assert sent["accept-encoding"] == "gzip, deflate"
    assert sent["accept"] == FEED_ACCEPT


def test_page_fetch_asks_for_html(server: ScriptedServer) -> None:
    server.scripts["/story"] = lambda ex: ex.reply(200, b"<html>story</html>")

    async def scenario() -> Fetched:
        async with Fetcher(FetchOptions(allow_private=True)) as fetcher:
            return await fetcher.fetch_page(server.url("/story"))

    assert run(scenario()).body == b"<html>story</html>"
    assert server.requests[0].headers["accept"] == PAGE_ACCEPT


def test_wrong_content_type_still_returns(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"%PDF-1.4", {"Content-Type": "image/png"})
    got = fetch_one(server.url("/feed"))
    assert (got.status, got.body, got.content_type) == (200, b"%PDF-1.4", "image/png")


def test_gzip_body_is_decoded(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(
        200, gzip.compress(FEED), {"Content-Encoding": "gzip"}
    )
    assert fetch_one(server.url("/feed")).body == FEED


def test_concatenated_gzip_members_are_decoded(server: ScriptedServer, fetch_one: FetchOne) -> None:
    body = gzip.compress(FEED[:20]) + gzip.compress(FEED[20:])
    server.scripts["/feed"] = lambda ex: ex.reply(200, body, {"Content-Encoding": "gzip"})
    assert fetch_one(server.url("/feed")).body == FEED


@pytest.mark.parametrize("wrapped", [True, False], ids=["zlib", "raw-deflate"])
def test_deflate_body_is_decoded(
    server: ScriptedServer, fetch_one: FetchOne, wrapped: bool
) -> None:
    import zlib  # noqa: PLC0415

    packer = zlib.compressobj(wbits=15 if wrapped else -15)
    body = packer.compress(FEED) + packer.flush()
    server.scripts["/feed"] = lambda ex: ex.reply(200, body, {"Content-Encoding": "deflate"})
    assert fetch_one(server.url("/feed")).body == FEED


@pytest.mark.parametrize("status", [404, 410, 500, 502, 403, 204])
def test_error_statuses(server: ScriptedServer, fetch_one: FetchOne, status: int) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(status, b"nope" if status != 204 else b"")
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/feed"))
    assert (caught.value.kind, caught.value.status) == ("http-status", status)
    assert caught.value.retry_after is None
    assert caught.value.kind in FETCH_ERROR_KINDS
    assert str(status) in str(caught.value)


def test_429_with_retry_after_seconds(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(429, b"slow down", {"Retry-After": "120"})
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/feed"))
    assert (caught.value.kind, caught.value.status, caught.value.retry_after) == (
        "http-status",
        429,
        120.0,
    )


def test_503_with_retry_after_date(server: ScriptedServer, fetch_one: FetchOne) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    server.scripts["/feed"] = lambda ex: ex.reply(503, b"maintenance", {"Retry-After": when})
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/feed"))
    assert caught.value.status == 503
    assert caught.value.retry_after is not None
    assert 590 <= caught.value.retry_after <= 600


NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Tue, 01 Jul 2025 12:05:00 GMT", 300.0),
        ("Tue, 01 Jul 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        ("Tuesday, 01-Jul-25 12:01:00 GMT", 60.0),  # RFC 850 form
        ("Tue, 01 Jul 2025 12:00:30 -0000", 30.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected
