"""`interval = "auto"` keeps the interval the feed's items set, whatever the later polls read.

A feed whose items come two hours apart is polled hourly. The interval is worked out from the
items at a full read; the polls in between read no items (a 304, a body unchanged since the
last read, an error), and each must schedule the next one on the same interval, not fall back
to the default of 30 minutes. Against a real local server, through Runtime and Pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.models import FeedState
from monitor.schedule import AUTO_DEFAULT, JITTER
from tests.fetch.conftest import Exchange, ScriptedServer, resolver_for
from tests.test_poll_errors import NOW, scripted_runtime

GAP = timedelta(hours=2)
INTERVAL = GAP / 2  # what "auto" makes of items two hours apart
ETAG = '"items-v1"'


def dated_feed() -> bytes:
    items = "".join(
        f"<item><title>Story {n}</title><link>http://example.org/{n}</link><guid>s{n}</guid>"
        f"<pubDate>{format_datetime(NOW - GAP * n)}</pubDate></item>"
        for n in range(6)
    )
    return f'<rss version="2.0"><channel><title>Dated</title>{items}</channel></rss>'.encode()


def with_etag(ex: Exchange) -> None:
    if ex.seen.headers.get("if-none-match") == ETAG:
        ex.reply(304, headers={"ETag": ETAG})
    else:
        ex.reply(200, dated_feed(), {"ETag": ETAG, "Content-Type": "application/rss+xml"})


def no_validators(ex: Exchange) -> None:  # the same body each time: "unchanged"
    ex.reply(200, dated_feed(), {"Content-Type": "application/rss+xml"})


def then_down(ex: Exchange) -> None:
    calls = sum(seen.path == ex.seen.path for seen in ex.server.requests)
    if calls == 1:
        ex.reply(200, dated_feed(), {"Content-Type": "application/rss+xml"})
    else:
        ex.reply(503, b"down")


SCRIPTS: dict[str, Callable[[Exchange], None]] = {
    "/etag": with_etag,
    "/plain": no_validators,
    "/down": then_down,
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.scripts.update(SCRIPTS)
        yield srv


def polls(tmp_path: Path, server: ScriptedServer) -> dict[str, list[FeedState]]:
    """Each feed's state after each of three cycles, each cycle when the feed is due."""
    parts = [
        f'watch = false\n[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        '[fetch]\nallow_private = true\ntotal_timeout = "5s"\n'
    ]
    for path in SCRIPTS:
        name = path.strip("/")
        url = f"http://{name}.test:{server.port}{path}"
        parts.append(
            f'[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval = "auto"\nfull_text = false\n'
        )
    config = tmp_path / "monitor.toml"
    config.write_text("\n".join(parts))
    hosts = {f"{path.strip('/')}.test": ["127.0.0.1"] for path in SCRIPTS}

    async def go() -> dict[str, list[FeedState]]:
        seen: dict[str, list[FeedState]] = {path: [] for path in SCRIPTS}
        async with scripted_runtime(config, resolver_for(hosts)) as runtime:
            now = NOW
            for _ in range(3):
                await runtime.run_cycle(now=now)
                for state in runtime.archive.feed_states():
                    seen["/" + state.url.rsplit("/", 1)[1]].append(state)
                now = max(s[-1].next_poll_at or now for s in seen.values())
        return seen

    return asyncio.run(go())


def delay(state: FeedState) -> timedelta:
    assert state.next_poll_at is not None
    assert state.last_polled_at is not None
    return state.next_poll_at - state.last_polled_at


def near(actual: timedelta, expected: timedelta) -> bool:
    return abs(actual - expected) <= expected * JITTER + timedelta(seconds=1)


def test_polls_that_read_no_items_keep_the_interval_the_items_set(
    tmp_path: Path, server: ScriptedServer
) -> None:
    states = polls(tmp_path, server)
    assert INTERVAL != AUTO_DEFAULT  # else the test could not tell them apart
    for path in ("/etag", "/plain"):
        first, second, third = states[path]
        assert (first.last_status, first.typical_gap) == (200, GAP), path
        assert near(delay(first), INTERVAL), (path, delay(first))
        # 304s and unchanged bodies: no items read, the same interval
        assert near(delay(second), INTERVAL), (path, delay(second))
        assert near(delay(third), INTERVAL), (path, delay(third))
    assert [s.last_status for s in states["/etag"]] == [200, 304, 304]
    assert [s.body_hash for s in states["/plain"]][1:] == [states["/plain"][0].body_hash] * 2


def test_backoff_after_an_error_starts_from_the_interval_the_items_set(
    tmp_path: Path, server: ScriptedServer
) -> None:
    first, second, third = polls(tmp_path, server)["/down"]
    assert near(delay(first), INTERVAL)
    assert (second.error_count, third.error_count) == (1, 2)
    assert near(delay(second), INTERVAL)  # the first error waits one interval
    assert near(delay(third), 2 * INTERVAL)  # then it doubles
