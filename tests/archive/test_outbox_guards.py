"""Outbox guarantees across versions and features: an old archive keeps its pending alerts when
migrated, and digests closing together after downtime are never folded by the storm guard.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from monitor.alerts import Every, StormLimit, WebhookChannel, WebhookOptions, deliver_due
from monitor.alerts.channels import Channel
from monitor.archive import SCHEMA_VERSION, Archive
from monitor.models import FeedState
from tests.alerts.support import Reply, WebhookSink
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed


def _matches(archive: Archive, names: list[str], at: datetime) -> None:
    items = [
        processed(entry(name, published=at), match(), channels={"iraq": ("hook",)})
        for name in names
    ]
    archive.record_poll(FeedState(FEED_A), items, at)


def test_a_version_4_outbox_keeps_its_pending_alerts(
    archive_target: tuple[str, str | None],
) -> None:
    """Before storm summaries (v5) and disabled channels (v6): rows survive the upgrade."""
    url, schema = archive_target
    with Archive.open(url, schema=schema) as archive:
        _matches(archive, ["a", "b"], NOW)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    prefix = f'"{schema}".' if schema else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"alter table {prefix}outbox drop column payload"))
        conn.execute(sa.text(f"alter table {prefix}outbox drop column folded_into"))
        conn.execute(sa.text(f"drop table {prefix}disabled_channels"))
        conn.execute(sa.text(f"update {prefix}meta set value = '4' where key = 'schema_version'"))
    engine.dispose()

    with Archive.open(url, schema=schema) as archive:
        assert archive.schema_version == SCHEMA_VERSION
        assert archive.outbox_counts()["pending"] == 2
        assert archive.disabled_channels() == {}
        claimed = archive.claim_due_alerts(NOW, owner="a")
        assert sorted(p.alert.title for p in claimed) == ["Title a", "Title b"]
        assert {p.attempts for p in claimed} == {0}


def test_digests_closing_together_are_not_storm_folded(archive: Archive, sink: WebhookSink) -> None:
    """Three hourly periods close in one run (the daemon was down): three digests go out."""
    for hour in range(3):
        _matches(archive, [f"h{hour}"], NOW + timedelta(hours=hour, minutes=10))
    channels: dict[str, Channel] = {"hook": WebhookChannel("hook", WebhookOptions(url=sink.url))}

    async def run() -> int:
        try:
            report = await deliver_due(
                archive,
                channels,
                now=NOW + timedelta(hours=4),
                digests=lambda _: Every(timedelta(hours=1)),
                storm={"hook": StormLimit(max_alerts=1, window=timedelta(hours=1))},
            )
        finally:
            await channels["hook"].aclose()
        return report.sent

    assert asyncio.run(run()) == 3
    titles = [json.loads(got.body)["title"] for got in sink.received]
    assert all(title.startswith("1 match from ") for title in titles)
    assert len({got.headers["webhook-id"] for got in sink.received}) == 3
    assert len(archive.alerts(status="folded")) == 3  # each match, folded into its digest
    assert archive.outbox_counts()["pending"] == 0


def test_a_rule_limit_guards_that_rule_only(archive: Archive, sink: WebhookSink) -> None:
    """iraq limited to 2 per hour on the channel, syria unguarded: 2 + 1 summary + 5."""
    items = [
        processed(entry(f"{rule}{n}", published=NOW), match(rule), channels={rule: ("hook",)})
        for rule in ("iraq", "syria")
        for n in range(5)
    ]
    archive.record_poll(FeedState(FEED_A), items, NOW)
    limits = {"iraq": StormLimit(max_alerts=2, window=timedelta(hours=1))}
    channels: dict[str, Channel] = {"hook": WebhookChannel("hook", WebhookOptions(url=sink.url))}

    async def run() -> int:
        try:
            report = await deliver_due(
                archive, channels, now=NOW, storm=lambda rule, _channel: limits.get(rule)
            )
        finally:
            await channels["hook"].aclose()
        return report.sent

    assert asyncio.run(run()) == 8
    titles = [json.loads(got.body)["title"] for got in sink.received]
    assert "and 3 more matches for rule iraq" in titles
    assert sum(title.startswith("Title syria") for title in titles) == 5
    assert len(archive.alerts(status="folded")) == 3


def test_matches_waiting_for_a_digest_are_listed_as_held(
    archive: Archive, sink: WebhookSink
) -> None:
    _matches(archive, ["a", "b"], NOW)
    archive.record_poll(
        FeedState(FEED_A),
        [processed(entry("now", published=NOW), match("urgent"), channels={"urgent": ("hook",)})],
        NOW,
    )
    hourly = Every(timedelta(hours=1))

    def deliver(now: datetime) -> int:
        channels: dict[str, Channel] = {
            "hook": WebhookChannel("hook", WebhookOptions(url=sink.url))
        }

        async def run() -> int:
            try:
                report = await deliver_due(
                    archive,
                    channels,
                    now=now,
                    digests=lambda alert: hourly if alert.rule == "iraq" else None,
                )
            finally:
                await channels["hook"].aclose()
            return report.sent

        return asyncio.run(run())

    sink.script.append(Reply(503))  # the urgent alert fails once: pending, not held
    assert deliver(NOW) == 0
    held = archive.alerts(status="held")
    assert sorted(row.title for row in held) == ["Title a", "Title b"]
    assert {row.attempts for row in held} == {0}
    assert {row.last_error for row in held} == {"held for the digest of 2025-03-01T13:00+00:00"}
    assert [row.title for row in archive.alerts(status="pending")] == ["Title now"]
    assert archive.outbox_counts()["pending"] == 3  # held is a kind of pending

    assert deliver(NOW + timedelta(hours=1)) == 2  # the urgent retry and the digest
    assert archive.alerts(status="held") == []
    assert {row.status for row in archive.alerts()} == {"sent", "folded"}
