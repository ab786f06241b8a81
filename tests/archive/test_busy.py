"""SQLite under many writers: nothing fails for a lock we could have waited for, nothing is lost.

A cold poll of thousands of feeds has dozens of threads writing to one SQLite file at once;
SQLite's own busy handler polls with growing sleeps and let one writer starve past the busy
timeout ("database is locked"). Writers of one process now queue on a lock of ours. When
another process holds the database past the timeout, a cycle reports the affected feeds as
archive errors instead of failing as a whole, and the next cycle keeps what that one could not.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import Archive, _engine
from monitor.config import load_settings
from monitor.models import FeedState
from monitor.runtime import open_runtime

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_many_writer_threads_never_see_a_locked_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy timeout far shorter than the queue: only our lock keeps the writers apart.
    monkeypatch.setattr(_engine, "BUSY_TIMEOUT_MS", 20)
    archive = Archive.open(f"sqlite:///{tmp_path / 'a.db'}")
    failures: list[BaseException] = []
    start = threading.Barrier(16)

    def writer(worker: int) -> None:
        start.wait(timeout=10)
        try:
            for n in range(25):
                url = f"http://example.org/{worker}/{n}"
                archive.save_feed_state(FeedState(url, etag=f'"{n}"', next_poll_at=NOW))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[0]
    assert len(archive.feed_states()) == 16 * 25
    archive.close()


def _config(tmp_path: Path, origin: str) -> Path:
    path = tmp_path / "monitor.toml"
    feeds = "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{origin}/{name}"\nfull_text = false\n'
        for name in ("world.rss", "syndication.atom")
    )
    path.write_text(
        f'[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        f"[fetch]\nallow_private = true\n{feeds}"
        "[[rules]]\nname = \"any\"\nquery = 'the'\nchannels = []\n"
    )
    return path


def test_a_cycle_survives_a_database_held_by_another_process(
    tmp_path: Path, site_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "BUSY_TIMEOUT_MS", 200)
    settings = load_settings(_config(tmp_path, site_origin), environ={})

    async def cycles() -> tuple[list[str], list[str], int]:
        async with open_runtime(settings, workers=False) as runtime:
            holder = sqlite3.connect(tmp_path / "archive.db", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than 200 ms
            try:
                held = await runtime.run_cycle(now=NOW)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            again = await runtime.run_cycle(now=NOW + timedelta(hours=1))
            kept = sum(1 for _ in runtime.archive.iter_entries())
        return (
            [f"{r.outcome}/{r.error_kind}" for r in held],
            [r.outcome for r in again],
            kept,
        )

    gc.unfreeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        held, again, kept = asyncio.run(cycles())
        assert gc.get_freeze_count() > 0  # open_runtime left startup's objects out of full GCs
        assert gc.get_threshold()[0] == 10_000  # and young collections less often
    finally:
        gc.set_threshold(*thresholds)
    assert held == ["error/archive", "error/archive"]
    # Nothing of the first cycle was kept, so the second fetches and records everything.
    assert again == ["ok", "ok"]
    assert kept > 0
