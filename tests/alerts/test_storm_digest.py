"""Storm guard and digests: pure functions over claimed rows and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import render_html
from monitor.alerts.digest import digest_alert, digest_id
from monitor.alerts.storm import StormLimit, apply_storm_guard, summary_id
from monitor.config import load_settings
from monitor.cron import Cron, Every
from monitor.models import PendingAlert
from monitor.runtime import storm_limits
from tests.alerts.support import NOW, make_alert


def _batch(count: int, *, rule: str = "iraq", channel: str = "ops") -> list[PendingAlert]:
    return [
        PendingAlert(
            index,
            make_alert(id=f"{rule}-{index}", rule=rule, channel=channel, title=f"Story {index}"),
            0,
            NOW + timedelta(seconds=index),
        )
        for index in range(count)
    ]


def test_storm_guard_folds_the_excess_into_one_summary() -> None:
    batch = _batch(40) + _batch(3, rule="syria")
    decision = apply_storm_guard(
        batch,
        already_sent={("iraq", "ops"): 1},
        limits={"ops": StormLimit(max_alerts=3)},
        now=NOW,
    )
    assert sorted(p.alert.id for p in decision.send) == [
        "iraq-0",
        "iraq-1",
        "syria-0",
        "syria-1",
        "syria-2",
    ]
    assert len(decision.folded[("iraq", "ops")]) == 38
    summary = decision.summaries[("iraq", "ops")]
    assert summary.title == "and 38 more matches for rule iraq"
    assert summary.channel == "ops"
    assert summary.id == summary_id(
        "iraq", "ops", datetime(2024, 5, 1, 12, tzinfo=UTC), first="iraq-2"
    )
    assert summary.snippet.splitlines()[0] == "- Story 2"
    assert summary.snippet.splitlines()[-1] == "- ... 28 more"
    assert set(decision.summaries) == {("iraq", "ops")}


def test_channels_without_a_limit_are_not_guarded() -> None:
    decision = apply_storm_guard(_batch(50), already_sent={}, limits={}, now=NOW)
    assert len(decision.send) == 50
    assert decision.summaries == {}


def test_storm_window_is_fixed_and_shared() -> None:
    limit = StormLimit(window=timedelta(minutes=15))
    assert limit.window_start(NOW + timedelta(minutes=14)) == NOW
    assert limit.window_start(NOW + timedelta(minutes=15)) == NOW + timedelta(minutes=15)
    with pytest.raises(ValueError, match="storm limit"):
        StormLimit(max_alerts=0)


def test_digest_groups_by_rule_and_renders_safely() -> None:
    alerts = [
        make_alert(id="b", title="<script>x</script>", detected_at=NOW - timedelta(minutes=5)),
        make_alert(id="a", rule="syria", detected_at=NOW - timedelta(minutes=50)),
        make_alert(id="c", title="Later", detected_at=NOW - timedelta(minutes=1)),
    ]
    digest = digest_alert("ops", alerts, end=NOW, now=NOW)
    assert digest.id == digest_id("ops", NOW, "a")
    assert digest.title == "3 matches from 2024-05-01T11:10:00Z to 2024-05-01T12:00:00Z"
    assert digest.rule == "syria, iraq withdrawal"
    lines = digest.snippet.splitlines()
    assert lines[0] == "syria (1)"
    assert lines[2] == "iraq withdrawal (2)"
    assert lines[3].startswith("- <script>x</script>")
    assert lines[4].startswith("- Later")
    assert "&lt;script&gt;" in render_html(digest)
    assert "<script>" not in render_html(digest)
    with pytest.raises(ValueError, match="no empty digests"):
        digest_alert("ops", [], end=NOW, now=NOW)


def test_schedules_close_periods_where_users_expect() -> None:
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    weekdays_8am_paris = Cron.parse("0 8 * * 1-5", "Europe/Paris")
    assert weekdays_8am_paris.next_after(saturday_noon) == datetime(2026, 11, 30, 7, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # 11:00 in Paris: next is tomorrow 8:00
    assert weekdays_8am_paris.next_after(summer) == datetime(2026, 7, 2, 6, tzinfo=UTC)
    quarter = Cron.parse("*/15 * * * *")
    assert quarter.next_after(saturday_noon) == saturday_noon + timedelta(minutes=15)
    assert Cron.parse("0 0 1,15 * 0").next_after(saturday_noon) == datetime(
        2026, 11, 29, tzinfo=UTC
    )  # both day fields set: the 1st, the 15th or a Sunday
    hourly = Every(timedelta(hours=1))
    assert hourly.next_after(saturday_noon) == saturday_noon + timedelta(hours=1)
    assert hourly.next_after(saturday_noon + timedelta(minutes=59)) == saturday_noon + timedelta(
        hours=1
    )
    for bad in ("0 8 * *", "61 * * * *", "0 8 * * mon", "*/0 * * * *"):
        with pytest.raises(ValueError):
            Cron.parse(bad)
    with pytest.raises(ValueError, match="time zone"):
        Cron.parse("0 8 * * *", "Mars/Olympus")


def test_a_rule_overrides_its_channels_storm_limit(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        "[delivery]\nstorm_limit = 20\n"
        '[[rules]]\nname = "plain"\nquery = "a"\nchannels = ["desk", "ops"]\n'
        '[[rules]]\nname = "loud"\nquery = "b"\nchannels = ["desk"]\n'
        'storm_limit = 2\nstorm_window = "1d"\n'
        '[[rules]]\nname = "quiet"\nquery = "c"\nchannels = ["desk"]\nstorm_limit = 0\n'
        '[channels.desk]\ntype = "webhook"\nurl = "https://hooks.example.org/x"\n'
        'storm_limit = 5\nstorm_window = "10m"\n'
        '[channels.ops]\ntype = "webhook"\nurl = "https://hooks.example.org/y"\n'
    )
    lookup = storm_limits(load_settings(config))
    assert lookup("plain", "desk") == StormLimit(5, timedelta(minutes=10))
    assert lookup("plain", "ops") == StormLimit(20, timedelta(hours=1))
    assert lookup("loud", "desk") == StormLimit(2, timedelta(days=1))
    assert lookup("quiet", "desk") is None
    assert lookup("feed-health", "ops") == StormLimit(20, timedelta(hours=1))  # any rule name
    assert lookup("plain", "gone") is None  # unconfigured channels are not guarded


def test_storm_guard_takes_a_lookup_per_rule_and_channel() -> None:
    limits = {("iraq", "ops"): StormLimit(max_alerts=2)}
    decision = apply_storm_guard(
        _batch(5) + _batch(5, rule="syria"),
        already_sent={("iraq", "ops"): 1},
        limits=lambda rule, channel: limits.get((rule, channel)),
        now=NOW,
    )
    assert [p.alert.id for p in decision.send if p.alert.rule == "iraq"] == ["iraq-0"]
    assert len(decision.folded[("iraq", "ops")]) == 4
    assert set(decision.summaries) == {("iraq", "ops")}
