"""When to try an alert again, and when to stop: exponential backoff with jitter.

Pure: no I/O, no clock (the caller passes `now`), randomness injected for tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Jitter = Literal["full", "equal", "none"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Per-channel retry limits.

    `give_up_after` bounds retryable failures (5xx, timeouts) by the alert's age;
    `max_client_errors` bounds attempts that ended in a permanent (4xx-like) error.
    """

    first: timedelta = timedelta(seconds=10)
    max: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=24)
    max_client_errors: int = 5
    jitter: Jitter = "equal"

    def __post_init__(self) -> None:
        if self.first <= timedelta(0) or self.max < self.first:
            raise ValueError("retry policy needs 0 < first <= max")
        if self.max_client_errors < 1:
            raise ValueError("max_client_errors must be at least 1")


DEFAULT_POLICY = RetryPolicy()


def backoff_delay(
    policy: RetryPolicy, attempts: int, rng: random.Random, *, retry_after: float | None = None
) -> timedelta:
    """Delay before the next try after `attempts` failed tries (0 for the first failure).

    `min(max, first * 2**attempts)`, jittered; never shorter than the receiver's
    `retry_after` hint (itself capped at `policy.max`).
    """
    first = policy.first.total_seconds()
    cap = policy.max.total_seconds()
    base = min(cap, first * 2 ** min(attempts, 62))
    if policy.jitter == "full":
        delay = rng.uniform(0, base)
    elif policy.jitter == "equal":
        delay = base / 2 + rng.uniform(0, base / 2)
    else:
        delay = base
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return timedelta(seconds=delay)


def next_attempt_at(
    policy: RetryPolicy,
    attempts: int,
    now: datetime,
    rng: random.Random,
    *,
    retry_after: float | None = None,
) -> datetime:
    """`now` plus the backoff delay."""
    return now + backoff_delay(policy, attempts, rng, retry_after=retry_after)


__all__ = ["DEFAULT_POLICY", "Jitter", "RetryPolicy", "backoff_delay", "next_attempt_at"]
