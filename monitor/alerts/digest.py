"""Digests: a channel in mode="digest" gets one alert per period listing the period's matches.

Pure (imports only `models`). `every` periods are fixed windows aligned to the epoch, so
every daemon agrees on them; cron schedules are the daemon's (APScheduler) and call
`digest_alert` with the window they close.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.alerts.render import iso_utc, one_line
from monitor.models import Alert

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LISTED = 50  # items listed in one digest; the rest are counted


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """[start, end) of one digest window."""

    start: datetime
    end: datetime


def digest_period(now: datetime, every: timedelta) -> DigestPeriod:
    """The last complete window before `now` (the one a digest sent at `now` covers)."""
    if every <= timedelta(0):
        raise ValueError("a digest period must be positive")
    size = every.total_seconds()
    end = _EPOCH + timedelta(seconds=(now - _EPOCH).total_seconds() // size * size)
    return DigestPeriod(end - every, end)


def digest_id(channel: str, period: DigestPeriod) -> str:
    """Stable id of one channel's digest for one window: a retry sends the same id."""
    raw = f"digest\0{channel}\0{period.start.isoformat()}\0{period.end.isoformat()}".encode()
    return "digest-" + hashlib.sha256(raw).hexdigest()[:24]


def digest_alert(
    channel: str, alerts: Sequence[Alert], *, period: DigestPeriod, now: datetime
) -> Alert | None:
    """One alert listing `alerts` (oldest first), or None when the window had none."""
    if not alerts:
        return None
    ordered = sorted(alerts, key=lambda a: (a.detected_at, a.id))
    rules = tuple(dict.fromkeys(a.rule for a in ordered))
    lines = [
        f"- [{one_line(a.rule)}] {one_line(a.title)} <{one_line(a.url)}>" for a in ordered[:_LISTED]
    ]
    if len(ordered) > _LISTED:
        lines.append(f"- ... and {len(ordered) - _LISTED} more")
    count = len(ordered)
    return Alert(
        id=digest_id(channel, period),
        rule=", ".join(rules),
        channel=channel,
        title=(
            f"{count} match{'es' if count != 1 else ''} "
            f"from {iso_utc(period.start)} to {iso_utc(period.end)}"
        ),
        url=ordered[0].url,
        feed=", ".join(dict.fromkeys(a.feed for a in ordered)),
        published=None,
        matched=tuple(dict.fromkeys(term for a in ordered for term in a.matched)),
        snippet="\n".join(lines),
        marks=(),
        detected_at=now,
    )


__all__ = ["DigestPeriod", "digest_alert", "digest_id", "digest_period"]
