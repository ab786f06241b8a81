"""Records parse workers send the poller come back from pickle equal, every field kept."""

from __future__ import annotations

import copy
import pickle
from dataclasses import MISSING, fields
from datetime import UTC, datetime

import pytest

from monitor.models import Entry, ParsedFeed

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
