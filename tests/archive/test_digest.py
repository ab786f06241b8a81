"""Digests end to end: a real archive, the real deliverer, a real webhook receiver.

Matches wait for their period to close (pending, no attempt made), then go out as one digest
per channel grouped by rule, with the retries and stable id of any alert; a period without
matches sends nothing. The clock is the `now` the deliverer is given.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import Every, WebhookChannel, WebhookOptions, deliver_due
from monitor.alerts.channels import Channel
from monitor.archive import Archive
from monitor.config import load_settings
from monitor.cron import Cron
from monitor.errors import ConfigError
from monitor.models import FeedState
from monitor.runtime import digest_schedules
from tests.alerts.support import Reply, WebhookSink, make_alert
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed

HOURLY = Every(timedelta(hours=1))


def _matches(archive: Archive, names: list[tuple[str, str]], at: datetime) -> None:
    items = [
        processed(entry(name, published=at), match(rule), channels={rule: ("hook",)})
        for name, rule in names
    ]
    archive.record_poll(FeedState(FEED_A), items, at)


def _deliver(archive: Archive, sink: WebhookSink, now: datetime) -> int:
    channels: dict[str, Channel] = {"hook": WebhookChannel("hook", WebhookOptions(url=sink.url))}

    async def run() -> int:
        try:
            report = await deliver_due(archive, channels, now=now, digests=lambda _: HOURLY)
        finally:
            await channels["hook"].aclose()
        return report.sent

    return asyncio.run(run())


def test_one_digest_per_period_grouped_by_rule(archive: Archive, sink: WebhookSink) -> None:
    _matches(archive, [("a1", "iraq"), ("a2", "iraq"), ("s1", "syria")], NOW)
    assert _deliver(archive, sink, NOW) == 0
    assert _deliver(archive, sink, NOW + timedelta(minutes=30)) == 0
    assert sink.received == []
    assert archive.outbox_counts()["pending"] == 3
    assert {row.attempts for row in archive.alerts()} == {0}  # holding is not an attempt

    sink.script.append(Reply(503))
    assert _deliver(archive, sink, NOW + timedelta(hours=1)) == 0  # the digest failed once
    assert _deliver(archive, sink, NOW + timedelta(hours=1, minutes=5)) == 1
    first, second = sink.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    digest = json.loads(second.body)
    assert digest["title"].startswith("3 matches from ")
    lines = digest["snippet"].splitlines()
    assert sorted(line for line in lines if not line.startswith("- ")) == ["iraq (2)", "syria (1)"]
    iraq = lines.index("iraq (2)")
    assert all(line.startswith("- Title a") for line in lines[iraq + 1 : iraq + 3])
    assert len(archive.alerts(status="folded")) == 3

    assert _deliver(archive, sink, NOW + timedelta(hours=2)) == 0  # no empty digest
    _matches(archive, [("a3", "iraq")], NOW + timedelta(hours=2, minutes=10))
    assert _deliver(archive, sink, NOW + timedelta(hours=3)) == 1
    assert json.loads(sink.received[-1].body)["title"].startswith("1 match from ")
    assert len({got.headers["webhook-id"] for got in sink.received}) == 2


def test_config_picks_the_rule_mode_then_the_channel(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        '[[rules]]\nname = "daily"\nquery = "a"\nchannels = ["desk", "ops"]\n'
        'mode = "digest"\nevery = "0 8 * * 1-5"\ntimezone = "Europe/Paris"\n'
        '[[rules]]\nname = "urgent"\nquery = "b"\nchannels = ["desk"]\nmode = "instant"\n'
        '[[rules]]\nname = "plain"\nquery = "c"\nchannels = ["desk", "ops"]\n'
        '[channels.desk]\ntype = "webhook"\nurl = "https://hooks.example.org/x"\n'
        'mode = "digest"\nevery = "1h"\n'
        '[channels.ops]\ntype = "webhook"\nurl = "https://hooks.example.org/y"\n'
    )
    pick = digest_schedules(load_settings(config))
    assert pick(make_alert(rule="daily", channel="ops")) == Cron.parse(
        "0 8 * * 1-5", "Europe/Paris"
    )
    assert pick(make_alert(rule="urgent", channel="desk")) is None
    assert pick(make_alert(rule="plain", channel="desk")) == HOURLY
    assert pick(make_alert(rule="plain", channel="ops")) is None
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[channels.desk]\ntype = "webhook"\nurl = "https://hooks.example.org/x"\n'
        'mode = "digest"\nevery = "0 25 * * *"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    assert "hour" in " ".join(caught.value.problems)
