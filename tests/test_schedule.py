"""Next-poll times: interval, hints that slow us down, backoff that doubles, jitter that spreads."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import MAX_BACKOFF, Hints, next_poll_at

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
