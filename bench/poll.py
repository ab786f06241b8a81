"""Polling throughput against a real nginx: python bench/poll.py [--sizes 2000,10000] [--quick].

Serves N generated feeds (20 items, about 36 KB each) from nginx on 127.0.0.1 with ETag and
Last-Modified, then measures in one run, each contender in its own subprocess (so peak RSS is
its own):
  client options  the fetch layer alone, a GET pass then an all-304 pass, per transport/pool
  reader          lemon24/reader `update_feeds(workers=W)`: cold, then all 304
  ours            `open_runtime(settings).run_cycle()` with full_text off: cold, then all 304
Prints feeds/s, CPU seconds per 1,000 feeds (this process, its threads and its workers),
peak RSS and the event loop's longest stall, and the ratios against reader.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _feeds import Nginx, feed_path, nginx_binary, write_feeds
from _measure import Clock, StallMonitor, proc_hwm_mb, reset_peak_rss

HERE = Path(__file__).resolve().parent
NOW = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)
Row = dict[str, Any]

# --- client options: the fetch layer alone --------------------------------------------------

CLIENT_OPTIONS: dict[str, str] = {
    "client+httpcore shipped per_host=2": "the Fetcher before: AsyncClient over httpcore, defaults",
    "client+httpcore c=10": "AsyncClient over httpcore, 10 connections",
    "client+httpcore c=64": "AsyncClient over httpcore, 64 connections",
    "client+httpcore 4 clients x 16": "4 AsyncClients over httpcore, 16 connections each",
    "client+httpx-aiohttp c=64": "AsyncClient over httpx-aiohttp 0.2 (no address guard)",
    "client+guarded aiohttp c=64": "AsyncClient over our guarded aiohttp transport",
    "direct httpcore c=64": "Fetcher straight to the httpcore transport (no AsyncClient)",
    "direct guarded aiohttp c=10": "Fetcher straight to our guarded aiohttp transport",
    "direct guarded aiohttp c=64": "the new default: Fetcher straight to guarded aiohttp",
    "aiohttp alone c=64": "a bare aiohttp session, no httpx, no guard: the floor",
}

Getter = Callable[[int, str, str | None, str | None], Awaitable[tuple[int, str | None, str | None]]]


def _via_client(inner: Any) -> Any:
    """A transport that sends through an httpx.AsyncClient: the per-request cost of a client."""
    import httpx  # noqa: PLC0415 - only the children need the client libraries

    class ViaClient(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.client = httpx.AsyncClient(transport=inner, trust_env=False)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await self.client.send(request, stream=True)

        async def aclose(self) -> None:
            await self.client.aclose()

    return ViaClient()


async def _fetchers(option: str) -> tuple[Getter, Callable[[], Awaitable[None]], int]:
    """A get(worker, url, etag, last_modified) for the option, its closer and its concurrency."""
    from monitor.fetch import Fetcher, FetchOptions  # noqa: PLC0415

    if option == "aiohttp alone c=64":
        import aiohttp  # noqa: PLC0415

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), auto_decompress=False
        )

        async def bare(_: int, url: str, etag: str | None, lm: str | None) -> tuple[Any, ...]:
            headers = {"If-None-Match": etag} if etag else {}
            if lm:
                headers["If-Modified-Since"] = lm
            async with session.get(url, headers=headers) as response:
                await response.read()
                status, headers_in = response.status, response.headers
                return status, headers_in.get("etag"), headers_in.get("last-modified")

        return bare, session.close, 64

    via_client, _, rest = option.partition("+")
    if not rest:
        via_client, rest = "", option.removeprefix("direct ")
    words = rest.split()
    transport = {"httpcore": "httpcore", "guarded": "aiohttp", "httpx-aiohttp": "httpcore"}[
        words[0]
    ]
    count, conc, per_host = 1, 64, None
    if "shipped" in rest:
        per_host = 2
    elif "clients" in rest:
        count, conc = 4, 64
    else:
        conc = int(rest.rsplit("=", 1)[1])
    each = conc // count
    fetchers = [
        Fetcher(
            FetchOptions(
                allow_private=True,
                transport=transport,
                global_limit=each,
                per_host=per_host or each,
            )
        )
        for _ in range(count)
    ]
    for fetcher in fetchers:
        if words[0] == "httpx-aiohttp":
            import aiohttp  # noqa: PLC0415
            from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415

            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=each))
            inner: Any = AiohttpTransport(client=session)
            fetcher._transports = {False: inner, True: inner}  # bench only: swap the transport
        if via_client:
            inner = fetcher._transports[True]
            wrapped = _via_client(inner)
            fetcher._transports = {False: wrapped, True: wrapped}

    async def get(worker: int, url: str, etag: str | None, lm: str | None) -> tuple[Any, ...]:
        fetched = await fetchers[worker % count].fetch(url, etag=etag, last_modified=lm)
        return fetched.status, fetched.etag, fetched.last_modified

    async def close() -> None:
        for one in fetchers:
            await one.aclose()

    return get, close, conc


async def _drive(
    get: Getter, urls: Sequence[str], conc: int, validators: dict[str, tuple[Any, Any]]
) -> Counter[int]:
    """`conc` workers take the next URL until none is left; records validators and statuses."""
    statuses: Counter[int] = Counter()
    queue = iter(urls)

    async def worker(index: int) -> None:
        for url in queue:
            etag, lm = validators.get(url, (None, None))
            status, etag, lm = await get(index, url, etag, lm)
            validators[url] = (etag, lm)
            statuses[status] += 1

    await asyncio.gather(*(worker(i) for i in range(conc)))
    return statuses


async def child_client(option: str, urls: list[str]) -> list[Row]:
    get, close, conc = await _fetchers(option)
    validators: dict[str, tuple[Any, Any]] = {}
    stall = StallMonitor()
    rows = []
    try:
        for name in ("GET", "304"):
            reset_peak_rss()
            clock = Clock()
            stall.start()
            clock.start()
            statuses = await _drive(get, urls, conc, validators)
            wall, cpu = clock.stop()
            stalled = await stall.stop()
            rows.append(_row(option, len(urls), name, wall, cpu, proc_hwm_mb(), stalled, statuses))
    finally:
        await close()
    return rows


# --- the peer: lemon24/reader ------------------------------------------------------------------


def child_reader(urls: list[str], workers: int, db: Path) -> list[Row]:
    from reader import make_reader  # noqa: PLC0415

    reader = make_reader(str(db))
    for url in urls:
        reader.add_feed(url)
    rows = []
    for name in ("cold", "304"):
        reset_peak_rss()
        clock = Clock()
        clock.start()
        reader.update_feeds(workers=workers, scheduled=False)  # every feed, due or not
        wall, cpu = clock.stop()
        broken = reader.get_feed_counts(broken=True).total
        entries = reader.get_entry_counts().total
        note = f"{entries} entries, {broken} broken feeds, workers={workers}"
        rows.append(_row("reader 3.26", len(urls), name, wall, cpu, proc_hwm_mb(), None, note=note))
    reader.close()
    return rows


# --- ours ----------------------------------------------------------------------------------------

_RULES = """
[[rules]]
name = "iraq"
query = 'Iraq AND (troop* OR withdrawal)'
channels = []

