"""Alerts delivered per second to a local webhook receiver, beside a bare HTTP baseline.

For each archive (SQLite; PostgreSQL when reachable) and per-channel concurrency, N alerts are
queued in the outbox and drained by the real deliverer (claim, sign, POST, mark sent), timed
end to end. The baseline in the same run is the same number of signed POSTs from one httpx
client at the same concurrency, with no archive: what the outbox's guarantees cost.

    .venv/bin/python bench/deliver.py --alerts 2000 --concurrency 1,4,16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from monitor.alerts import WebhookChannel, WebhookOptions, deliver_due
from monitor.alerts.channels import Channel
from monitor.archive import Archive
from monitor.demo.site import serving
from monitor.models import Entry, FeedState, Hit, Match, ProcessedEntry

PG_URL = os.environ.get("NEWS_MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _fill(archive: Archive, count: int) -> None:
    items = []
    for n in range(count):
        entry = Entry(
            feed_url="https://bench.example/feed",
            feed_name="bench",
            entry_id=f"e{n}",
            title=f"Storm report {n}",
            link=f"https://bench.example/{n}",
            canonical_url=f"https://bench.example/{n}",
            summary="storm",
            published=NOW,
            tags=(),
            fingerprint=f"fp{n}",
        )
        hit = Match(rule="storm", hits=(Hit("storm", "text"),), snippet="a storm", marks=())
        items.append(
            ProcessedEntry(
                entry=entry,
                text="a storm",
                article=None,
                matches=(hit,),
                channels={"storm": ("hook",)},
                content_fingerprint=f"c{n}",
            )
        )
    archive.record_poll(FeedState("https://bench.example/feed"), items, NOW)


async def _drain(archive: Archive, url: str, concurrency: int) -> int:
    channels: dict[str, Channel] = {
        "hook": WebhookChannel("hook", WebhookOptions(url=url, secret="k"))
    }
    sent = 0
    try:
        while True:
            report = await deliver_due(archive, channels, now=NOW, concurrency=concurrency)
            if not report.outcomes:
                return sent
            sent += report.sent
    finally:
        await channels["hook"].aclose()


async def _baseline(url: str, count: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient() as client:

        async def one(n: int) -> None:
            async with gate:
                response = await client.post(url, json={"id": n, "title": f"Storm report {n}"})
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(count)))


def _archives(tmp: Path) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = [("sqlite", f"sqlite:///{tmp / 'bench.db'}", None)]
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sa.text('create schema if not exists "nm_bench_deliver"'))
        engine.dispose()
        url = f"{PG_URL}?options={quote('-csearch_path=nm_bench_deliver')}"
        found.append(("postgres", url, "nm_bench_deliver"))
    except sa.exc.OperationalError as exc:
        print(f"(PostgreSQL skipped: {exc.orig})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    with (
        serving(_Receiver(("127.0.0.1", 0), _Handler)) as receiver,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        print(f"{args.alerts} alerts per run to a local receiver")
        for level in levels:
            started = time.perf_counter()
            asyncio.run(_baseline(url, args.alerts, level))
            base = args.alerts / (time.perf_counter() - started)
            print(f"concurrency={level:>3}  baseline (bare httpx POSTs): {base:8.0f} alerts/s")
            for name, archive_url, schema in _archives(Path(tmp)):
                archive = Archive.open(archive_url)
                try:
                    _fill(archive, args.alerts)
                    started = time.perf_counter()
                    sent = asyncio.run(_drain(archive, url, level))
                    rate = sent / (time.perf_counter() - started)
                finally:
                    archive.close()
                    _drop(name, archive_url, schema, Path(tmp))
                print(
                    f"                 deliverer on {name:<8}: {rate:8.0f} alerts/s ({sent} sent)"
                )


def _drop(name: str, url: str, schema: str | None, tmp: Path) -> None:
    if schema is None:
        (tmp / "bench.db").unlink(missing_ok=True)
        return
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
    engine.dispose()


if __name__ == "__main__":
    main()
