"""Host-level Retry-After: a host is paused only when the host itself asks for it.

A 429 or 503 with Retry-After is first of all the business of the feed that got it (its own
next poll waits). A shared host (a blog platform, a CDN) may rate-limit one route without
meaning the others, so one bad route must never block the whole host. When `quorum` distinct
feeds of one host are told to wait within `window`, the host is saying "slow down" and all
its feeds wait until at least `quorum` of those feeds may poll again.

Pure: the caller passes `now`; state lives in memory, per process (a daemon that restarts
forgets it, and each feed's own wait is in the archive anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOST_SIGNALS = frozenset({429, 503})  # statuses by which a host asks us to slow down
DEFAULT_WAIT = timedelta(seconds=60)  # a 429/503 without Retry-After counts this long
WINDOW = timedelta(seconds=60)
QUORUM = 2
LONGEST = timedelta(days=1)  # never pause a host longer than this on its word


@dataclass(frozen=True, slots=True)
class _Penalty:
    at: datetime  # when the feed was told to wait
    until: datetime  # until when


class HostPenalties:
    """Which feeds of which host were told to wait, and whether that pauses the host."""

    def __init__(
        self,
        *,
        window: timedelta = WINDOW,
        quorum: int = QUORUM,
        longest: timedelta = LONGEST,
    ) -> None:
        if quorum < 2:
            raise ValueError("quorum must be at least 2: one feed never speaks for its host")
        self.window = window
        self.quorum = quorum
        self.longest = longest
        self._hosts: dict[str, dict[str, _Penalty]] = {}

    def record(self, host: str, feed: str, until: datetime, now: datetime) -> datetime | None:
        """`feed` on `host` was told to wait until `until`; returns the host's pause, if any."""
        host = host.lower()
        penalties = self._hosts.setdefault(host, {})
        penalties[feed] = _Penalty(now, min(until, now + self.longest))
        return self.blocked_until(host, now)

    def clear(self, host: str, feed: str) -> None:
        """`feed` answered normally: its past penalty no longer speaks for the host."""
        penalties = self._hosts.get(host.lower())
        if penalties is not None:
            penalties.pop(feed, None)
            if not penalties:
                del self._hosts[host.lower()]

    def blocked_until(self, host: str, now: datetime) -> datetime | None:
        """Until when every feed of `host` waits, or None when the host is not paused."""
        host = host.lower()
        penalties = self._hosts.get(host)
        if not penalties:
            return None
        active = sorted(
            (p for p in penalties.values() if p.until > now), key=lambda p: (p.at, p.until)
        )
        if len(active) != len(penalties):  # forget what has expired
            self._hosts[host] = {f: p for f, p in penalties.items() if p.until > now}
            if not active:
                del self._hosts[host]
                return None
        return _pause(active, self.window, self.quorum)

    def hosts(self) -> list[str]:
        """Hosts with a live penalty on some feed (for status and tests)."""
        return sorted(self._hosts)


def _pause(active: Sequence[_Penalty], window: timedelta, quorum: int) -> datetime | None:
    """The longest pause any `quorum` penalties told within one `window` agree on."""
    best: datetime | None = None
    for start, first in enumerate(active):
        group = [p for p in active[start:] if p.at - first.at <= window]
        if len(group) < quorum:
            continue
        # The host is paused while at least `quorum` of these feeds must still wait.
        until = sorted((p.until for p in group), reverse=True)[quorum - 1]
        best = until if best is None else max(best, until)
    return best


__all__ = ["DEFAULT_WAIT", "HOST_SIGNALS", "HostPenalties"]