[[rules]]
name = "rates"
query = '"interest rates" AND "central bank" -football'
channels = []

[[rules]]
name = "fires"
query = 'NEAR/2(wildfire, rescue)'
channels = []
"""


def write_config(folder: Path, urls: Sequence[str], conc: int) -> Path:
    """A monitor.toml: the feeds (full_text off, private allowed), three rules, no channels."""
    lines = [
        "watch = false",
        "[archive]",
        f'url = "sqlite:///{folder / "archive.db"}"',
        "[fetch]",
        "allow_private = true",
        f"global_limit = {conc}",
        # All N feeds live on one loopback host; real feeds spread over many hosts.
        f"per_host = {conc}",
    ]
    for index, url in enumerate(urls):
        lines += [
            "[[feeds]]",
            f'url = "{url}"',
            f'name = "feed-{index}"',
            "full_text = false",
        ]
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n" + _RULES)
    return path


async def child_ours(urls: list[str], conc: int, folder: Path, label: str) -> list[Row]:
    from monitor import runtime  # noqa: PLC0415
    from monitor.config import load_settings  # noqa: PLC0415

    runtime.POLL_CONCURRENCY = conc
    settings = load_settings(write_config(folder, urls, conc))
    rows = []
    async with runtime.open_runtime(settings, workers=label == "ours") as rt:
        pool = rt.pipeline.pool
        stall = StallMonitor()
        for name, now in (("cold", NOW), ("304", NOW + timedelta(hours=1))):
            reset_peak_rss()
            clock = Clock()
            before = pool.pids if pool else ()
            stall.start()
            clock.start(before)
            own = time.process_time()
            results = await rt.run_cycle(now=now)
            own = time.process_time() - own
            pids = pool.pids if pool else ()
            wall, cpu = clock.stop(pids)
            rss = proc_hwm_mb() + sum(proc_hwm_mb(p) for p in pids)
            outcomes = Counter(r.outcome for r in results)
            note = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            if pids:  # where the CPU went: the poller process, and the parse workers
                per_feed = 1000 / len(urls)
                note += f"; {len(pids)} pool workers; CPU ms/feed: poller {own * per_feed:.1f},"
                note += f" workers {(cpu - own) * per_feed:.1f}"
            rows.append(_row(label, len(urls), name, wall, cpu, rss, await stall.stop(), note=note))
    return rows


# --- the parent: serve, run each contender in a subprocess, print --------------------------------


def _row(
    contender: str,
    n: int,
    name: str,
    wall: float,
    cpu: float,
    rss: float,
    stall: float | None,
    statuses: Counter[int] | None = None,
    note: str = "",
) -> Row:
    if statuses is not None:
        note = " ".join(f"{code}x{count}" for code, count in sorted(statuses.items()))
    return {
        "contender": contender,
        "n": n,
        "pass": name,
        "feeds_s": n / wall,
        "cpu_per_1000": cpu / n * 1000,
        "rss_mb": rss,
        "stall_ms": stall,
        "wall": wall,
        "note": note,
    }


def run_child(args: list[str], timeout: float) -> list[Row]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"  ! {args[0]} timed out after {timeout:.0f} s", flush=True)
        return []
    if done.returncode != 0:
        print(f"  ! {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}", flush=True)
        return []
    rows: list[Row] = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        _print_row(row)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


_HEAD = (
    f"{'contender':34} {'N':>6} {'pass':>4} {'feeds/s':>8} {'CPU s/1k':>8} {'RSS MB':>7}"
    f" {'stall ms':>8}"
)


def _print_row(row: Row) -> None:
    print(
        f"{row['contender']:34} {row['n']:>6} {row['pass']:>4} {row['feeds_s']:>8.0f}"
        f" {row['cpu_per_1000']:>8.2f} {row['rss_mb']:>7.0f} {_fmt(row['stall_ms'], '>8.1f')}"
        f"  {row['note']}",
        flush=True,
    )


def print_table(rows: list[Row]) -> None:
    print("\n== summary (ratios against reader 3.26 in the same run) ==")
    print(_HEAD + f" {'x reader':>8}")
    peers = {(r["n"], r["pass"]): r for r in rows if r["contender"] == "reader 3.26"}
    for row in rows:
        if row["contender"].startswith("client:"):
            continue
        peer = peers.get((row["n"], row["pass"]))
        ratio = row["feeds_s"] / peer["feeds_s"] if peer else None
        print(
            f"{row['contender']:34} {row['n']:>6} {row['pass']:>4} {row['feeds_s']:>8.0f}"
            f" {row['cpu_per_1000']:>8.2f} {row['rss_mb']:>7.0f}"
            f" {_fmt(row['stall_ms'], '>8.1f')} {_fmt(ratio, '>8.2f')}"
        )


def bench_size(n: int, root: Path, args: argparse.Namespace, rows: list[Row]) -> None:
    started = time.perf_counter()
    size = write_feeds(root, n)
    print(
        f"\n== N = {n}: {size / n / 1024:.1f} KB a feed, written in"
        f" {time.perf_counter() - started:.1f} s ==",
        flush=True,
    )
    with Nginx(root, workers=args.nginx_workers) as nginx:
        url_file = root / f"urls-{n}.txt"
        url_file.write_text("\n".join(nginx.origin + feed_path(i) for i in range(n)))
        common = ["--urls", str(url_file)]
        timeout = max(120.0, n * 0.1)
        print(_HEAD, flush=True)
        if n == min(args.sizes) and not args.no_client_options:
            for option in CLIENT_OPTIONS:
                for row in run_child(["client", option, *common], timeout):
                    row["contender"] = f"client: {row['contender']}"
                    rows.append(row)
        with tempfile.TemporaryDirectory(prefix="reader-") as db:
            rows += run_child(
                ["reader", str(args.reader_workers), *common, "--dir", db], timeout * 2
            )
        for label in ("ours", "ours (no worker pool)"):
            if label != "ours" and not args.inline:
                continue
            with tempfile.TemporaryDirectory(prefix="ours-") as folder:
                child = ["ours", label, *common, "--dir", folder]
                rows += run_child(child, timeout * 2)
        print(f"  nginx used {nginx.cpu_seconds():.1f} CPU s for this size", flush=True)


def child_main(args: argparse.Namespace) -> None:
    urls = Path(args.urls).read_text().split()
    kind, option = args.child
    if kind == "client":
        rows = asyncio.run(child_client(option, urls))
    elif kind == "reader":
        rows = child_reader(urls, int(option), Path(args.dir) / "reader.sqlite")
    elif kind == "ours":
        from monitor import loop  # noqa: PLC0415 - the loop the service runs on

        rows = loop.run(child_ours(urls, args.concurrency, Path(args.dir), option))
    else:
        raise SystemExit(f"unknown child {kind}")
    print(json.dumps(rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000", help="comma-separated feed counts")
    parser.add_argument("--quick", action="store_true", help="N = 500 only")
    parser.add_argument("--reader-workers", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=64, help="our polls in flight")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument(
        "--inline", action="store_true", help="also run ours without its worker pool"
    )
    parser.add_argument("--no-client-options", action="store_true")
    parser.add_argument("--root", help="keep the generated feeds here (default: a temp dir)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    if nginx_binary() is None:
        print(
            "nginx is needed: sudo apt-get install -y nginx (Debian/Ubuntu), then run again",
            file=sys.stderr,
        )
        return 2
    args.sizes = [500] if args.quick else [int(s) for s in args.sizes.split(",")]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; CPU s/1k = CPU seconds per"
        " 1,000 feeds (process + threads + pool workers, nginx excluded)"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as temp:
        root = Path(args.root) if args.root else Path(temp)
        root.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            bench_size(n, root, args, rows)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
