"""Feed health alerts: one when a feed fails or falls silent, one when it recovers, no flapping.

The decision rules of monitor.health on hand-made states first; then the whole path on SQLite
and PostgreSQL: a scripted feed fails, the pipeline queues ONE health alert in the outbox, a
restart does not send it again, the deliverer posts it to a real webhook receiver, and the
recovery is one more alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import Archive
from monitor.demo.receiver import Receiver, receive_webhooks
from monitor.health import HealthAlert, HealthPolicy, judge, silence_limit, typical_gap
from monitor.models import FeedState
from monitor.pipeline import PollResult
from tests.conftest import archive_url
from tests.fetch.conftest import Exchange, ScriptedServer, resolver_for
from tests.test_poll_errors import FEED, scripted_runtime

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
URL = "https://news.example/feed"
POLICY = HealthPolicy(channel="ops", failures=3, failing_for=timedelta(hours=6))


def poll(
    state: FeedState,
    at: datetime,
    *,
    ok: bool,
    new: bool = False,
    status: int = 200,
    policy: HealthPolicy = POLICY,
) -> tuple[FeedState, HealthAlert | None]:
    """What the pipeline does to a feed's state at one poll, then the health judgement."""
    if ok:
        state = replace(
            state,
            last_polled_at=at,
            error_count=0,
            last_error=None,
            last_error_kind=None,
            last_status=status,
            last_new_entry_at=at if new else state.last_new_entry_at,
        )
    else:
        state = replace(
            state,
            last_polled_at=at,
            error_count=state.error_count + 1,
            last_error=f"HTTP {status}",
            last_error_kind="http-status",
            last_error_at=at,
            last_status=status,
            disabled=state.disabled or status == 410,
        )
    return judge(state, policy, at, feed_name="news")


def run(
    outcomes: list[bool], *, start: FeedState | None = None, every: timedelta = H
) -> tuple[FeedState, list[HealthAlert]]:
    state = start or FeedState(URL, last_new_entry_at=NOW)
    alerts = []
    for n, good in enumerate(outcomes):
        state, alert = poll(state, NOW + n * every, ok=good, new=good, status=200 if good else 500)
        if alert:
            alerts.append(alert)
    return state, alerts


def test_failing_for_n_polls_alerts_once() -> None:
    state, alerts = run([True, False, False, False, False, False, False])
    assert [(a.problem, a.recovered) for a in alerts] == [("failing", False)]
    alert = alerts[0]
    assert alert.anchor == NOW + H  # the first failed poll: the episode's name
    assert alert.title == 'Feed "news" is failing'
    assert "3 failed polls in a row" in alert.message
    assert "(http-status: HTTP 500)" in alert.message
    assert alert.rule == "feed-health:news"
    assert (state.health, state.health_since, state.failing_since) == ("failing", NOW + H, NOW + H)


def test_recovery_needs_consecutive_good_polls_so_it_never_flaps() -> None:
    # Alerted after 3 failures; then good, bad, good, bad ...: never "recovered".
    flapping = [False, False, False] + [True, False] * 5
    state, alerts = run(flapping)
    assert [a.event for a in alerts] == ["failing"]
    # Two good polls in a row: one recovery, then nothing more.
    state, alerts = run([False, False, False, True, True, True, True])
    assert [a.event for a in alerts] == ["failing", "failing-recovered"]
    assert alerts[1].anchor == alerts[0].anchor  # the same episode
    assert alerts[1].title == 'Feed "news" recovered'
    assert (state.health, state.health_since, state.failing_since) == (None, None, None)


def test_fewer_failures_than_n_within_the_duration_do_not_alert() -> None:
    _, alerts = run([False, False, True, False, False, True])
    assert alerts == []


def test_failing_for_a_duration_alerts_before_n_polls() -> None:
    # Backoff spaces the polls: two failures 7 hours apart exceed failing_for = 6h.
    _, alerts = run([False, False], every=timedelta(hours=7))
    assert [a.event for a in alerts] == ["failing"]


