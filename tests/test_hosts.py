"""Host-level Retry-After: one bad route never pauses its host; several told-to-wait feeds do.

Pure rules of HostPenalties first, then the pipeline against a scripted server on two host
names: the paused host's other feeds are deferred (no request, no error) until the pause ends,
while the other host's feeds poll as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.hosts import HostPenalties
from monitor.models import FeedState
from monitor.pipeline import FeedJob, PollResult
from tests.fetch.conftest import Exchange, ScriptedServer, resolver_for
from tests.test_poll_errors import FEED, scripted_runtime

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_one_feed_told_to_wait_does_not_pause_its_host() -> None:
    hosts = HostPenalties()
    assert hosts.record("blogs.example", "a", NOW + 3600 * S, NOW) is None
    assert hosts.blocked_until("blogs.example", NOW + S) is None
    # The same feed told again is still one feed.
    assert hosts.record("blogs.example", "a", NOW + 3600 * S, NOW + 10 * S) is None


def test_two_feeds_within_the_window_pause_the_host() -> None:
    hosts = HostPenalties()
    hosts.record("Blogs.Example", "a", NOW + 300 * S, NOW)
    paused = hosts.record("blogs.example", "b", NOW + 600 * S, NOW + 30 * S)
    # Paused while at least two of the feeds must wait: until the earlier of the two.
    assert paused == NOW + 300 * S
    assert hosts.blocked_until("blogs.example", NOW + 299 * S) == NOW + 300 * S
    assert hosts.blocked_until("blogs.example", NOW + 300 * S) is None
    assert hosts.blocked_until("other.example", NOW + 31 * S) is None


def test_feeds_told_further_apart_than_the_window_do_not_pause_the_host() -> None:
    hosts = HostPenalties(window=timedelta(seconds=60))
    hosts.record("h", "a", NOW + 3600 * S, NOW)
    assert hosts.record("h", "b", NOW + 3600 * S, NOW + 61 * S) is None


def test_a_third_feed_extends_the_pause_to_what_two_agree_on() -> None:
    hosts = HostPenalties()
    hosts.record("h", "a", NOW + 100 * S, NOW)
    hosts.record("h", "b", NOW + 900 * S, NOW + S)
    assert hosts.blocked_until("h", NOW + 2 * S) == NOW + 100 * S
    hosts.record("h", "c", NOW + 500 * S, NOW + 2 * S)
    assert hosts.blocked_until("h", NOW + 3 * S) == NOW + 500 * S


def test_a_pause_is_bounded_and_expired_penalties_are_forgotten() -> None:
    hosts = HostPenalties(longest=timedelta(hours=1))
    hosts.record("h", "a", NOW + timedelta(days=30), NOW)
    assert hosts.record("h", "b", NOW + timedelta(days=30), NOW) == NOW + timedelta(hours=1)
    assert hosts.hosts() == ["h"]
    assert hosts.blocked_until("h", NOW + timedelta(hours=2)) is None
    assert hosts.hosts() == []


def test_a_feed_that_answers_again_no_longer_counts() -> None:
    hosts = HostPenalties()
    hosts.record("h", "a", NOW + 300 * S, NOW)
    hosts.clear("h", "a")
    assert hosts.record("h", "b", NOW + 300 * S, NOW) is None


def test_quorum_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="quorum"):
        HostPenalties(quorum=1)


# --- through the pipeline --------------------------------------------------------------------


def limited(ex: Exchange) -> None:
    ex.reply(429, b"slow down", {"Retry-After": "300"})


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.scripts.update({"/a": limited, "/b": limited})
        for path in ("/c", "/d"):
            srv.scripts[path] = lambda ex: ex.reply(
                200, FEED, {"Content-Type": "application/rss+xml"}
            )
        yield srv
    assert not srv.errors, srv.errors


def test_pipeline_defers_a_paused_hosts_feeds_only(tmp_path: Path, server: ScriptedServer) -> None:
    urls = {
        "a": f"http://shared.test:{server.port}/a",
        "b": f"http://shared.test:{server.port}/b",
        "c": f"http://shared.test:{server.port}/c",
        "d": f"http://other.test:{server.port}/d",
    }
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'watch = false\n[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        "[fetch]\nallow_private = true\n"
        + "".join(
            f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nfull_text = false\n'
            for name, url in urls.items()
        )
    )
    resolve = resolver_for({"shared.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

    async def go() -> tuple[list[PollResult], dict[str, FeedState]]:
        async with scripted_runtime(config, resolve) as runtime:
            jobs: dict[str, FeedJob] = {job.name: job for job in runtime.feeds}

            async def poll(name: str, seconds: int) -> PollResult:
                return await runtime.pipeline.poll(jobs[name], now=NOW + seconds * S)

            results = [
                await poll("a", 0),  # one bad route: the feed waits, its host does not
                await poll("c", 10),
                await poll("b", 20),  # a second feed told to wait: the host says so
                await poll("c", 30),  # deferred, no request
                await poll("d", 30),  # another host: unaffected
                await poll("c", 400),  # the pause is over
            ]
            states = {s.url: s for s in runtime.archive.feed_states()}
            return results, states

    results, states = asyncio.run(go())
    assert [(r.feed, r.outcome) for r in results] == [
        ("a", "error"),
        ("c", "ok"),
        ("b", "error"),
        ("c", "deferred"),
        ("d", "ok"),
        ("c", "unchanged"),
    ]
    deferred = results[3]
    assert deferred.error_kind is None
    assert deferred.next_poll_at is not None
    # Paused until both told-to-wait feeds may poll again (a: 0 s + 300 s), with some jitter.
    assert NOW + 300 * S <= deferred.next_poll_at <= NOW + 330 * S
    assert [seen.path for seen in server.requests].count("/c") == 2
    c = states[urls["c"]]
    assert (c.error_count, c.last_error_kind) == (0, None)
    a_next = states[urls["a"]].next_poll_at
    assert a_next is not None
    assert a_next >= NOW + 300 * S  # the feed's own Retry-After
