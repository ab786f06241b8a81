"""Every way a feed can fail, in ONE cycle through Runtime and Pipeline, against a real server.

One scripted server answers each scenario on its own host name (all resolved to 127.0.0.1 by
the Fetcher's resolver, so no host shares a per-host limit or a host pause). The address guard
is on globally; the scripted feeds opt out with `allow_private`, the two guard feeds do not.
After the cycle each feed's FeedState in the archive holds the documented state, and the good
feed polled in the same cycle is unaffected.

| answer                      | outcome      | stored on the feed                               |
| 304                         | not-modified | no error, ETag kept                              |
| 301 then 200                | ok           | current_url = the new URL (logged)               |
| 302 then 200                | ok           | current_url unchanged (not stored)               |
| redirect loop               | error        | kind redirect                                    |
| 404                         | error        | kind http-status, last_status 404                |
| 410                         | error        | kind http-status, disabled (polling stops)       |
| 429 + Retry-After: 120      | error        | kind http-status, next poll no sooner than 120 s |
| 503                         | error        | kind http-status, backoff                        |
| slow body past the timeout  | error        | kind timeout                                     |
| reset connection            | error        | kind connect                                     |
| gzip bomb                   | error        | kind too-big                                     |
| oversized body              | error        | kind too-big                                     |
| wrong content type          | ok           | entries read                                     |
| ISO-8859-1 charset          | ok           | entries read with the right characters           |
| HTML page                   | error        | kind not-a-feed                                  |
| broken XML, no entry        | error        | kind parse                                       |
| TLS to a plain-HTTP server  | error        | kind tls                                         |
| unknown host name           | error        | kind dns                                         |
| name -> 127.0.0.1, guard on | error        | kind blocked-address                             |
| name -> 169.254.169.254     | error        | kind blocked-address                             |
| big HTML page, worker pool  | error        | kind not-a-feed                                  |
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import Archive, StoredEntry
from monitor.config import load_settings
from monitor.fetch import Fetcher
from monitor.metrics import Metrics
from monitor.models import FeedState
from monitor.pipeline import Pipeline, PollResult
from monitor.runtime import (
    Runtime,
    build_channel,
    feed_jobs,
    fetch_options,
    health_policy,
    retry_policy,
)
from monitor.workers import ExtractorPool
from tests.fetch.conftest import Exchange, ScriptedServer, resolver_for

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MiB = 2**20
ETAG = '"v1"'


def rss(title: str = "Good news", items: int = 2, encoding: str = "utf-8") -> bytes:
    body = "".join(
        f"<item><title>{title} {n}</title><link>http://example.org/{n}</link>"
        f"<guid>{title}-{n}</guid><description>{title} story {n}</description></item>"
        for n in range(items)
    )
    head = f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
    return f"{head}<title>{title}</title>{body}</channel></rss>".encode(encoding)


FEED = rss()
BOMB = gzip.compress(bytes(16 * MiB), 9)  # 16 MiB of zeros in about 16 KB
HTML = b"<!doctype html><html><head><title>Home</title></head><body>Welcome</body></html>"
BIG_HTML = HTML.replace(b"Welcome", b"<p>Welcome</p>" * 30_000)  # parsed in the worker pool


def ok(body: bytes = FEED, content_type: str = "application/rss+xml") -> Callable[[Exchange], None]:
    return lambda ex: ex.reply(200, body, {"Content-Type": content_type})


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[Exchange], None]:
    return lambda ex: ex.reply(code, b"no", headers)


def redirect(code: int, to: str) -> Callable[[Exchange], None]:
    return lambda ex: ex.reply(code, headers={"Location": to})


def conditional(ex: Exchange) -> None:
    if ex.seen.headers.get("if-none-match") == ETAG:
        ex.reply(304, headers={"ETag": ETAG})
    else:
        ex.reply(200, FEED, {"ETag": ETAG})


def dribble(ex: Exchange) -> None:
    ex.head(200, {"Content-Length": "1000", "Content-Type": "application/rss+xml"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # 1 byte per 50 ms until the client hangs up
        ex.write(b" ")
        time.sleep(0.05)


def oversized(ex: Exchange) -> None:
    ex.reply(200, b"<rss>" + b" " * (2 * MiB) + b"</rss>")


@dataclass(frozen=True)
class Case:
    """A feed the server answers one way, and the state it must end in."""

    script: dict[str, Callable[[Exchange], None]]
    outcome: str
    kind: str | None = None
    scheme: str = "http"
    guarded: bool = False  # polled with the address guard on


CASES: dict[str, Case] = {
    "good": Case({"/good": ok()}, "ok"),
    "not-modified": Case({"/not-modified": conditional}, "not-modified"),
    "moved": Case({"/moved": redirect(301, "/moved-here"), "/moved-here": ok()}, "ok"),
    "found": Case({"/found": redirect(302, "/found-today"), "/found-today": ok()}, "ok"),
    "loop": Case(
        {"/loop": redirect(302, "/loop-b"), "/loop-b": redirect(307, "/loop")}, "error", "redirect"
    ),
    "missing": Case({"/missing": status(404)}, "error", "http-status"),
    "gone": Case({"/gone": status(410)}, "error", "http-status"),
    "limited": Case({"/limited": status(429, {"Retry-After": "120"})}, "error", "http-status"),
    "down": Case({"/down": status(503)}, "error", "http-status"),
    "slow": Case({"/slow": dribble}, "error", "timeout"),
    "reset": Case({"/reset": Exchange.reset}, "error", "connect"),
    "bomb": Case(
        {"/bomb": lambda ex: ex.reply(200, BOMB, {"Content-Encoding": "gzip"})}, "error", "too-big"
    ),
    "huge": Case({"/huge": oversized}, "error", "too-big"),
    "mislabelled": Case({"/mislabelled": ok(content_type="text/plain")}, "ok"),
    "latin": Case(
        {"/latin": ok(rss("Café Müller", encoding="iso-8859-1"), "text/xml; charset=ISO-8859-1")},
        "ok",
    ),
    "html": Case({"/html": ok(HTML, "text/html; charset=utf-8")}, "error", "not-a-feed"),
    "big-html": Case({"/big-html": ok(BIG_HTML, "text/html")}, "error", "not-a-feed"),
    "broken": Case(
        {"/broken": ok(b"<?xml version='1.0'?><rss version='2.0'><chan")}, "error", "parse"
    ),
    "tls": Case({}, "error", "tls", scheme="https"),
    "nxdomain": Case({}, "error", "dns"),
    "loopback": Case({"/loopback": ok()}, "error", "blocked-address", guarded=True),
    "metadata": Case({}, "error", "blocked-address", guarded=True),
}
HOSTS = {"metadata": "169.254.169.254"}


def feed_url(server: ScriptedServer, name: str) -> str:
    case = CASES[name]
    return f"{case.scheme}://{name}.test:{server.port}/{name}"


def config(tmp_path: Path, server: ScriptedServer, names: list[str]) -> Path:
    parts = [
        f'watch = false\n[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        '[fetch]\nallow_private = false\ntotal_timeout = "1s"\nmax_feed_bytes = "1MiB"\n'
        "per_host = 2\nglobal_limit = 4\n"
    ]
    for name in names:
        private = "false" if CASES[name].guarded else "true"
        parts.append(
            f'[[feeds]]\nname = "{name}"\nurl = "{feed_url(server, name)}"\n'
            f'interval = "15m"\nfull_text = false\nallow_private = {private}\n'
        )
    path = tmp_path / "monitor.toml"
    path.write_text("\n".join(parts))
    return path


@asynccontextmanager
async def scripted_runtime(
    path: Path, resolver: Callable[[str], Awaitable[list[str]]], *, pool: bool = False
) -> AsyncIterator[Runtime]:
    """A Runtime like open_runtime's, with a Fetcher that resolves through `resolver`."""
    settings = load_settings(path, environ={})
    archive = Archive.open(settings.archive.url)
    workers = ExtractorPool() if pool else None
    try:
        async with Fetcher(fetch_options(settings), resolver=resolver) as fetcher:
            pipeline = Pipeline(
                archive=archive,
                fetcher=fetcher,
                ruleset=settings.ruleset,
                rule_channels={rule.name: tuple(rule.channels) for rule in settings.rules},
                rng=random.Random(5),
                health=health_policy(settings),
                pool=workers,
            )
            runtime = Runtime(
                settings=settings,
                archive=archive,
                fetcher=fetcher,
                pipeline=pipeline,
                channels={n: build_channel(n, spec) for n, spec in settings.channels.items()},
                policies={name: retry_policy(settings, name) for name in settings.channels},
                feeds=feed_jobs(settings),
                metrics=Metrics(),
            )
            try:
                yield runtime
            finally:
                for channel in runtime.channels.values():
                    await channel.aclose()
    finally:
        archive.close()
        if workers is not None:
            workers.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        for case in CASES.values():
            srv.scripts.update(case.script)
        yield srv
    assert not [e for e in srv.errors if not isinstance(e, OSError)], srv.errors


