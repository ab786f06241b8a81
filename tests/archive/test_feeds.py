"""Feed state round trips and feed leases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

from monitor.archive import Archive
from monitor.models import FeedState
from tests.archive.conftest import NOW

FEED = "https://a.example/feed.xml"


def test_feed_state_round_trip_keeps_every_field_and_aware_utc(archive: Archive) -> None:
    paris = timezone(timedelta(hours=1))
    state = FeedState(
        url=FEED,
        current_url="https://a.example/new.xml",
        etag='"v1"',
        last_modified="Sat, 01 Mar 2025 11:00:00 GMT",
        body_hash="ab" * 32,
        last_polled_at=NOW,
        next_poll_at=NOW.astimezone(paris) + timedelta(minutes=15),
        last_status=200,
        error_count=2,
        last_error="timed out",
        last_error_kind="timeout",
        last_error_at=NOW - timedelta(hours=1),
        last_new_entry_at=NOW - timedelta(days=1),
        disabled=True,
        failing_since=NOW - timedelta(hours=3),
        ok_streak=4,
        health="failing",
        health_since=NOW - timedelta(hours=2),
        typical_gap=timedelta(hours=5, seconds=7),
    )
    archive.save_feed_state(state)
    loaded = archive.feed_state(FEED)
    assert loaded == state
    assert archive.feed_states() == [state]  # the prepared read of every feed: the same
    assert loaded.next_poll_at is not None
    assert loaded.next_poll_at.utcoffset() == timedelta(0)
    assert archive.feed_state("https://unknown.example/") is None


def test_save_feed_state_upserts(archive: Archive) -> None:
    archive.save_feed_state(FeedState(FEED, etag="one"))
    archive.save_feed_state(FeedState(FEED, etag="two", error_count=1))
    assert archive.feed_states() == [FeedState(FEED, etag="two", error_count=1)]


def test_claim_due_feeds_leases_due_and_never_polled_feeds(archive: Archive) -> None:
    due, later, gone = "https://due/", "https://later/", "https://gone/"
    archive.save_feed_state(FeedState(due, next_poll_at=NOW))
    archive.save_feed_state(FeedState(later, next_poll_at=NOW + timedelta(minutes=1)))
    archive.save_feed_state(FeedState(gone, next_poll_at=NOW, disabled=True))
    new = "https://new/"
    lease = timedelta(minutes=5)

    claimed = archive.claim_due_feeds([due, later, gone, new], NOW, owner="a", lease=lease)
    assert sorted(claimed) == [due, new]
    # Another daemon finds them leased; the owner itself may claim again.
    assert archive.claim_due_feeds([due, new], NOW, owner="b", lease=lease) == []
    assert sorted(archive.claim_due_feeds([due, new], NOW, owner="a", lease=lease)) == [due, new]
    # A dead owner's lease expires.
    expired = NOW + lease
    assert sorted(archive.claim_due_feeds([due, new], expired, owner="b", lease=lease)) == [
        due,
        new,
    ]


def test_release_feed_frees_it_for_others_but_only_by_its_owner(archive: Archive) -> None:
    lease = timedelta(minutes=5)
    assert archive.claim_due_feeds([FEED], NOW, owner="a", lease=lease) == [FEED]
    archive.release_feed(FEED, "b")  # not b's lease: no effect
    assert archive.claim_due_feeds([FEED], NOW, owner="b", lease=lease) == []
    archive.release_feed(FEED, "a")
    assert archive.claim_due_feeds([FEED], NOW, owner="b", lease=lease) == [FEED]


def test_saving_state_keeps_the_lease(archive: Archive) -> None:
    lease = timedelta(minutes=5)
    assert archive.claim_due_feeds([FEED], NOW, owner="a", lease=lease) == [FEED]
    state = archive.feed_state(FEED)
    assert state == FeedState(FEED)
    archive.save_feed_state(replace(state, etag="x", next_poll_at=NOW - timedelta(minutes=1)))
    assert archive.claim_due_feeds([FEED], NOW, owner="b", lease=lease) == []
