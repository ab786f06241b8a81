"""The storm guard end to end: a real archive, the real deliverer, a real webhook receiver.

25 matches of one rule within an hour reach a channel limited to 20 per hour: 20 alerts go
out, the other 5 fold into one summary ("and 5 more matches for rule iraq"), still listed by
`alerts` as folded. A later storm in the same window gets a summary of its own; the next
window starts a fresh count. The clock is the `now` the deliverer is given.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from monitor.alerts import StormLimit, WebhookChannel, WebhookOptions, deliver_due
from monitor.alerts.channels import Channel
from monitor.archive import Archive
from monitor.models import FeedState
from tests.alerts.support import Received, Reply, WebhookSink
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed

LIMIT = {"hook": StormLimit(max_alerts=20, window=timedelta(hours=1))}


def _matches(archive: Archive, first: int, count: int, at: datetime) -> None:
    items = [
        processed(entry(f"s{n}", published=at), match(), channels={"iraq": ("hook",)})
        for n in range(first, first + count)
    ]
    archive.record_poll(FeedState(FEED_A), items, at)


def _deliver(archive: Archive, sink: WebhookSink, now: datetime) -> int:
    channels: dict[str, Channel] = {"hook": WebhookChannel("hook", WebhookOptions(url=sink.url))}

    async def run() -> int:
        try:
            # one send at a time, in claim order: the summary (claimed last) arrives last
            report = await deliver_due(archive, channels, now=now, storm=LIMIT, concurrency=1)
        finally:
            await channels["hook"].aclose()
        return report.sent

    return asyncio.run(run())


def _title(got: Received) -> str:
    title: str = json.loads(got.body)["title"]
    return title


def _titles(sink: WebhookSink) -> list[str]:
    return [_title(got) for got in sink.received]


def test_a_storm_folds_into_one_summary_per_window(archive: Archive, sink: WebhookSink) -> None:
    _matches(archive, 0, 25, NOW)
    assert _deliver(archive, sink, NOW) == 21
    titles = _titles(sink)
    assert len(titles) == 21
    # Alerts go out concurrently: the summary may land before the last single alert.
    (summary,) = [got for got in sink.received if _title(got) == "and 5 more matches for rule iraq"]
    assert json.loads(summary.body)["snippet"].count("- Title s") == 5
    assert len({got.headers["webhook-id"] for got in sink.received}) == 21
    folded = archive.alerts(status="folded")
    assert len(folded) == 5
    assert {row.folded_into for row in folded} == {summary.headers["webhook-id"]}
    assert archive.outbox_counts()["pending"] == 0

    # Same window, a second storm: nothing more goes out alone, one new summary.
    _matches(archive, 25, 3, NOW + timedelta(minutes=10))
    assert _deliver(archive, sink, NOW + timedelta(minutes=10)) == 1
    assert _titles(sink)[-1] == "and 3 more matches for rule iraq"
    assert len({got.headers["webhook-id"] for got in sink.received}) == 22

    # The next window counts afresh.
    _matches(archive, 28, 2, NOW + timedelta(hours=1))
    assert _deliver(archive, sink, NOW + timedelta(hours=1)) == 2
    assert sorted(_titles(sink)[-2:]) == ["Title s28", "Title s29"]
    assert len(archive.alerts(status="folded", limit=100)) == 8


def test_a_failed_summary_is_retried_with_its_id(archive: Archive, sink: WebhookSink) -> None:
    _matches(archive, 0, 21, NOW)
    sink.script += [Reply()] * 20 + [Reply(500)]
    assert _deliver(archive, sink, NOW) == 20
    first = sink.received[-1].headers["webhook-id"]
    assert _deliver(archive, sink, NOW + timedelta(minutes=5)) == 1
    assert sink.received[-1].headers["webhook-id"] == first
    assert _titles(sink)[-1] == "and 1 more match for rule iraq"