def resolver() -> Callable[[str], Awaitable[list[str]]]:
    table = {f"{name}.test": [HOSTS.get(name, "127.0.0.1")] for name in CASES}
    del table["nxdomain.test"]
    return resolver_for(table)


def run_cycles(
    tmp_path: Path, server: ScriptedServer, names: list[str], cycles: int = 1, pool: bool = False
) -> tuple[list[list[PollResult]], dict[str, FeedState]]:
    path = config(tmp_path, server, names)

    async def go() -> tuple[list[list[PollResult]], dict[str, FeedState]]:
        async with scripted_runtime(path, resolver(), pool=pool) as runtime:
            url = feed_url(server, "not-modified")
            if "not-modified" in names:  # as after an earlier poll that stored the ETag
                runtime.archive.save_feed_state(FeedState(url, etag=ETAG, last_status=200))
            results = [await runtime.run_cycle(now=NOW + timedelta(hours=n)) for n in range(cycles)]
            states = {s.url: s for s in runtime.archive.feed_states()}
            return results, states

    return asyncio.run(go())


def test_every_answer_ends_in_its_documented_state(tmp_path: Path, server: ScriptedServer) -> None:
    names = [name for name in CASES if name != "big-html"]  # that one needs the pool: below
    started = time.monotonic()
    (results,), states = run_cycles(tmp_path, server, names)
    assert time.monotonic() - started < 10
    by_feed = {r.feed: r for r in results}
    for name in names:
        case, result = CASES[name], by_feed[name]
        state = states[feed_url(server, name)]
        assert (result.outcome, result.error_kind) == (case.outcome, case.kind), (name, result)
        assert state.last_error_kind == case.kind, name
        assert state.last_polled_at == NOW, name
        assert state.next_poll_at is not None, name
        assert state.next_poll_at > NOW, name
        if case.kind is None:
            assert (state.error_count, state.last_error) == (0, None), name
        else:
            assert state.error_count == 1, name
            assert state.last_error, name
            assert state.last_error_at == NOW, name
        assert state.disabled == (name == "gone"), name

    # The good feed and its peers: read in full, nothing of the others' trouble.
    assert by_feed["good"].entries == 2
    assert by_feed["good"].new_entries == 2
    assert by_feed["mislabelled"].entries == 2
    assert by_feed["latin"].entries == 2
    latin = [e.title for e in states_entries(tmp_path, feed_url(server, "latin"))]
    assert latin == ["Café Müller 0", "Café Müller 1"]
    # What each state says in detail.
    assert states[feed_url(server, "not-modified")].etag == ETAG
    moved = states[feed_url(server, "moved")]
    assert moved.current_url == f"http://moved.test:{server.port}/moved-here"
    assert states[feed_url(server, "found")].current_url is None
    assert states[feed_url(server, "missing")].last_status == 404
    assert states[feed_url(server, "gone")].last_status == 410
    limited = states[feed_url(server, "limited")]
    assert limited.last_status == 429
    assert limited.next_poll_at is not None
    assert limited.next_poll_at >= NOW + timedelta(seconds=120)
    assert states[feed_url(server, "down")].last_status == 503
    assert "not a feed" in (states[feed_url(server, "html")].last_error or "")
    assert "169.254.169.254" in (states[feed_url(server, "metadata")].last_error or "")
    # The guard refused the loopback name before any connection was made to it.
    assert "loopback.test" not in {seen.host for seen in server.requests}


