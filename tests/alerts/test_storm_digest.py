"""Storm guard and digests: pure functions over claimed rows and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts import render_html, render_text
from monitor.alerts.digest import DigestPeriod, digest_alert, digest_id, digest_period
from monitor.alerts.storm import StormLimit, apply_storm_guard, summary_id
from monitor.models import PendingAlert
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


def test_digest_lists_the_period_and_renders_safely() -> None:
    period = digest_period(NOW + timedelta(minutes=5), timedelta(hours=1))
    assert period == DigestPeriod(NOW - timedelta(hours=1), NOW)
    alerts = [
        make_alert(id="b", title="<script>x</script>", detected_at=NOW - timedelta(minutes=5)),
        make_alert(id="a", rule="syria", detected_at=NOW - timedelta(minutes=50)),
    ]
    digest = digest_alert("ops", alerts, period=period, now=NOW)
    assert digest is not None
    assert digest.id == digest_id("ops", period)
    assert digest.title == "2 matches from 2024-05-01T11:00:00Z to 2024-05-01T12:00:00Z"
    assert digest.rule == "syria, iraq withdrawal"
    assert digest.snippet.splitlines()[1].startswith("- [iraq withdrawal] <script>x</script>")
    assert "&lt;script&gt;" in render_html(digest)
    assert "<script>" not in render_html(digest)
    assert "- [syria] Troops begin withdrawal" in render_text(digest)
    assert digest_alert("ops", [], period=period, now=NOW) is None
