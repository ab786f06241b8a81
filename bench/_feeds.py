"""Benchmark helpers: N deterministic RSS feeds on disk, served by a real nginx on loopback.

`write_feeds(root, n)` writes feeds/f00000.xml ... (20 items, 1-2 KB of text each, about
30-40 KB a feed); `Nginx(root)` writes its own nginx.conf into `root`, serves it on a free
127.0.0.1 port with ETag and Last-Modified, and stops on exit.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

ITEMS = 20
_WORDS = (  # noqa: SIM905 - a paragraph reads better than a list of 100 strings
    "government minister election parliament troops withdrawal ceasefire talks economy inflation"
    " interest rates central bank markets shares energy prices climate summit emissions flood"
    " drought harvest farmers union strike workers wages hospital health vaccine research"
    " university students court ruling judge appeal police investigation report council city"
    " transport railway airport border migrants refugees aid agency charity football derby"
    " league season coach transfer player injury festival film music award exhibition museum"
    " technology startup software security breach data privacy regulator company profit loss"
    " investors quarter growth forecast unemployment housing rent mortgage construction storm"
    " wildfire earthquake rescue volunteers community school teachers pupils budget tax reform"
).split()
_BASE_DATE = datetime(2024, 3, 1, tzinfo=UTC)


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(9, 22))
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random, low: int, high: int) -> str:
    """HTML paragraphs totalling between `low` and `high` characters of text."""
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        parts.append(f"<p>{para}</p>")
        size += len(para)
    return "".join(parts)


def feed_xml(index: int, base_url: str) -> bytes:
    """Feed `index`: RSS 2.0 with 20 items, titles, links, guids, dates, categories, HTML."""
    rng = random.Random(index)
    items = []
    for item in range(ITEMS):
        published = _BASE_DATE - timedelta(minutes=37 * item + index % 600)
        title = " ".join(rng.choices(_WORDS, k=rng.randint(5, 11))).capitalize()
        link = f"{base_url}/articles/{index}/{item}.html"
        body = _paragraphs(rng, 800, 1500)
        if rng.random() < 0.02:  # the rare story the rules are after
            body += "<p>Officials in Iraq confirmed the troop withdrawal would begin.</p>"
        tags = "".join(
            f"<category>{word}</category>" for word in rng.sample(_WORDS, rng.randint(1, 3))
        )
        items.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>{link}</link>"
            f'<guid isPermaLink="false">bench-{index}-{item}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<dc:creator>Reporter {rng.randint(1, 80)}</dc:creator>"
            f"{tags}"
            f"<description>{escape(body)}</description>"
            "</item>\n"
        )
    channel = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Bench feed {index}</title>"
        f"<link>{base_url}/</link><description>Generated feed {index}</description>"
        f"<lastBuildDate>{format_datetime(_BASE_DATE)}</lastBuildDate>\n"
    )
    return (channel + "".join(items) + "</channel></rss>\n").encode()


def feed_path(index: int) -> str:
    return f"/feeds/f{index:05d}.xml"


def write_feeds(root: Path, n: int) -> int:
    """Write feeds 0..n-1 under root/feeds (kept if already there); total bytes."""
    folder = root / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(n):
        path = root / feed_path(index).lstrip("/")
        if not path.exists():
            path.write_bytes(feed_xml(index, "http://127.0.0.1"))
        total += path.stat().st_size
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_CONF = """\
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ application/rss+xml xml; text/html html; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    etag on;
    open_file_cache max=20000 inactive=120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )


class Nginx:
    """nginx serving `root` on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, root: Path, *, workers: int = 1) -> None:
        self.root = root
        self.workers = workers
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx")
        (self.root / "tmp").mkdir(exist_ok=True)
        # Started as root, nginx's workers run as an unprivileged user: they must be able to
        # read the feeds in a temporary directory (created 0700).
        self.root.chmod(0o755)
        conf = self.root / "nginx.conf"
        conf.write_text(_CONF.format(workers=self.workers, root=self.root, port=self.port))
        self._process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.root), "-e", str(self.root / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError("nginx did not start listening within 10 s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the nginx master and its workers (from /proc)."""
        if self._process is None:
            return 0.0
        pids = [self._process.pid]
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
