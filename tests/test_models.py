"""Records parse workers send the poller come back from pickle equal, every field kept; the
fast copy-with-changes of a feed's state is `dataclasses.replace`."""

from __future__ import annotations

import copy
import pickle
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Entry, FeedState, ParsedFeed, replace_state

WHEN = datetime(2024, 3, 5, 2, 30, tzinfo=UTC)
ENTRY = Entry(
    feed_url="https://wire.example/feed.xml",
    feed_name="wire",
    entry_id="tag:wire.example,2024:1",
    title="Troops leave",
    link="https://wire.example/a?utm_source=rss",
    canonical_url="https://wire.example/a",
    summary="First line\nsecond line",
    author="Priya Natarajan",
    published=WHEN,
    updated=datetime(2024, 3, 5, 17, 45, tzinfo=UTC),
    tags=("Asia", "Politics"),
    fingerprint="0" * 64,
)
FEED = ParsedFeed(
    title="Wire",
    entries=(ENTRY, Entry("u", "n", "2", "t", None, None, "s")),
    warning="malformed feed (x): parsed 2 entries anyway",
    ttl_minutes=30,
    update_period="hourly",
    update_frequency=2,
    skip_hours=(0, 1),
    skip_days=("Sunday",),
)


@pytest.mark.parametrize("record", [ENTRY, FEED], ids=["Entry", "ParsedFeed"])
def test_pickle_round_trips_every_field(record: Entry | ParsedFeed) -> None:
    for field in fields(record):  # a field added without a value here would go untested
        assert field.default is MISSING or getattr(record, field.name) != field.default
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(record, protocol=protocol))
        assert back == record
        assert type(back) is type(record)
        assert [getattr(back, f.name) for f in fields(back)] == [
            getattr(record, f.name) for f in fields(record)
        ]
    assert copy.deepcopy(record) == record


STATE = FeedState(
    "https://a.example/feed.xml",
    etag='"v1"',
    last_polled_at=WHEN,
    next_poll_at=WHEN + timedelta(minutes=15),
    last_status=304,
    ok_streak=3,
    typical_gap=timedelta(hours=2),
)
# a value for each field, unlike STATE's
OTHER = FeedState(
    "https://b.example/feed.xml",
    current_url="https://b.example/moved.xml",
    etag='"v2"',
    last_modified="Tue, 05 Mar 2024 02:30:00 GMT",
    body_hash="ab" * 32,
    last_polled_at=WHEN + timedelta(hours=1),
    next_poll_at=WHEN + timedelta(hours=2),
    last_status=200,
    error_count=2,
    last_error="timed out",
    last_error_kind="timeout",
    last_error_at=WHEN,
    last_new_entry_at=WHEN,
    disabled=True,
    failing_since=WHEN,
    ok_streak=0,
    health="failing",
    health_since=WHEN,
    typical_gap=None,
)
STATE_FIELDS = [f.name for f in fields(FeedState)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, len(STATE_FIELDS)])
def test_replace_state_is_dataclasses_replace(count: int) -> None:
    for start in range(len(STATE_FIELDS)):
        names = (STATE_FIELDS * 2)[start : start + count]
        changes = {name: getattr(OTHER, name) for name in names}
        assert replace_state(STATE, **changes) == replace(STATE, **changes), changes
    assert STATE.etag == '"v1"'  # the original is left as it was


def test_replace_state_refuses_what_replace_refuses() -> None:
    with pytest.raises(TypeError, match="bogus"):
        replace_state(STATE, bogus=1)
    with pytest.raises(TypeError):
        replace_state(STATE, OTHER)  # changes are keywords only
