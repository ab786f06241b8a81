"""The extraction pool: real worker processes, a deadline that kills, nothing left behind."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ExtractError, ParseError
from monitor.models import RuleSpec
from monitor.workers import ExtractorPool, RemoteError, _Worker, sleep_then_return

SITE = Path(__file__).parent / "data" / "site"
BASE = "http://127.0.0.1:8000"


def _site(name: str) -> bytes:
    return (SITE / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


@pytest.fixture(scope="module")
def pool() -> Iterator[ExtractorPool]:
    """One shared pool of two workers: spawning costs a second, so tests share it."""
    with ExtractorPool(2, deadline=10.0) as shared:
        yield shared


def test_extracts_through_a_worker(pool: ExtractorPool) -> None:
    url = f"{BASE}/rsn-iraq-troops.html"
    article = asyncio.run(pool.extract(_site("rsn-iraq-troops.html"), url))
    assert "troop withdrawal" in article.text
    assert "Another endless war" not in article.text
    assert article.url == url
    assert article.language == "en"
    assert pool.pids
    assert os.getpid() not in pool.pids


WORLD = {  # parse_feed's arguments for the site's world.rss
    "feed_url": f"{BASE}/world.rss",
    "feed_name": "world",
    "now": datetime(2024, 1, 1, tzinfo=UTC),
    "content_type": "application/rss+xml",
}


def test_parses_through_a_worker(pool: ExtractorPool) -> None:
    feed = asyncio.run(pool.parse(_site("world.rss"), **WORLD))
    assert len(feed.entries) == 4


def _parse_and_match(pool: ExtractorPool) -> dict[str, list[str]] | None:
    feed, matched = asyncio.run(
        pool.parse_and_match(
            _site("world.rss"), label_url=f"{BASE}/world.rss", feed_tags=("news",), **WORLD
        )
    )
    if not matched:
        return None  # the worker has no rules: the poller matches itself
    assert set(matched) == {entry.entry_id for entry in feed.entries}
    titles = {entry.entry_id: entry.title for entry in feed.entries}
    return {titles[key]: [m.rule for m in found] for key, found in matched.items() if found}


def test_parses_and_matches_with_the_rules_it_was_last_given() -> None:
    with ExtractorPool(1, deadline=10.0) as pool:
        assert _parse_and_match(pool) is None  # no rules yet: nothing matched in the worker
        pool.set_rules(
            [RuleSpec("derby", "title:derby"), RuleSpec("feed", "feed:world AND title:climate")]
        )
        assert _parse_and_match(pool) == {
            "Late Goal Settles City Derby": ["derby"],
            "Climate Report Warns of Faster Sea Level Rise": ["feed"],
        }
        # A reload reaches the worker that already compiled the old rules (the same process).
        first = pool.pids
        pool.set_rules([RuleSpec("troops", "troops", feeds=("world",))])
        found = _parse_and_match(pool)
        assert pool.pids == first
        assert found is not None
        assert sorted(found) == [
            "Scout Troop Cancels Trip After Sponsor Withdrawal",
            "Trump Administration Plans to Ignore Iraqi Prime Minister's Demand to Withdraw US"
            " Troops",
        ]
        # Matches carry their why (hits and snippet) across the pipe.
        _, matched = asyncio.run(
            pool.parse_and_match(
                _site("world.rss"), label_url=f"{BASE}/world.rss", feed_tags=(), **WORLD
            )
        )
        match = next(m for found in matched.values() for m in found)
        pool.set_rules(None)  # a rule set too big to copy: the worker only parses again
        assert _parse_and_match(pool) is None
        assert match.hits
        assert match.snippet
        assert match.marks


def test_start_brings_up_every_worker_with_the_rules() -> None:
    with ExtractorPool(2, deadline=10.0) as pool:
        pool.set_rules([RuleSpec("derby", "title:derby")])
        asyncio.run(pool.start())
        started = pool.pids
        assert len(set(started)) == 2
        assert all(worker.rules == pool._rules[0] for worker in pool._all)  # compiled already
        found = _parse_and_match(pool)
        assert pool.pids == started  # no worker started at the first job
        assert found == {"Late Goal Settles City Derby": ["derby"]}


def test_a_worker_freezes_its_compiled_rules_out_of_the_collectors_way() -> None:
    """A full collection over 100,000 compiled rules took 1.3-1.5 s: the worker's rules are
    frozen once compiled, as the daemon's own heap is."""
    with ExtractorPool(1, deadline=10.0) as pool:
        assert asyncio.run(pool.run(gc.get_freeze_count)) == 0  # no rules yet
        pool.set_rules([RuleSpec("derby", "title:derby")])
        assert asyncio.run(pool.run(gc.get_freeze_count)) > 0
        assert asyncio.run(pool.run(gc.get_threshold)) == (10_000, 10, 10)


