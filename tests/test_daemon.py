"""The daemon as systemd runs it: a subprocess with NOTIFY_SOCKET, a config in a temp folder,
the fixture site on a local HTTP server and a real webhook receiver.

One scenario, step by step: READY, watchdog pings, alerts, a rule added to rules.d while it
runs, a broken config that is refused while the old rules keep alerting, the fix applied,
the status endpoint (healthz, metrics, Atom read back by feedparser), SIGTERM exit 0, and a
restart that re-alerts nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
import pytest

from monitor.demo.receiver import Receiver, receive_webhooks
from monitor.demo.site import serve_site, serving

SITE = Path(__file__).parent / "data" / "site"
DEADLINE = 30.0  # seconds any one expected event may take
_DUMP: list[Callable[[], str]] = [lambda: ""]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}{_DUMP[0]()}")


class Daemon:
    """`news-monitor run` in a subprocess; its notify datagrams and log lines are collected."""

    def __init__(self, config: Path, tmp: Path) -> None:
        self.notify_path = str(tmp / f"notify-{time.monotonic_ns()}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        self.sock.settimeout(0.2)
        self.notes: list[str] = []
        self.lines: list[str] = []
        env = {
            **os.environ,
            "NOTIFY_SOCKET": self.notify_path,
            "WATCHDOG_USEC": "200000",
            "HOOK_SECRET": "s3cret",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self._threads = [
            threading.Thread(target=self._read_notes, daemon=True),
            threading.Thread(target=self._read_log, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_notes(self) -> None:
        while self.proc.poll() is None or self._pending_note():
            try:
                self.notes.append(self.sock.recv(4096).decode())
            except (TimeoutError, OSError):
                continue

    def _pending_note(self) -> bool:
        return False

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def logged(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEADLINE) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=5)
        self._close()
        return code

    def _close(self) -> None:
        self.sock.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()


def _config(
    origin: str, hook: str, archive: Path, listen: str, slow: str, extra_rule: str = ""
) -> str:
    return f"""
include = ["rules.d/*.toml"]
stop_grace = "10s"
[archive]
url = "sqlite:///{archive}"
[fetch]
allow_private = true
[http]
listen = "{listen}"
[[feeds]]
name = "world"
url = "{origin}/world.rss"
interval = "1s"
[[feeds]]
name = "slow"
url = "{slow}"
interval = "1s"
full_text = false
[[rules]]
name = "iraq"
query = "Iraq"
channels = ["desk"]
{extra_rule}
[channels.desk]
type = "webhook"
url = "{hook}"
secret = "${{HOOK_SECRET}}"
"""


def _add_item(feed: Path, guid: str, title: str, page: str) -> None:
    item = (
        f"<item><title>{title}</title><link>{{{{BASE}}}}/{page}</link>"
        f'<guid isPermaLink="false">{guid}</guid>'
        "<pubDate>Sat, 11 Jan 2020 10:00:00 GMT</pubDate>"
        f"<description>{title}</description></item>\n    </channel>"
    )
    feed.write_text(feed.read_text().replace("</channel>", item, 1))


class _SlowFeed(ThreadingHTTPServer):
    """A feed whose server can be made slow, so that SIGTERM lands in the middle of a poll."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowFeedHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/slow.rss"
        self.items = ""
        self.delay = 0.0
        self.requests = 0

    def handle_error(self, request: object, client_address: object) -> None:
        """A poll cut short by the stop drops its connection: expected, not worth a traceback."""

    def set_items(self, *titles: str) -> None:
        self.items = "".join(
            f"<item><title>{t}</title><guid isPermaLink='false'>{t}</guid>"
            f"<description>{t}</description></item>"
            for t in titles
        )


class _SlowFeedHandler(BaseHTTPRequestHandler):
    server: _SlowFeed

    def do_GET(self) -> None:
        self.server.requests += 1
        time.sleep(self.server.delay)
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
            f"{self.server.items}</channel></rss>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def slow_feed() -> Iterator[_SlowFeed]:
    with serving(_SlowFeed()) as server:
        server.set_items("Calm day")
        yield server


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with receive_webhooks() as receiver:
        yield receiver


