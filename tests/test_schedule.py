"""Next-poll times: interval, hints that slow us down, backoff that doubles, jitter that spreads."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import ParsedFeed
from monitor.schedule import (
    AUTO_CEILING,
    AUTO_DEFAULT,
    AUTO_FLOOR,
    MAX_BACKOFF,
    Hints,
    auto_interval,
    feed_ttl,
    hints_for,
    http_ttl,
    next_poll_at,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _delay(**kwargs: object) -> float:
    rng = random.Random(7)
    at = next_poll_at(NOW, timedelta(minutes=10), rng=rng, **kwargs)  # type: ignore[arg-type]
    return (at - NOW).total_seconds()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 600),
        ({"hints": Hints(ttl=timedelta(minutes=60))}, 3600),  # the feed asks for less often
        ({"hints": Hints(ttl=timedelta(minutes=1))}, 600),  # never more often than configured
        ({"hints": Hints(ttl=timedelta(days=30))}, 86400),  # a hint is bounded by a day
        ({"error_count": 1}, 600),
        ({"error_count": 2}, 1200),
        ({"error_count": 4}, 4800),
        ({"error_count": 40}, MAX_BACKOFF.total_seconds()),  # capped, never given up
        ({"hints": Hints(retry_after=timedelta(hours=2))}, 7200),
    ],
)
def test_delay_within_jitter(kwargs: dict[str, object], expected: float) -> None:
    assert _delay(**kwargs) == pytest.approx(expected, rel=0.1)


def test_jitter_spreads_feeds_configured_alike() -> None:
    rng = random.Random(1)
    times = {next_poll_at(NOW, timedelta(minutes=10), rng=rng) for _ in range(50)}
    assert len(times) == 50
    assert all(timedelta(minutes=9) <= t - NOW <= timedelta(minutes=11) for t in times)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=3600"}, timedelta(hours=1)),
        ({"cache-control": "s-maxage=60"}, timedelta(minutes=1)),
        ({"expires": "Thu, 01 Jan 2026 02:00:00 GMT"}, timedelta(hours=2)),
        ({"expires": "0"}, None),
        ({"expires": "Wed, 31 Dec 2025 23:00:00 GMT"}, None),  # in the past
        ({"cache-control": "no-cache"}, None),
        ({}, None),
    ],
)
def test_http_ttl(headers: dict[str, str], expected: timedelta | None) -> None:
    assert http_ttl(headers, NOW) == expected


def _feed(**kwargs: object) -> ParsedFeed:
    return ParsedFeed(title="t", entries=(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        (_feed(ttl_minutes=60), timedelta(hours=1)),
        (_feed(update_period="hourly", update_frequency=2), timedelta(minutes=30)),
        (_feed(update_period="daily"), timedelta(days=1)),
        (_feed(ttl_minutes=5, update_period="hourly"), timedelta(hours=1)),
        (_feed(), None),
    ],
)
def test_feed_ttl(feed: ParsedFeed, expected: timedelta | None) -> None:
    assert feed_ttl(feed) == expected


def test_skip_hours_and_days_move_the_poll() -> None:
    # NOW is Thursday 2026-01-01 00:00 UTC; ten minutes later falls in skipped hour 0.
    hints = hints_for({}, _feed(skip_hours=(0, 1), skip_days=("Friday",)), NOW)
    at = next_poll_at(NOW, timedelta(minutes=10), hints=hints, rng=random.Random(3))
    assert at == datetime(2026, 1, 1, 2, tzinfo=UTC)
    friday = datetime(2026, 1, 1, 23, 50, tzinfo=UTC)
    at = next_poll_at(friday, timedelta(minutes=20), hints=hints, rng=random.Random(3))
    assert at == datetime(2026, 1, 3, 2, tzinfo=UTC)  # Friday skipped, then hours 0-1


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (timedelta(hours=2), timedelta(hours=1)),
        (timedelta(minutes=2), AUTO_FLOOR),
        (timedelta(days=3), AUTO_CEILING),
        (None, AUTO_DEFAULT),  # too few dated items seen to tell
    ],
)
def test_auto_interval_is_half_the_typical_gap_within_bounds(
    gap: timedelta | None, expected: timedelta
) -> None:
    assert auto_interval(gap) == expected