def test_gone_alerts_at_once() -> None:
    state, alert = poll(FeedState(URL), NOW, ok=False, status=410)
    assert alert is not None
    assert alert.title == 'Feed "news" is gone (HTTP 410): polling stopped'
    assert state.disabled


def test_the_stored_state_is_the_hysteresis() -> None:
    """A restart reads the state back: judging it again sends nothing new."""
    state, alerts = run([False, False, False])
    assert len(alerts) == 1
    again, alert = poll(state, NOW + 5 * H, ok=False)
    assert alert is None
    assert again.health == "failing"


def test_silent_feed_alerts_once_and_recovers_on_a_new_entry() -> None:
    policy = replace(POLICY, silent_for=timedelta(days=7))
    state = FeedState(URL, last_new_entry_at=NOW - timedelta(days=7))
    state, alert = poll(state, NOW - H, ok=True, policy=policy)
    assert alert is None  # exactly 7 days is not longer than 7 days
    state, alert = poll(state, NOW + H, ok=True, policy=policy)
    assert alert is not None
    assert (alert.event, alert.anchor) == ("silent", NOW - timedelta(days=7))
    assert "no new entry since 2026-11-21 12:00 UTC" in alert.message
    state, alert = poll(state, NOW + 2 * H, ok=True, policy=policy)
    assert alert is None
    state, alert = poll(state, NOW + 3 * H, ok=True, new=True, policy=policy)
    assert alert is not None
    assert alert.event == "silent-recovered"
    assert state.health is None


def test_a_silent_feed_that_starts_failing_is_escalated() -> None:
    policy = replace(POLICY, silent_for=timedelta(days=1))
    state = FeedState(URL, last_new_entry_at=NOW - timedelta(days=2))
    state, first = poll(state, NOW, ok=True, policy=policy)
    assert first is not None
    assert first.event == "silent"
    alerts = []
    for n in range(1, 5):
        state, alert = poll(state, NOW + n * H, ok=False, policy=policy)
        alerts += [alert] if alert else []
    assert [a.event for a in alerts] == ["failing"]
    assert state.health == "failing"


def test_silence_limit_auto_follows_the_feeds_rhythm() -> None:
    auto = HealthPolicy()
    assert silence_limit(auto, None) == timedelta(days=7)  # rhythm unknown
    assert silence_limit(auto, H) == timedelta(days=1)  # hourly feed: the floor
    assert silence_limit(auto, timedelta(days=3)) == timedelta(days=12)
    assert silence_limit(auto, timedelta(days=90)) == timedelta(days=60)  # the ceiling
    assert silence_limit(replace(auto, silent_for="off"), H) is None
    assert silence_limit(replace(auto, silent_for=timedelta(days=2)), H) == timedelta(days=2)
    dates = [NOW - n * 2 * H for n in range(10)] + [None, NOW - 2 * H]
    assert typical_gap(dates) == 2 * H
    assert typical_gap([NOW, NOW - H, None]) is None


def test_silence_off_and_feeds_that_never_had_an_entry() -> None:
    off = replace(POLICY, silent_for="off")
    state = FeedState(URL, last_new_entry_at=NOW - timedelta(days=400))
    assert poll(state, NOW, ok=True, policy=off)[1] is None
    assert poll(FeedState(URL), NOW + timedelta(days=400), ok=True)[1] is None


# --- through the pipeline, the archive's outbox and a real webhook ---------------------------


