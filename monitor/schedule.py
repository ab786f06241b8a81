"""When to poll a feed next: the configured interval, server hints, backoff after errors.

Pure: the poller passes `now`, what the server and the feed said, and a random source for
jitter. Hints only ever slow us down (never below the configured interval), bounded by a day.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from monitor.models import ParsedFeed

MIN_INTERVAL = timedelta(seconds=1)
MAX_BACKOFF = timedelta(days=1)
JITTER = 0.1  # +-10 % of the delay, so feeds configured alike do not hit in lockstep
AUTO_FLOOR = timedelta(minutes=5)
AUTO_CEILING = timedelta(hours=6)
AUTO_DEFAULT = timedelta(minutes=30)
_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Hints:
    """What the server or the feed said about how often to come back."""

    ttl: timedelta | None = None  # the longest of RSS <ttl>, sy:update*, max-age, Expires
    retry_after: timedelta | None = None  # after 429/503
    skip_hours: frozenset[int] = frozenset()  # UTC hours (RSS skipHours)
    skip_days: frozenset[str] = frozenset()  # lower-case English day names (RSS skipDays)


def http_ttl(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Freshness the server promised: Cache-Control max-age (or s-maxage), else Expires."""
    for directive in headers.get("cache-control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() in {"max-age", "s-maxage"} and value.strip('"').isdigit():
            return timedelta(seconds=int(value.strip('"')))
    expires = headers.get("expires")
    if expires:
        try:
            at = parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return None  # "Expires: 0" and other junk mean "already stale"
        if at.tzinfo is not None and at > now:
            return at - now
    return None


def feed_ttl(feed: ParsedFeed) -> timedelta | None:
    """The longest update period the feed itself declares (<ttl>, sy:updatePeriod)."""
    found = []
    if feed.ttl_minutes:
        found.append(timedelta(minutes=feed.ttl_minutes))
    if feed.update_period and feed.update_period.lower() in _PERIODS:
        found.append(_PERIODS[feed.update_period.lower()] / max(feed.update_frequency or 1, 1))
    return max(found) if found else None


def hints_for(headers: Mapping[str, str], feed: ParsedFeed | None, now: datetime) -> Hints:
    """Every scheduling hint of one successful poll."""
    ttls = [t for t in (http_ttl(headers, now), feed_ttl(feed) if feed else None) if t]
    return Hints(
        ttl=max(ttls) if ttls else None,
        skip_hours=frozenset(h for h in (feed.skip_hours if feed else ()) if 0 <= h < 24),
        skip_days=frozenset(d.lower() for d in (feed.skip_days if feed else ())),
    )


def auto_interval(typical_gap: timedelta | None) -> timedelta:
    """For `interval = "auto"`: half the feed's typical gap between items, within bounds.

    The gap is the one stored on the feed at its last full read (`health.typical_gap`), so
    that polls reading no body (304, an unchanged body, an error's backoff) keep the interval
    the feed's items set; None (fewer than 3 dated items seen) gives `AUTO_DEFAULT`.
    """
    if typical_gap is None:
        return AUTO_DEFAULT
    return min(max(typical_gap / 2, AUTO_FLOOR), AUTO_CEILING)


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
    jitter = (rng or random).uniform(-spread, spread)
    return _skip(now + delay + timedelta(seconds=jitter), hints)


def _skip(at: datetime, hints: Hints) -> datetime:
    """Move `at` past the hours and days the feed said it does not update (at most a week)."""
    if not hints.skip_hours and not hints.skip_days:
        return at
    for _ in range(24 * 7):
        if at.hour not in hints.skip_hours and _DAYS[at.weekday()] not in hints.skip_days:
            return at
        at = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return at  # every hour skipped: the feed's hints are nonsense, poll anyway


__all__: Sequence[str] = [
    "Hints",
    "auto_interval",
    "feed_ttl",
    "hints_for",
    "http_ttl",
    "next_poll_at",
]
