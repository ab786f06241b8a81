"""When to poll a feed next: the configured interval, server hints, backoff after errors.

Pure: the poller passes `now`, the hints it saw and a random source for jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_INTERVAL = timedelta(seconds=1)
MAX_BACKOFF = timedelta(days=1)
JITTER = 0.1  # +-10 % of the delay, so feeds configured alike do not hit in lockstep


@dataclass(frozen=True, slots=True)
class Hints:
    """What the server or the feed said about how often to come back."""

    ttl: timedelta | None = None  # RSS <ttl>, sy:updatePeriod, Cache-Control max-age
    retry_after: timedelta | None = None  # after 429/503


def next_poll_at(
    now: datetime,
    interval: timedelta,
    *,
    error_count: int = 0,
    hints: Hints | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """The next poll time: interval (never shorter than a server hint), doubled per error."""
    hints = hints or Hints()
    delay = max(interval, MIN_INTERVAL)
    if hints.ttl is not None:
        # A hint may slow us down, bounded: never wait more than a day on a feed's word.
        delay = max(delay, min(hints.ttl, MAX_BACKOFF))
    if error_count > 0:
        delay = min(delay * (2 ** min(error_count - 1, 20)), MAX_BACKOFF)
    if hints.retry_after is not None:
        delay = max(delay, min(hints.retry_after, MAX_BACKOFF))
    spread = delay.total_seconds() * JITTER
    jitter = (rng or random).uniform(-spread, spread)  # noqa: S311 - jitter, not crypto
    return now + delay + timedelta(seconds=jitter)
