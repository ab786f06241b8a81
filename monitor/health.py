"""Feed health: when a feed is failing or silent, one alert; one more when it recovers.

Pure decision logic. The poller hands `judge` the feed's state after each poll; `judge` keeps
the streaks on the state (`failing_since`, `ok_streak`) and the alert that is out (`health`,
`health_since`), so a restart neither forgets an alert nor sends it twice. Hysteresis:

- failing: `failures` consecutive failed polls, or failing for `failing_for`, or 410 Gone;
  recovered only after `recover_after` consecutive good polls.
- silent: a good poll, but no new or changed entry for longer than `silent_for`
  ("auto": 4x the feed's typical gap between items, within 1 to 60 days; 7 days when the
  gap is unknown); recovered when a new entry arrives. A failing feed is judged failing, not
  silent; a silent feed that starts failing is escalated to failing (one more alert).

Each alert names its episode (`anchor`: when the failure began, or the last new entry), so
the archive can give it a stable id: deciding the same episode twice yields the same alert.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.models import FeedState, replace_state

FAILING = "failing"
SILENT = "silent"
AUTO_FACTOR = 4
AUTO_FLOOR = timedelta(days=1)
AUTO_CEILING = timedelta(days=60)
AUTO_UNKNOWN = timedelta(days=7)
RULE_PREFIX = "feed-health:"  # health alerts travel as matches of rule "feed-health:<feed>"


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """[health] of the config. `channel` None: health is tracked and logged, not sent."""

    channel: str | None = None
    failures: int = 5
    failing_for: timedelta = timedelta(hours=6)
    silent_for: timedelta | Literal["auto", "off"] = "auto"
    recover_after: int = 2


@dataclass(frozen=True, slots=True)
class HealthAlert:
    """One health change of one feed: a problem begins, or it ends (`recovered`)."""

    feed_url: str
    feed_name: str
    problem: str  # "failing" or "silent"
    recovered: bool
    anchor: datetime  # the episode: first failure, or the last new entry before the silence
    title: str
    message: str

    @property
    def event(self) -> str:
        """ "failing", "silent", "failing-recovered" or "silent-recovered"."""
        return f"{self.problem}-recovered" if self.recovered else self.problem

    @property
    def rule(self) -> str:
        return f"{RULE_PREFIX}{self.feed_name}"


def typical_gap(published: Iterable[datetime | None]) -> timedelta | None:
    """The median gap between the newest 20 dated items; None with fewer than 3 dates."""
    times = sorted({t for t in published if t is not None})[-20:]
    if len(times) < 3:
        return None
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    return gaps[len(gaps) // 2]


def silence_limit(policy: HealthPolicy, gap: timedelta | None) -> timedelta | None:
    """How long a feed may go without a new entry; None when silence is not judged."""
    if policy.silent_for == "off":
        return None
    if isinstance(policy.silent_for, timedelta):
        return policy.silent_for
    if gap is None:
        return AUTO_UNKNOWN
    return min(max(gap * AUTO_FACTOR, AUTO_FLOOR), AUTO_CEILING)


def judge(
    state: FeedState,
    policy: HealthPolicy,
    now: datetime,
    *,
    feed_name: str,
) -> tuple[FeedState, HealthAlert | None]:
    """The state after this poll with its health bookkeeping, and the alert to send, if any.

    `state` is what the poll produced: error_count 0 after a good poll, and after a full read
    the `typical_gap` of the entries it saw (which also sets the "auto" interval).
    """
    failed = state.error_count > 0
    state = replace_state(
        state,
        failing_since=(state.failing_since or now) if failed else None,
        ok_streak=0 if failed else state.ok_streak + 1,
    )
    problem = _problem(state, policy, now, failed)
    alert: HealthAlert | None = None
    if state.health is None and problem is not None:
        alert = _begins(state, policy, problem, feed_name)
    elif state.health == SILENT and problem == FAILING:
        alert = _begins(state, policy, FAILING, feed_name)  # escalate: silent because failing
    elif state.health == FAILING and not failed and state.ok_streak >= policy.recover_after:
        alert = _ends(state, FAILING, feed_name)
    elif state.health == SILENT and _new_since(state, state.health_since):
        alert = _ends(state, SILENT, feed_name)
    if alert is not None:
        state = replace_state(
            state,
            health=None if alert.recovered else alert.problem,
            health_since=None if alert.recovered else alert.anchor,
        )
    return state, alert


def _problem(state: FeedState, policy: HealthPolicy, now: datetime, failed: bool) -> str | None:
    if failed:
        since = state.failing_since or now
        gone = state.disabled and state.last_status == 410
        if gone or state.error_count >= policy.failures or now - since >= policy.failing_for:
            return FAILING
        return None
    limit = silence_limit(policy, state.typical_gap)
    last = state.last_new_entry_at
    if limit is not None and last is not None and now - last > limit:
        return SILENT
    return None


def _new_since(state: FeedState, since: datetime | None) -> bool:
    last = state.last_new_entry_at
    return last is not None and (since is None or last > since)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _begins(state: FeedState, policy: HealthPolicy, problem: str, name: str) -> HealthAlert:
    if problem == FAILING:
        anchor = state.failing_since or state.last_error_at or state.last_polled_at
        assert anchor is not None  # a failed poll always sets failing_since
        what = f"{state.last_error_kind or 'error'}: {state.last_error or 'unknown error'}"
        if state.disabled and state.last_status == 410:
            title = f'Feed "{name}" is gone (HTTP 410): polling stopped'
        else:
            title = f'Feed "{name}" is failing'
        polls = "poll" if state.error_count == 1 else "polls"
        message = (
            f"{state.error_count} failed {polls} in a row since {_when(anchor)}; "
            f"last error ({what}); {state.url}"
        )
    else:
        anchor = state.last_new_entry_at or state.last_polled_at
        assert anchor is not None  # judged silent only with a last new entry
        limit = silence_limit(policy, state.typical_gap)
        title = f'Feed "{name}" is silent'
        message = (
            f"no new entry since {_when(anchor)}, longer than expected ({limit}); "
            f"the feed answers normally; {state.url}"
        )
    return HealthAlert(state.url, name, problem, False, anchor, title, message)


def _ends(state: FeedState, problem: str, name: str) -> HealthAlert:
    anchor = state.health_since or state.last_polled_at
    assert anchor is not None
    if problem == FAILING:
        message = f"polls succeed again (failing since {_when(anchor)}); {state.url}"
    else:
        message = f"new entries again (silent since {_when(anchor)}); {state.url}"
    return HealthAlert(state.url, name, problem, True, anchor, f'Feed "{name}" recovered', message)


__all__ = [
    "FAILING",
    "RULE_PREFIX",
    "SILENT",
    "HealthAlert",
    "HealthPolicy",
    "judge",
    "silence_limit",
    "typical_gap",
]
