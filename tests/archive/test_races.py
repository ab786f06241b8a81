"""Two daemons on one database: racing writers of one story never double-alert."""

from __future__ import annotations

import threading
from collections.abc import Callable

from monitor.archive import Archive
from monitor.models import FeedState, ProcessedEntry
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, FEED_B, entry, match, processed

STORIES = 40


def _race(url: str, schema: str | None, *jobs: Callable[[Archive], None]) -> None:
    """Run each job in its own thread with its own Archive, started together."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[Archive], None]) -> None:
        try:
            with Archive.open(url, schema=schema) as archive:
                start.wait()
                job(archive)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors


def _poll(feed: str, items: list[ProcessedEntry]) -> Callable[[Archive], None]:
    def job(archive: Archive) -> None:
        for item in items:  # one poll per entry: many interleavings
            archive.record_poll(FeedState(feed), [item], NOW)

    return job


def test_one_story_from_two_feeds_at_once_alerts_once(
    archive_target: tuple[str, str | None],
) -> None:
    url, schema = archive_target
    Archive.open(url, schema=schema).close()
    same_url = [
        processed(entry(f"a{n}", canonical_url=f"https://s/{n}"), match(), content=f"a{n}")
        for n in range(STORIES)
    ]
    same_url_b = [
        processed(
            entry(f"b{n}", feed_url=FEED_B, canonical_url=f"https://s/{n}"),
            match(),
            content=f"b{n}",
        )
        for n in range(STORIES)
    ]
    _race(url, schema, _poll(FEED_A, same_url), _poll(FEED_B, same_url_b))
    with Archive.open(url, schema=schema) as archive:
        assert len(archive.matches()) == STORIES
        assert archive.outbox_counts()["pending"] == 2 * STORIES


def test_one_text_under_two_urls_at_once_alerts_once(
    archive_target: tuple[str, str | None],
) -> None:
    url, schema = archive_target
    Archive.open(url, schema=schema).close()
    a = [
        processed(entry(f"a{n}", canonical_url=f"https://a/{n}"), match(), content=f"c{n}")
        for n in range(STORIES)
    ]
    b = [
        processed(
            entry(f"b{n}", feed_url=FEED_B, canonical_url=f"https://b/{n}"),
            match(),
            content=f"c{n}",
        )
        for n in range(STORIES)
    ]
    _race(url, schema, _poll(FEED_A, a), _poll(FEED_B, b))
    with Archive.open(url, schema=schema) as archive:
        assert len(archive.matches()) == STORIES
        assert archive.outbox_counts()["pending"] == 2 * STORIES
        # Every entry of a story carries the story's one id.
        stories = {row.story for row in archive.matches()}
        assert len(stories) == STORIES


def test_one_archive_shared_by_worker_threads(archive: Archive) -> None:
    """The daemon calls one Archive from asyncio.to_thread workers: writers queue, none fail."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def poll(feed: int) -> None:
        try:
            start.wait()
            for n in range(10):
                item = processed(entry(f"{feed}-{n}"), match(), content=f"{feed}-{n}")
                archive.record_poll(FeedState(f"https://f{feed}/"), [item], NOW)
                archive.claim_due_alerts(NOW, owner=f"w{feed}", limit=1)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(feed,)) for feed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(archive.matches()) == 40
    assert sum(archive.outbox_counts().values()) == 80
