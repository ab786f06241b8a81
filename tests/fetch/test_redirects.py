"""Redirects followed hop by hop: permanent moves reported, loops and long chains refused."""

from __future__ import annotations

import pytest

from monitor.errors import FetchError
from monitor.fetch import FetchOptions
from tests.fetch.conftest import Exchange, FetchOne, ScriptedServer

FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def moved(status: int, location: str):  # type: ignore[no-untyped-def]
    return lambda ex: ex.reply(status, b"", {"Location": location})


def ok(ex: Exchange) -> None:
    ex.reply(200, FEED, {"Content-Type": "application/rss+xml"})


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_sets_permanent_url(
    server: ScriptedServer, fetch_one: FetchOne, status: int
) -> None:
    server.scripts["/old"] = moved(status, "/new")
    server.scripts["/new"] = ok
    got = fetch_one(server.url("/old"))
    assert (got.status, got.body) == (200, FEED)
    assert got.url == server.url("/old")
    assert got.final_url == got.permanent_url == server.url("/new")


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_is_followed_not_stored(
    server: ScriptedServer, fetch_one: FetchOne, status: int
) -> None:
    server.scripts["/feed"] = moved(status, server.url("/today"))
    server.scripts["/today"] = ok
    got = fetch_one(server.url("/feed"))
    assert (got.status, got.final_url, got.permanent_url) == (200, server.url("/today"), None)


def test_chain_with_a_temporary_hop_is_not_permanent(
    server: ScriptedServer, fetch_one: FetchOne
) -> None:
    server.scripts["/a"] = moved(301, "/b")
    server.scripts["/b"] = moved(302, "/c")
    server.scripts["/c"] = ok
    got = fetch_one(server.url("/a"))
    assert got.final_url == server.url("/c")
    assert got.permanent_url is None


def test_all_permanent_chain_reports_the_end(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/a"] = moved(301, "/b")
    server.scripts["/b"] = moved(308, "/c")
    server.scripts["/c"] = ok
    assert fetch_one(server.url("/a")).permanent_url == server.url("/c")


def test_validators_follow_the_redirect(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/old"] = moved(301, "/new")
    server.scripts["/new"] = lambda ex: ex.reply(304)
    got = fetch_one(server.url("/old"), etag='"x"')
    assert got.not_modified
    assert got.permanent_url == server.url("/new")
    assert server.requests[1].headers["if-none-match"] == '"x"'


def test_redirect_loop(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/a"] = moved(302, "/b")
    server.scripts["/b"] = moved(302, "/a")
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/a"))
    assert caught.value.kind == "redirect"
    assert "loop" in str(caught.value)
    assert len(server.requests) == 2


def _chain(server: ScriptedServer, hops: int) -> None:
    for n in range(hops):
        server.scripts[f"/r{n}"] = moved(302, f"/r{n + 1}")
    server.scripts[f"/r{hops}"] = ok


def test_five_redirects_are_followed(server: ScriptedServer, fetch_one: FetchOne) -> None:
    _chain(server, 5)
    assert fetch_one(server.url("/r0")).final_url == server.url("/r5")


def test_six_redirects_are_too_many(server: ScriptedServer, fetch_one: FetchOne) -> None:
    _chain(server, 6)
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/r0"))
    assert caught.value.kind == "redirect"
    assert len(server.requests) == 6  # the sixth redirect is not followed


def test_max_redirects_option(server: ScriptedServer, fetch_one: FetchOne) -> None:
    _chain(server, 1)
    with pytest.raises(FetchError, match="more than 0 redirects"):
        fetch_one(server.url("/r0"), FetchOptions(allow_private=True, max_redirects=0))


def test_redirect_without_location(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(302)
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/feed"))
    assert (caught.value.kind, caught.value.status) == ("http-status", 302)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/feed", "gopher://x/"])
def test_redirect_to_other_scheme_is_refused(
    server: ScriptedServer, fetch_one: FetchOne, target: str
) -> None:
    server.scripts["/feed"] = moved(302, target)
    with pytest.raises(FetchError) as caught:
        fetch_one(server.url("/feed"))
    assert caught.value.kind == "blocked-address"


def test_header_values_are_read_as_httpx_reads_them(
    server: ScriptedServer, fetch_one: FetchOne
) -> None:
    """Repeated headers are joined with ", "; a UTF-8 Location is followed as UTF-8."""

    def utf8_redirect(ex: Exchange) -> None:
        ex.write(
            b"HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\nLocation: /caf\xc3\xa9\r\n\r\n"
        )

    def repeated(ex: Exchange) -> None:
        ex.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Cache-Control: public\r\nCache-Control: max-age=600\r\n"
            + f"Content-Length: {len(FEED)}\r\n\r\n".encode()
            + FEED
        )

    server.scripts["/old"] = utf8_redirect
    server.scripts["/caf%C3%A9"] = repeated
    got = fetch_one(server.url("/old"))
    assert got.final_url == server.url("/caf%C3%A9")
    assert got.headers["cache-control"] == "public, max-age=600"


def test_fragments_are_dropped_from_the_feed_url_and_redirect_targets(
    server: ScriptedServer, fetch_one: FetchOne
) -> None:
    server.scripts["/old"] = moved(301, "/new#top")
    server.scripts["/new"] = ok
    got = fetch_one(server.url("/old#section"))
    assert (got.status, got.final_url) == (200, server.url("/new"))
    assert got.permanent_url == server.url("/new")