class Flaky:
    """A feed that fails while `failing` is set."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self, ex: Exchange) -> None:
        if self.failing:
            ex.reply(500, b"oops")
        else:
            ex.reply(200, FEED, {"Content-Type": "application/rss+xml"})


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with receive_webhooks() as receiver:
        yield receiver


def test_health_alerts_go_through_the_outbox(
    tmp_path: Path, archive_target: tuple[str, str | None], webhook: Receiver
) -> None:
    flaky = Flaky()
    with ScriptedServer() as server:
        server.scripts["/feed"] = flaky
        feed = f"http://flaky.test:{server.port}/feed"
        config = tmp_path / "monitor.toml"
        config.write_text(
            f'watch = false\n[archive]\nurl = "{archive_url(archive_target)}"\n'
            '[fetch]\nallow_private = true\n[health]\nchannel = "ops"\nfailures = 3\n'
            f'[channels.ops]\ntype = "webhook"\nurl = "{webhook.url}"\n'
            f'[[feeds]]\nname = "flaky"\nurl = "{feed}"\nfull_text = false\n'
        )
        resolve = resolver_for({"flaky.test": ["127.0.0.1"]})

        async def cycles(start: int, count: int) -> list[PollResult]:
            out = []
            async with scripted_runtime(config, resolve) as runtime:  # a fresh process
                for n in range(start, start + count):
                    out += await runtime.run_cycle(now=NOW + n * H)
                    await runtime.deliver(now=NOW + n * H)
            return out

        first = asyncio.run(cycles(0, 4))  # 4 failures: the alert after the third
        again = asyncio.run(cycles(4, 2))  # a restart, still failing: nothing new
        flaky.failing = False
        healed = asyncio.run(cycles(6, 3))  # two good polls make the recovery
    assert [r.outcome for r in first + again] == ["error"] * 6
    assert [r.outcome for r in healed] == ["ok", "unchanged", "unchanged"]

    received = [got.json() for got in webhook.received]
    assert [(a["rule"], a["title"]) for a in received] == [
        ("feed-health:flaky", 'Feed "flaky" is failing'),
        ("feed-health:flaky", 'Feed "flaky" recovered'),
    ]
    assert "3 failed polls in a row" in received[0]["snippet"]
    assert "HTTP 500" in received[0]["snippet"]
    assert received[0]["url"] == feed
    assert len({got.headers["webhook-id"] for got in webhook.received}) == 2

    url, schema = archive_target
    with Archive.open(url, schema=schema) as archive:
        rows = archive.alerts()
        assert sorted(row.status for row in rows) == ["sent", "sent"]
        state = archive.feed_state(feed)
        assert state is not None
        assert (state.health, state.ok_streak, state.failing_since) == (None, 3, None)
        # Recording an episode twice adds nothing: the alert id is stable.
        again_added = archive.record_health_alert(
            feed_url=feed,
            feed_name="flaky",
            rule="feed-health:flaky",
            event="failing",
            anchor=NOW,
            title="t",
            message="m",
            channel="ops",
            now=NOW + 10 * H,
        )
        assert again_added is False
        # The feed's own entries are untouched by the synthetic health entries.
        own = [e for e in archive.iter_entries() if e.feed_url == feed]
        assert len(own) == 2


def test_health_channel_must_be_defined(tmp_path: Path) -> None:
    from monitor.config import load_settings  # noqa: PLC0415
    from monitor.errors import ConfigError  # noqa: PLC0415

    config = tmp_path / "monitor.toml"
    config.write_text('[health]\nchannel = "ops"\nsilent_for = "auto"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert any('undefined channel "ops"' in p for p in caught.value.problems)
    config.write_text('[health]\nsilent_for = "3d"\nfailing_for = "2h"\nfailures = 4\n')
    health = load_settings(config, environ={}).health
    assert (health.silent_for, health.failing_for, health.failures) == (
        timedelta(days=3),
        timedelta(hours=2),
        4,
    )
    config.write_text('[health]\nsilent_for = "off"\n')
    assert load_settings(config, environ={}).health.silent_for == "off"
    config.write_text('[health]\nsilent_for = "soon"\n')
    with pytest.raises(ConfigError):
        load_settings(config, environ={})
