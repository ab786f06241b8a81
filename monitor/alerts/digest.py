"""Digests: a channel or rule in mode="digest" gets one alert per period listing its matches.

Pure. A period closes when its schedule (`cron.Every` or `cron.Cron`) next fires after a match
was detected; the deliverer holds the match until then and folds all of the period's matches
into one digest alert, delivered like any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from monitor.alerts.render import iso_utc, one_line
from monitor.models import Alert

_LISTED = 50  # items listed per rule in one digest; the rest are counted


DIGEST_PREFIX = "digest-"


def is_digest(alert: Alert) -> bool:
    return alert.id.startswith(DIGEST_PREFIX)


def digest_id(channel: str, end: datetime, first: str) -> str:
    """Stable id of one digest: its channel, the moment its period closed, its first alert."""
    raw = f"digest\0{channel}\0{end.isoformat()}\0{first}".encode()
    return DIGEST_PREFIX + hashlib.sha256(raw).hexdigest()[:24]


def digest_alert(channel: str, alerts: Sequence[Alert], *, end: datetime, now: datetime) -> Alert:
    """One alert listing `alerts` grouped by rule, oldest first within a rule."""
    if not alerts:
        raise ValueError("no empty digests")
    ordered = sorted(alerts, key=lambda a: (a.detected_at, a.id))
    rules = tuple(dict.fromkeys(a.rule for a in ordered))
    lines: list[str] = []
    for rule in rules:
        mine = [a for a in ordered if a.rule == rule]
        lines.append(f"{one_line(rule)} ({len(mine)})")
        lines += [f"- {one_line(a.title)} <{one_line(a.url)}>" for a in mine[:_LISTED]]
        if len(mine) > _LISTED:
            lines.append(f"- ... and {len(mine) - _LISTED} more")
    count = len(ordered)
    start = ordered[0].detected_at
    return Alert(
        id=digest_id(channel, end, ordered[0].id),
        rule=", ".join(rules),
        channel=channel,
        title=(
            f"{count} match{'es' if count != 1 else ''} from {iso_utc(start)} to {iso_utc(end)}"
        ),
        url=ordered[0].url,
        feed=", ".join(dict.fromkeys(a.feed for a in ordered)),
        published=None,
        matched=tuple(dict.fromkeys(term for a in ordered for term in a.matched)),
        snippet="\n".join(lines),
        marks=(),
        detected_at=now,
    )


__all__ = ["DIGEST_PREFIX", "digest_alert", "digest_id", "is_digest"]
