"""The storm guard: at most N alerts per (rule, channel) per window; the rest fold into one.

Pure (imports only `models`): the caller brings how many alerts each (rule, channel) already
sent in the current window and applies the decision to the outbox (see `StormDecision`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.models import Alert, PendingAlert

Key = tuple[str, str]  # (rule, channel)
_LISTED = 10  # folded titles listed in a summary's snippet


@dataclass(frozen=True, slots=True)
class StormLimit:
    """`max_alerts` per (rule, channel) within each fixed `window` (aligned to the epoch)."""

    max_alerts: int = 10
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_alerts < 1 or self.window <= timedelta(0):
            raise ValueError("a storm limit needs max_alerts >= 1 and a positive window")

    def window_start(self, now: datetime) -> datetime:
        """Start of the window holding `now` (fixed windows: same answer on every daemon)."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        size = self.window.total_seconds()
        return epoch + timedelta(seconds=(now - epoch).total_seconds() // size * size)


# The limit of one (rule, channel), None when it is not guarded: a rule may override its
# channel's limit, so limits are looked up per pair, not per channel.
StormLimits = Callable[[str, str], StormLimit | None]


def per_channel(limits: Mapping[str, StormLimit]) -> StormLimits:
    """Limits that depend on the channel only (channels missing from `limits`: unguarded)."""
    return lambda _rule, channel: limits.get(channel)


def as_lookup(limits: Mapping[str, StormLimit] | StormLimits) -> StormLimits:
    return per_channel(limits) if isinstance(limits, Mapping) else limits


@dataclass(frozen=True, slots=True)
class StormDecision:
    """What to do with one claimed batch.

    `send` go out as usual; `folded` are marked delivered-as-part-of their summary (kept in
    the archive, never sent alone); `summaries` are new alerts to enqueue, one per key.
    """

    send: tuple[PendingAlert, ...]
    folded: Mapping[Key, tuple[PendingAlert, ...]]
    summaries: Mapping[Key, Alert]


SUMMARY_PREFIX = "storm-"


def is_summary(alert: Alert) -> bool:
    """A storm summary (never itself folded or counted against the limit)."""
    return alert.id.startswith(SUMMARY_PREFIX)


def summary_id(rule: str, channel: str, window_start: datetime, first: str = "") -> str:
    """Stable id of one summary: (rule, channel, window) and the first alert it folds.

    Retries keep it; a second storm in the same window (after the first summary went out)
    gets its own.
    """
    raw = f"storm\0{rule}\0{channel}\0{window_start.isoformat()}\0{first}".encode()
    return SUMMARY_PREFIX + hashlib.sha256(raw).hexdigest()[:24]


def _matches(count: int) -> str:
    return "match" if count == 1 else "matches"


def summary_alert(
    rule: str, channel: str, folded: Sequence[Alert], *, now: datetime, window_start: datetime
) -> Alert:
    """One alert standing for `folded`: "and 37 more matches for rule X"."""
    titles = [f"- {alert.title}" for alert in folded[:_LISTED]]
    if len(folded) > _LISTED:
        titles.append(f"- ... {len(folded) - _LISTED} more")
    matched = tuple(dict.fromkeys(term for alert in folded for term in alert.matched))
    return Alert(
        id=summary_id(rule, channel, window_start, folded[0].id if folded else ""),
        rule=rule,
        channel=channel,
        title=f"and {len(folded)} more {_matches(len(folded))} for rule {rule}",
        url=folded[0].url if folded else "",
        feed=", ".join(dict.fromkeys(alert.feed for alert in folded)),
        published=None,
        matched=matched,
        snippet="\n".join(titles),
        marks=(),
        detected_at=now,
    )


def _window_start(limit: StormLimit | None, now: datetime) -> datetime:
    assert limit is not None  # only guarded keys fold
    return limit.window_start(now)


def apply_storm_guard(
    batch: Sequence[PendingAlert],
    *,
    already_sent: Mapping[Key, int],
    limits: Mapping[str, StormLimit] | StormLimits,
    now: datetime,
) -> StormDecision:
    """Split `batch` into alerts to send and alerts to fold, per (rule, channel).

    `already_sent[(rule, channel)]` counts alerts sent in the current window (from the
    archive); `limits` is per channel (channels without one are not limited) or a lookup per
    (rule, channel). Oldest first: the earliest alerts of a storm are the ones sent in full.
    """
    lookup = as_lookup(limits)
    used: dict[Key, int] = defaultdict(int, already_sent)
    send: list[PendingAlert] = []
    folded: dict[Key, list[PendingAlert]] = defaultdict(list)
    found: dict[Key, StormLimit | None] = {}
    for pending in sorted(batch, key=lambda p: (p.created_at, p.outbox_id)):
        alert = pending.alert
        key = (alert.rule, alert.channel)
        if key not in found:
            found[key] = lookup(*key)
        limit = found[key]
        if limit is None or used[key] < limit.max_alerts:
            used[key] += 1
            send.append(pending)
        else:
            folded[key].append(pending)
    summaries = {
        key: summary_alert(
            key[0],
            key[1],
            [p.alert for p in rows],
            now=now,
            window_start=_window_start(found[key], now),
        )
        for key, rows in folded.items()
    }
    return StormDecision(tuple(send), {key: tuple(rows) for key, rows in folded.items()}, summaries)


__all__ = [
    "SUMMARY_PREFIX",
    "StormDecision",
    "StormLimit",
    "StormLimits",
    "apply_storm_guard",
    "as_lookup",
    "is_summary",
    "per_channel",
    "summary_alert",
    "summary_id",
]