def test_workers_run_below_the_event_loop(pool: ExtractorPool) -> None:
    """With both cores parsing, the poller's loop still gets a core when a socket is ready."""
    asyncio.run(pool.run(sleep_then_return, 0, None))
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in pool.pids:
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(mine + 5, 19)


def test_errors_keep_their_type_and_subject(pool: ExtractorPool) -> None:
    with pytest.raises(ExtractError, match="no main text") as caught:
        asyncio.run(pool.extract(b"<html><body></body></html>", "https://a.example/empty"))
    assert caught.value.subject == "https://a.example/empty"
    with pytest.raises(ParseError, match="empty response body") as parsed:
        asyncio.run(
            pool.parse(b"", feed_url="https://a.example/f", feed_name="f", now=datetime.now(UTC))
        )
    assert parsed.value.subject == "f"


def test_a_bug_in_a_job_propagates_with_the_worker_traceback(pool: ExtractorPool) -> None:
    with pytest.raises(RemoteError, match="ZeroDivisionError"):
        asyncio.run(pool.run(divmod, 1, 0))


def test_runs_as_many_jobs_at_once_as_it_has_workers(pool: ExtractorPool) -> None:
    async def three() -> list[Any]:
        jobs = [pool.run(sleep_then_return, 0.2, n) for n in range(3)]
        return await asyncio.gather(*jobs)

    assert asyncio.run(three()) == [0, 1, 2]
    assert len(pool.pids) <= 2


def test_an_overrunning_job_is_killed_and_the_pool_goes_on() -> None:
    with ExtractorPool(1, deadline=30.0) as pool:
        assert asyncio.run(pool.run(sleep_then_return, 0, "warm")) == "warm"
        (first,) = pool.pids
        begin = time.monotonic()
        with pytest.raises(ExtractError, match=r"killed after the 0.5 s deadline"):
            asyncio.run(pool.run(sleep_then_return, 60, "late", deadline=0.5))
        assert time.monotonic() - begin < 5
        assert first not in {p.pid for p in multiprocessing.active_children()}
        assert not pool.pids
        article = asyncio.run(pool.extract(_site("football-derby.html"), None))
        assert "withdrew deep" in article.text
        replaced = pool.pids
        assert len(replaced) == 1
        assert replaced[0] != first


def test_a_worker_that_dies_fails_its_job_and_is_replaced() -> None:
    with ExtractorPool(1) as pool:
        with pytest.raises(ExtractError, match=r"worker died \(exit 3\)"):
            asyncio.run(pool.run(os._exit, 3))
        assert asyncio.run(pool.run(sleep_then_return, 0, "again")) == "again"


def test_a_worker_retires_after_max_jobs() -> None:
    with ExtractorPool(1, max_jobs=2) as pool:
        pids = []
        for n in range(4):
            assert asyncio.run(pool.run(sleep_then_return, 0, n)) == n
            pids.append(pool.pids)
        assert pids[1] == ()  # retired after its second job
        assert pids[3] == ()
        assert len({*pids[0], *pids[2]}) == 2  # two different processes did the work


def test_parses_do_not_wear_a_worker_out() -> None:
    """Retiring is for extraction's memory; a respawn costs a second of imports per worker."""
    with ExtractorPool(1, max_jobs=2) as pool:
        pids: set[int] = set()
        for _ in range(4):
            asyncio.run(pool.parse(_site("world.rss"), **WORLD))
            pids.update(pool.pids)
        assert len(pids) == 1


def test_close_leaves_no_child_processes() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    pool = ExtractorPool(2, deadline=30.0)

    async def close_with_one_busy_and_one_idle() -> None:
        await asyncio.gather(*(pool.run(sleep_then_return, 0, n) for n in range(2)))
        assert len(pool.pids) == 2
        stuck = asyncio.ensure_future(pool.run(sleep_then_return, 60, "never"))
        await asyncio.wait_for(_until_busy(pool), timeout=5)
        await asyncio.to_thread(pool.close)
        with pytest.raises(ExtractError, match="closed"):
            await stuck

    begin = time.monotonic()
    asyncio.run(close_with_one_busy_and_one_idle())
    assert time.monotonic() - begin < 10
    assert {p.pid for p in multiprocessing.active_children()} <= before
    assert pool.pids == ()
    with pytest.raises(ExtractError, match="closed"):
        asyncio.run(pool.extract(b"<p>x</p>", None))


async def _until_busy(pool: ExtractorPool) -> None:
    """Wait for a condition, not for a time: a worker holds the job."""
    while not pool.busy:
        await asyncio.sleep(0.001)


def test_a_worker_reaped_by_another_thread_is_still_released() -> None:
    """Starting a worker reaps dead children from its thread; kill() copes (seen at 10k feeds)."""
    worker = _Worker.spawn(multiprocessing.get_context("spawn"))
    worker.wait_ready()
    worker.process.kill()
    os.waitpid(worker.pid, 0)  # what multiprocessing's cleanup does from another thread
    worker.kill()  # no ValueError: the process is gone, its pipe closed
    assert worker.conn.closed