def states_entries(tmp_path: Path, url: str) -> list[StoredEntry]:
    with Archive.open(f"sqlite:///{tmp_path / 'archive.db'}") as archive:
        return sorted(
            (e for e in archive.iter_entries() if e.feed_url == url), key=lambda e: e.title
        )


def test_the_next_cycle_follows_the_stored_state(tmp_path: Path, server: ScriptedServer) -> None:
    names = ["good", "moved", "found", "gone"]
    (first, second), states = run_cycles(tmp_path, server, names, cycles=2)
    assert [r.outcome for r in first] == ["ok", "ok", "ok", "error"]
    outcome = {r.feed: r.outcome for r in second}
    assert outcome == {
        "good": "unchanged",
        "moved": "unchanged",
        "found": "unchanged",
        "gone": "disabled",
    }
    paths = [seen.path for seen in server.requests]
    assert paths.count("/gone") == 1  # 410: never asked again
    assert paths.count("/moved") == 1  # 301: the second poll went straight to the new URL
    assert paths.count("/moved-here") == 2
    assert paths.count("/found") == 2  # 302: the old URL is still the feed's URL
    assert states[feed_url(server, "gone")].disabled


def test_a_big_page_parsed_in_the_worker_pool_keeps_its_error_kind(
    tmp_path: Path, server: ScriptedServer
) -> None:
    (results,), states = run_cycles(tmp_path, server, ["good", "big-html"], pool=True)
    assert [(r.feed, r.outcome, r.error_kind) for r in results] == [
        ("good", "ok", None),
        ("big-html", "error", "not-a-feed"),
    ]
    assert states[feed_url(server, "big-html")].last_error_kind == "not-a-feed"
