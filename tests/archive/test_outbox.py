"""The outbox: claims under a lease, outcomes, requeue, and concurrent claimers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

from monitor.archive import Archive
from monitor.models import FeedState
from monitor.runtime import release_dead_leases
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed

LEASE = timedelta(minutes=5)


def _fill(archive: Archive, stories: int, channels: tuple[str, ...] = ("mail", "hook")) -> None:
    items = [
        processed(entry(str(n), published=NOW), match(), channels={"iraq": channels})
        for n in range(stories)
    ]
    archive.record_poll(FeedState(FEED_A), items, NOW)


def test_claim_builds_full_alerts(archive: Archive) -> None:
    _fill(archive, 1)
    claimed = archive.claim_due_alerts(NOW, owner="a")
    assert sorted(p.alert.channel for p in claimed) == ["hook", "mail"]
    pending = claimed[0]
    alert = pending.alert
    item = entry("0")
    assert (alert.rule, alert.title, alert.url, alert.feed) == ("iraq", item.title, item.link, "A")
    assert alert.published == NOW
    assert alert.matched == ("troops",)
    assert alert.snippet == "... troops leave ..."
    assert alert.marks == ((4, 10),)
    assert alert.detected_at == NOW
    assert (pending.attempts, pending.created_at) == (0, NOW)
    assert len(alert.id) == 32


def test_a_claimed_row_is_not_claimed_again_until_its_lease_expires(archive: Archive) -> None:
    _fill(archive, 2)
    first = archive.claim_due_alerts(NOW, owner="a", lease=LEASE, limit=3)
    assert len(first) == 3
    minute = timedelta(minutes=1)
    rest = archive.claim_due_alerts(NOW + minute, owner="b", lease=LEASE)
    assert len(rest) == 1
    assert archive.claim_due_alerts(NOW + LEASE - timedelta(seconds=1), owner="b") == []
    taken_over = archive.claim_due_alerts(NOW + LEASE, owner="b")  # a's lease only
    assert {p.outbox_id for p in taken_over} == {p.outbox_id for p in first}


def test_claim_filters_channels_and_due_time(archive: Archive) -> None:
    _fill(archive, 1)
    assert archive.claim_due_alerts(NOW - timedelta(seconds=1)) == []
    assert archive.claim_due_alerts(NOW, channels=[]) == []
    [only] = archive.claim_due_alerts(NOW, channels=["hook"])
    assert only.alert.channel == "hook"


def test_sent_rows_are_done(archive: Archive) -> None:
    _fill(archive, 1, ("mail",))
    [pending] = archive.claim_due_alerts(NOW)
    archive.mark_sent(pending.outbox_id, NOW)
    assert archive.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    assert archive.claim_due_alerts(NOW + timedelta(days=1)) == []
    [row] = archive.alerts(status="sent")
    assert (row.sent_at, row.attempts, row.status) == (NOW, 1, "sent")


def test_retry_reschedules_and_counts_attempts(archive: Archive) -> None:
    _fill(archive, 1, ("mail",))
    [pending] = archive.claim_due_alerts(NOW, owner="a")
    later = NOW + timedelta(minutes=2)
    archive.mark_retry(pending.outbox_id, next_attempt_at=later, error="503 from receiver")
    assert archive.claim_due_alerts(later - timedelta(seconds=1)) == []
    [again] = archive.claim_due_alerts(later)  # the lease was cleared with the retry
    assert again.attempts == 1
    assert again.alert == pending.alert
    [row] = archive.alerts()
    assert (row.last_error, row.next_attempt_at) == ("503 from receiver", later)


def test_failed_rows_wait_for_requeue(archive: Archive) -> None:
    _fill(archive, 2, ("mail",))
    claimed = archive.claim_due_alerts(NOW)
    for pending in claimed:
        archive.mark_failed(pending.outbox_id, error="550 no such user", now=NOW)
    assert archive.outbox_counts() == {"pending": 0, "sent": 0, "failed": 2}
    assert archive.claim_due_alerts(NOW + timedelta(days=1)) == []
    assert [r.last_error for r in archive.alerts(status="failed")] == ["550 no such user"] * 2

    later = NOW + timedelta(hours=1)
    assert archive.requeue_failed(ids=[claimed[0].outbox_id], now=later) == 1
    [back] = archive.claim_due_alerts(later)
    assert (back.outbox_id, back.attempts) == (claimed[0].outbox_id, 0)
    assert archive.requeue_failed(now=later) == 1
    assert archive.requeue_failed(now=later) == 0
    assert archive.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0}


def test_alerts_lists_newest_first_with_limit(archive: Archive) -> None:
    _fill(archive, 1, ("mail",))
    later = NOW + timedelta(hours=1)
    archive.record_poll(
        FeedState(FEED_A), [processed(entry("x"), match(), channels={"iraq": ("hook",)})], later
    )
    rows = archive.alerts()
    assert [(r.channel, r.created_at) for r in rows] == [("hook", later), ("mail", NOW)]
    assert [r.channel for r in archive.alerts(limit=1)] == ["hook"]
    assert archive.alerts(status="failed") == []


def test_concurrent_claimers_never_share_a_row(archive_target: tuple[str, str | None]) -> None:
    url, schema = archive_target
    with Archive.open(url, schema=schema) as setup:
        _fill(setup, 100, ("mail", "hook"))  # 200 rows
    got: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claim(owner: str) -> None:
        try:
            with Archive.open(url, schema=schema) as archive:
                start.wait()
                for _ in range(200):  # bounded: 200 rows, at least one each round
                    batch = archive.claim_due_alerts(NOW, owner=owner, limit=7)
                    if not batch:
                        return
                    got[owner].extend(p.outbox_id for p in batch)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 200


def test_leases_of_a_dead_process_on_this_host_are_released(archive: Archive) -> None:
    """A daemon killed with -9 leaves leases; its successor frees them instead of waiting."""
    _fill(archive, 2)
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    archive.claim_due_alerts(NOW, owner=f"{host}:{dead.pid}", lease=LEASE, limit=2)
    archive.claim_due_alerts(NOW, owner=f"elsewhere:{dead.pid}", lease=LEASE, limit=1)
    archive.claim_due_alerts(NOW, owner=f"{host}:{os.getpid()}", lease=LEASE, limit=1)
    assert archive.claim_due_feeds(["f"], NOW, owner=f"{host}:{dead.pid}", lease=LEASE) == ["f"]
    assert release_dead_leases(archive, NOW) == 3  # two alerts and one feed
    assert archive.claim_due_feeds(["f"], NOW, owner="next", lease=LEASE) == ["f"]
    again = archive.claim_due_alerts(NOW, owner="next", lease=LEASE)
    assert len(again) == 2  # the other host's and the live process's leases stand
    assert {p.attempts for p in again} == {0}  # a release is not an attempt
