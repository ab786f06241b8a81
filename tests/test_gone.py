"""A receiver answering 410 Gone disables its channel and keeps every alert for later.

Through the real runtime, a real archive (SQLite and PostgreSQL) and a real receiver: the
first 410 disables the channel (stored in the archive, so every daemon agrees), its alerts
stay pending without being counted as attempts, `status` shows it, and `alerts retry`
enables it again, after which every held alert goes out once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.archive import Archive
from monitor.cli import main
from monitor.config import load_settings
from monitor.models import FeedState
from monitor.runtime import open_runtime
from tests.alerts.support import Reply, WebhookSink
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed
from tests.conftest import archive_url


def test_410_disables_the_channel_and_keeps_its_alerts(
    tmp_path: Path,
    archive_target: tuple[str, str | None],
    sink: WebhookSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[archive]\nurl = "{archive_url(archive_target)}"\n[delivery]\nconcurrency = 1\n'
        '[[rules]]\nname = "iraq"\nquery = "iraq"\nchannels = ["hook"]\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{sink.url}"\n'
    )
    settings = load_settings(config)
    with Archive.open(settings.archive.url) as archive:
        items = [
            processed(entry(f"s{n}", published=NOW), match(), channels={"iraq": ("hook",)})
            for n in range(3)
        ]
        archive.record_poll(FeedState(FEED_A), items, NOW)
    sink.script.append(Reply(410))

    async def deliver(minutes: int) -> int:
        async with open_runtime(settings, workers=False) as runtime:
            report = await runtime.deliver(now=NOW + timedelta(minutes=minutes))
        return report.sent

    assert asyncio.run(deliver(0)) == 0
    assert len(sink.received) == 1  # the one that got 410; the others were held
    assert main(["--config", str(config), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert "410" in status["disabled_channels"]["hook"]
    assert status["outbox"]["pending"] == 3

    assert asyncio.run(deliver(30)) == 0  # still disabled: nothing is tried
    assert len(sink.received) == 1

    assert main(["--config", str(config), "alerts", "retry"]) == 0
    assert 'channel "hook" enabled again' in capsys.readouterr().out
    assert asyncio.run(deliver(24 * 60)) == 3
    ids = [got.headers["webhook-id"] for got in sink.received[1:]]
    assert len(set(ids)) == 3
    with Archive.open(settings.archive.url) as archive:
        assert archive.outbox_counts()["pending"] == 0
        assert {row.attempts for row in archive.alerts()} <= {1, 2}
