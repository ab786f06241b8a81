"""Two daemons sharing one PostgreSQL archive poll each feed once and alert once.

Both start at the same moment and both want the feed at once; the feed lease in the archive
lets one poll while the other learns when the next poll is due. The feed's server records when
it is asked: polls never come closer than the interval allows, and the one matching item
alerts once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import pytest

from monitor.demo.receiver import Receiver, receive_webhooks
from monitor.demo.site import serving
from tests.conftest import archive_url

INTERVAL = 2.0
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Shared</title>'
    b"<item><title>Iraq talks resume</title><guid>shared-1</guid>"
    b"<description>Iraq talks resume</description></item></channel></rss>"
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class _CountingFeed(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/shared.rss"
        self.asked: list[float] = []


class _Handler(BaseHTTPRequestHandler):
    server: _CountingFeed

    def do_GET(self) -> None:
        self.server.asked.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def feed() -> Iterator[_CountingFeed]:
    with serving(_CountingFeed()) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with receive_webhooks() as receiver:
        yield receiver


def test_two_daemons_share_the_work(
    tmp_path: Path, pg_schema: tuple[str, str], feed: _CountingFeed, webhook: Receiver
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'watch = false\n[archive]\nurl = "{archive_url(pg_schema)}"\n'
        "[fetch]\nallow_private = true\n"
        f'[[feeds]]\nname = "shared"\nurl = "{feed.url}"\ninterval = "{INTERVAL:.0f}s"\n'
        "full_text = false\n"
        '[[rules]]\nname = "iraq"\nquery = "Iraq"\nchannels = ["hook"]\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{webhook.url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run"]
    daemons = [subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(feed.asked) < 3 or not webhook.received):
            time.sleep(0.05)
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        codes = [daemon.wait(timeout=30) for daemon in daemons]
    assert codes == [0, 0]
    assert len(feed.asked) >= 3
    gaps = [b - a for a, b in pairwise(feed.asked)]
    # Unshared, both daemons poll at start-up (a gap near 0) and then on their own clocks.
    assert min(gaps) >= INTERVAL * 0.5
    assert [got.json()["rule"] for got in webhook.received] == ["iraq"]
