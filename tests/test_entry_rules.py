"""Entry edge cases, each with its rule (README, "How entries are identified"), polled for real.

A scripted server serves a feed whose items the test rewrites between polls, and the article
pages (counted, to see which entries were processed again). A rule matching every item sends
one alert per story to a channel; what matters is what is archived and what alerts again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.archive import Archive, StoredEntry
from monitor.parse import parse_feed
from monitor.pipeline import PollResult
from tests.fetch.conftest import Exchange, ScriptedServer, resolver_for
from tests.test_poll_errors import scripted_runtime

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Item:
    guid: str | None
    link: str
    title: str
    date: datetime | None = None
    text: str = "a story worth an alert"


@dataclass
class Site:
    """The feed's current items (rewritten by the tests) and the article pages."""

    items: list[Item] = field(default_factory=list)

    def feed(self, ex: Exchange) -> None:
        body = "".join(_item(item) for item in self.items)
        xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Edge</title>{body}'
        ex.reply(200, f"{xml}</channel></rss>".encode(), {"Content-Type": "application/rss+xml"})


def _item(item: Item) -> str:
    guid = f'<guid isPermaLink="false">{item.guid}</guid>' if item.guid else ""
    date = f"<pubDate>{format_datetime(item.date, usegmt=True)}</pubDate>" if item.date else ""
    return (
        f"<item><title>{item.title}</title><link>{item.link}</link>{guid}{date}"
        f"<description>{item.text}</description></item>"
    )


def page(ex: Exchange) -> None:
    html = f"<html><body><article><h1>{ex.seen.path}</h1><p>{'A story. ' * 40}</p></article>"
    ex.reply(200, f"{html}</body></html>".encode(), {"Content-Type": "text/html"})


@pytest.fixture
def served() -> Iterator[tuple[ScriptedServer, Site]]:
    site = Site()
    with ScriptedServer() as server:
        server.scripts["/feed"] = site.feed
        for n in range(10):
            server.scripts[f"/story-{n}"] = page
        yield server, site
    assert not server.errors, server.errors


Step = Callable[[Site], None]


def poll_steps(
    tmp_path: Path, server: ScriptedServer, site: Site, steps: list[Step]
) -> tuple[list[PollResult], list[StoredEntry]]:
    """Apply each step to the site, then poll the feed once, an hour apart."""
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'watch = false\n[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        '[fetch]\nallow_private = true\n[channels.desk]\ntype = "webhook"\n'
        'url = "http://127.0.0.1:9/hook"\n'
        '[[rules]]\nname = "story"\nquery = "story"\nchannels = ["desk"]\n'
        f'[[feeds]]\nname = "edge"\nurl = "{link(server, "/feed")}"\n'
    )
    resolve = resolver_for({"edge.test": ["127.0.0.1"]})

    async def go() -> tuple[list[PollResult], list[StoredEntry]]:
        async with scripted_runtime(config, resolve) as runtime:
            results = []
            for n, step in enumerate(steps):
                step(site)
                results += await runtime.run_cycle(now=NOW + n * H)
            return results, list(runtime.archive.iter_entries())

    return asyncio.run(go())


def link(server: ScriptedServer, path: str) -> str:
    return f"http://edge.test:{server.port}{path}"


def pages_fetched(server: ScriptedServer) -> list[str]:
    return [seen.path for seen in server.requests if seen.path != "/feed"]


def test_an_entry_without_a_date_is_dated_when_first_seen(
    tmp_path: Path, served: tuple[ScriptedServer, Site]
) -> None:
    server, site = served
    story = link(server, "/story-0")

    def first(s: Site) -> None:
        s.items = [Item("g0", story, "Undated")]

    def edited(s: Site) -> None:
        s.items = [Item("g0", story, "Undated", text="a story worth an alert, edited")]

    results, entries = poll_steps(tmp_path, server, site, [first, edited])
    assert [(r.new_entries, r.new_alerts) for r in results] == [(1, 1), (0, 0)]
    (entry,) = entries
    assert entry.published == NOW  # the first-seen time, kept when the entry is edited
    assert "edited" in entry.summary


