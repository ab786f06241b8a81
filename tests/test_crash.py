"""Crash safety: `kill -9` a delivering daemon at random moments; no alert is ever lost.

A feed of 200 matching items produces 200 alerts for a webhook receiver that answers slowly.
Ten times, the daemon is started and killed with SIGKILL at a random moment; then it runs to
the end. Every alert id must have arrived; a duplicate may only repeat an id already seen
(a resend after "accepted but not yet marked sent"), never carry a new one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.demo.site import serve_site, serving

ALERTS = 200
TRIALS = 10
pytestmark = pytest.mark.slow


class _SlowReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: _SlowReceiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.01)  # a slow receiver widens the window between "accepted" and "marked"
        with self.server.lock:
            self.server.ids.append(self.headers["webhook-id"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[_SlowReceiver]:
    with serving(_SlowReceiver()) as server:
        yield server


def _feed(n: int) -> str:
    items = "".join(
        f"<item><title>Storm report {i}</title><link>{{{{BASE}}}}/story-{i}.html</link>"
        f'<guid isPermaLink="false">storm-{i}</guid>'
        f"<description>storm number {i}</description></item>"
        for i in range(n)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Storms</title>'
    return f"{head}{items}</channel></rss>"


def test_kill_9_loses_no_alert(tmp_path: Path, receiver: _SlowReceiver) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "storms.rss").write_text(_feed(ALERTS))
    rng = random.Random(20261128)
    with serve_site(site) as server:
        config = tmp_path / "monitor.toml"
        config.write_text(
            f'watch = false\n[archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
            "[fetch]\nallow_private = true\n[delivery]\nconcurrency = 8\nstorm_limit = 0\n"
            f'[[feeds]]\nname = "storms"\nurl = "{server.origin}/storms.rss"\n'
            'interval = "1h"\nfull_text = false\n'
            '[[rules]]\nname = "storm"\nquery = "storm"\nchannels = ["hook"]\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{receiver.url}"\n'
        )
        command = [sys.executable, "-m", "monitor", "--config", str(config), "run"]
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        kills = 0
        for _trial in range(TRIALS):
            before = len(receiver.ids)
            proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
            # Kill once delivery is under way (or at a random moment of start-up).
            deadline = time.monotonic() + 20
            target = before + rng.randint(1, 25)
            while time.monotonic() < deadline and len(receiver.ids) < target:
                if proc.poll() is not None:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
            if len(set(receiver.ids)) == ALERTS:
                break
        # The last run goes to the end.
        proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(set(receiver.ids)) < ALERTS:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

    counts = Counter(receiver.ids)
    duplicates = sum(c - 1 for c in counts.values())
    print(
        f"\ncrash test: {kills} kill -9 in {TRIALS} trials; {len(counts)} of {ALERTS} alert ids "
        f"delivered; {len(receiver.ids)} requests, {duplicates} resends (same id)"
    )
    assert len(counts) == ALERTS  # none lost
    assert all(len(alert_id) >= 16 for alert_id in counts)  # every resend carried its id
