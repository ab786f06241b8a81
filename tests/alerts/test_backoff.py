"""Backoff arithmetic: exponential, capped, jittered, never below the receiver's hint."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from monitor.alerts import RetryPolicy, backoff_delay

EXACT = RetryPolicy(first=timedelta(seconds=10), max=timedelta(hours=1), jitter="none")


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 10), (1, 20), (2, 40), (8, 2560), (9, 3600), (500, 3600)]
)
def test_exponential_and_capped(attempts: int, seconds: int) -> None:
    assert backoff_delay(EXACT, attempts, random.Random(0)) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5)])
def test_jitter_stays_in_its_band(jitter: str, low: float) -> None:
    policy = RetryPolicy(first=timedelta(seconds=10), jitter=jitter)  # type: ignore[arg-type]
    rng = random.Random(42)
    delays = [backoff_delay(policy, 3, rng).total_seconds() for _ in range(200)]
    assert all(80 * low <= delay <= 80 for delay in delays)
    assert len(set(delays)) > 100  # actually random


def test_retry_after_is_a_floor_capped_by_max() -> None:
    rng = random.Random(1)
    assert backoff_delay(EXACT, 0, rng, retry_after=120) == timedelta(seconds=120)
    assert backoff_delay(EXACT, 0, rng, retry_after=2) == timedelta(seconds=10)
    assert backoff_delay(EXACT, 0, rng, retry_after=86400) == timedelta(hours=1)


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="first"):
        RetryPolicy(first=timedelta(0))
    with pytest.raises(ValueError, match="max_client_errors"):
        RetryPolicy(max_client_errors=0)