def _rules(receiver: Receiver) -> list[str]:
    return [got.json()["rule"] for got in list(receiver.received)]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_daemon_lifecycle(tmp_path: Path, webhook: Receiver, slow_feed: _SlowFeed) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    # The fixture's <ttl>15</ttl> would rightly space polls 15 minutes apart; this test edits the
    # feed while the daemon runs and needs every 1 s poll.
    world = site / "world.rss"
    world.write_text(world.read_text().replace("<ttl>15</ttl>", ""))
    (tmp_path / "rules.d").mkdir()
    config = tmp_path / "monitor.toml"
    listen = f"127.0.0.1:{_free_port()}"
    archive = tmp_path / "archive.db"
    with serve_site(site) as server:
        good = _config(server.origin, webhook.url, archive, listen, slow_feed.url)
        config.write_text(good)
        daemon = Daemon(config, tmp_path)
        _DUMP[0] = lambda: "\n" + "\n".join(daemon.lines[-40:])
        try:
            _wait("READY=1", lambda: any("READY=1" in n for n in daemon.notes))
            ready = next(n for n in daemon.notes if "READY=1" in n)
            assert "STATUS=2 feeds, 1 rules" in ready
            _wait("the start line", lambda: daemon.logged("service started") == 1)
            assert daemon.logged("loop=uvloop") == 1  # the loop monitor.loop chose
            _wait("3 watchdog pings", lambda: daemon.notes.count("WATCHDOG=1") >= 3, 5)
            _wait("the iraq alert", lambda: _rules(webhook) == ["iraq"])

            # A rule added to rules.d applies without a restart: the next new item alerts on it.
            (tmp_path / "rules.d" / "sport.toml").write_text(
                '[[rules]]\nname = "derby"\nquery = "derby OR goal"\nchannels = ["desk"]\n'
            )
            _wait("the reload", lambda: daemon.logged("config applied") >= 1)
            _add_item(site / "world.rss", "rsn-70001", "Derby replay", "football-derby.html?r=2")
            _wait("the derby alert", lambda: "derby" in _rules(webhook))

            # A broken config is refused, named with file and line; the old rules keep alerting.
            config.write_text(good + "\n[[feeds]\nurl = 'x'\n")
            _wait("the refusal", lambda: daemon.logged("config not applied") >= 1)
            refusal = next(line for line in daemon.lines if "config not applied" in line)
            assert "monitor.toml" in refusal
            assert "line" in refusal
            _add_item(site / "world.rss", "rsn-70002", "Iraq again", "climate-report.html?r=3")
            _wait("an iraq alert under the old config", lambda: _rules(webhook).count("iraq") == 2)
            assert daemon.proc.poll() is None

            # Fixed: the new config applies.
            config.write_text(
                _config(
                    server.origin,
                    webhook.url,
                    archive,
                    listen,
                    slow_feed.url,
                    '[[rules]]\nname = "all"\nquery = "troop"\nchannels = []\n',
                )
            )
            _wait("the fixed config", lambda: daemon.logged("config applied") >= 2)

            # Status endpoint.
            status, body = _get(f"http://{listen}/healthz")
            assert status == 200
            assert body == b"ok\n"
            status, body = _get(f"http://{listen}/metrics")
            assert status == 200
            assert b"news_monitor_polls_total" in body
            status, body = _get(f"http://{listen}/matches.atom")
            assert status == 200
            parsed = feedparser.parse(body)
            assert not parsed.bozo
            assert len(parsed.entries) >= 3
            status, body = _get(f"http://{listen}/rules/derby.atom")
            assert status == 200
            assert "derby" in feedparser.parse(body).entries[0].title
            assert _get(f"http://{listen}/rules/nope.atom")[0] == 404

            # SIGTERM in the middle of a poll: the poll finishes within stop_grace, exit 0.
            slow_feed.delay = 2.0
            slow_feed.set_items("Calm day", "Iraq slow news")
            asked = slow_feed.requests
            _wait("a slow poll in flight", lambda: slow_feed.requests > asked)
            started = time.monotonic()
            assert daemon.stop() == 0
            assert time.monotonic() - started < 10
            assert "STOPPING=1" in daemon.notes
        finally:
            daemon.kill()

        # Restart: nothing is re-alerted, nothing missing (the alert of the interrupted poll
        # goes out now if it had not before the stop).
        slow_feed.delay = 0.0
        again = Daemon(config, tmp_path)
        try:
            _wait("READY=1 again", lambda: any("READY=1" in n for n in again.notes))
            _wait("a poll after restart", lambda: again.logged("feed polled") >= 2)
            _wait("the interrupted poll's alert", lambda: _rules(webhook).count("iraq") == 3)
            assert again.stop() == 0
        finally:
            again.kill()
        ids = [got.headers["webhook-id"] for got in webhook.received]
        assert len(ids) == len(set(ids))
        assert sorted(_rules(webhook)) == ["derby", "iraq", "iraq", "iraq"]