def test_a_date_in_the_future_is_clamped_to_now(
    tmp_path: Path, served: tuple[ScriptedServer, Site]
) -> None:
    server, site = served
    item = Item("g0", link(server, "/story-0"), "From the future", NOW + timedelta(days=400))

    def same(s: Site) -> None:
        s.items = [item]

    results, entries = poll_steps(tmp_path, server, site, [same, same])
    assert [r.outcome for r in results] == ["ok", "unchanged"]
    (entry,) = entries
    assert entry.published == NOW
    # A clamped date is no change: the entry is not processed again when the body changes.
    body = f'<rss version="2.0"><channel>{_item(item)}</channel></rss>'.encode()
    a, b = (parse_feed(body, feed_url="u", feed_name="f", now=NOW + n * H) for n in (0, 1))
    assert a.entries[0].published == NOW
    assert b.entries[0].published == NOW + H
    assert a.entries[0].fingerprint == b.entries[0].fingerprint


def test_duplicate_guids_in_one_feed_keep_the_first_item(
    tmp_path: Path, served: tuple[ScriptedServer, Site]
) -> None:
    server, site = served

    def twice(s: Site) -> None:
        s.items = [
            Item("same", link(server, "/story-0"), "First of the two"),
            Item("same", link(server, "/story-1"), "Second of the two"),
        ]

    results, entries = poll_steps(tmp_path, server, site, [twice])
    assert [(r.entries, r.new_entries, r.new_alerts) for r in results] == [(1, 1, 1)]
    assert [e.title for e in entries] == ["First of the two"]
    assert pages_fetched(server) == ["/story-0"]


def test_a_guid_that_changes_while_the_link_stays_is_the_same_story(
    tmp_path: Path, served: tuple[ScriptedServer, Site]
) -> None:
    server, site = served

    def before(s: Site) -> None:
        s.items = [Item("cms-1:42", link(server, "/story-0"), "Renamed guid", NOW - H)]

    def after(s: Site) -> None:  # a CMS migration: new guids, same links (plus tracking)
        s.items = [Item("cms-2:42", link(server, "/story-0?utm_source=rss"), "Renamed guid", NOW)]

    results, entries = poll_steps(tmp_path, server, site, [before, after])
    assert [r.new_alerts for r in results] == [1, 0]  # one story, one alert
    assert results[1].new_matches == 0
    assert sorted(e.link or "" for e in entries) == sorted(
        [link(server, "/story-0"), link(server, "/story-0?utm_source=rss")]
    )


def test_reordered_and_redated_items_are_not_news(
    tmp_path: Path, served: tuple[ScriptedServer, Site]
) -> None:
    server, site = served
    items = [Item(f"g{n}", link(server, f"/story-{n}"), f"Item {n}", NOW - n * H) for n in range(3)]

    def first(s: Site) -> None:
        s.items = list(items)

    def reordered(s: Site) -> None:
        s.items = list(reversed(items))

    def redated(s: Site) -> None:  # every item stamped with the time of the request
        s.items = [Item(i.guid, i.link, i.title, NOW + 2 * H) for i in items]

    results, entries = poll_steps(tmp_path, server, site, [first, reordered, redated])
    assert [(r.outcome, r.new_entries, r.new_alerts) for r in results] == [
        ("ok", 3, 3),
        ("ok", 0, 0),
        ("ok", 0, 0),
    ]
    assert sorted(pages_fetched(server)) == ["/story-0", "/story-1", "/story-2"]  # once each
    # The archive keeps each entry's first date: re-dating does not move stories forward.
    assert sorted(e.published for e in entries) == [NOW - 2 * H, NOW - H, NOW]
    with Archive.open(f"sqlite:///{tmp_path / 'archive.db'}") as archive:
        state = archive.feed_state(link(server, "/feed"))
    assert state is not None
    assert state.last_new_entry_at == NOW  # a re-dated feed can still be judged silent
