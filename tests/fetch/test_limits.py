"""Timeouts, broken connections, body limits, refused encodings and concurrency limits."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchOptions
from monitor.fetch._client import _Slots
from monitor.models import Fetched
from tests.fetch.conftest import Exchange, FetchOne, ScriptedServer, resolver_for, run

MiB = 2**20


def fetch_error(call: Callable[[], object]) -> FetchError:
    with pytest.raises(FetchError) as caught:
        call()
    return caught.value


# --- timeouts and broken connections ---------------------------------------------------------


def dribble(ex: Exchange) -> None:
    ex.head(200, {"Content-Length": "1000"})
    for _ in range(200):  # 1 byte per 50 ms: each read is quick, the whole body is not
        ex.write(b"x")
        time.sleep(0.05)


def test_slow_body_hits_the_total_timeout(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = dribble
    options = FetchOptions(allow_private=True, read_timeout=5, total_timeout=0.3)
    started = time.monotonic()
    error = fetch_error(lambda: fetch_one(server.url("/feed"), options))
    assert error.kind == "timeout"
    assert "total" in str(error)
    assert time.monotonic() - started < 2


def test_silent_server_hits_the_read_timeout(server: ScriptedServer, fetch_one: FetchOne) -> None:
    def stall(ex: Exchange) -> None:
        ex.head(200, {"Content-Length": "10"})
        server.gate.wait(5)

    server.scripts["/feed"] = stall
    options = FetchOptions(allow_private=True, read_timeout=0.3)
    error = fetch_error(lambda: fetch_one(server.url("/feed"), options))
    assert error.kind == "timeout"
    assert "read" in str(error)


def test_slow_resolver_hits_the_connect_timeout(fetch_one: FetchOne) -> None:
    async def never(host: str) -> list[str]:
        await asyncio.sleep(10)  # cancelled by the 0.3 s connect timeout
        return []

    options = FetchOptions(allow_private=True, connect_timeout=0.3)
    error = fetch_error(lambda: fetch_one("http://slow-dns.test/feed", options, never))
    assert error.kind == "timeout"


def test_reset_mid_body(server: ScriptedServer, fetch_one: FetchOne) -> None:
    def reset(ex: Exchange) -> None:
        ex.head(200, {"Content-Length": "100000"})
        ex.write(b"<rss>" + b"x" * 1000)
        ex.reset()

    server.scripts["/feed"] = reset
    error = fetch_error(lambda: fetch_one(server.url("/feed")))
    assert error.kind == "connect"
    assert "reset or closed" in str(error)


def test_connection_refused(fetch_one: FetchOne) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(lambda: fetch_one(f"http://127.0.0.1:{port}/feed"))
    assert error.kind == "connect"


def test_unknown_host(fetch_one: FetchOne) -> None:
    resolver = resolver_for({})
    error = fetch_error(lambda: fetch_one("http://nowhere.test/feed", resolver=resolver))
    assert error.kind == "dns"
    assert error.subject == "http://nowhere.test/feed"


# --- body limits -------------------------------------------------------------------------------


def test_oversized_declared_body(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"x" * (MiB + 1))
    error = fetch_error(lambda: fetch_one(server.url("/feed"), max_bytes=MiB))
    assert error.kind == "too-big"


def test_oversized_chunked_body_is_cut_while_streaming(
    server: ScriptedServer, fetch_one: FetchOne
) -> None:
    sent = []

    def endless(ex: Exchange) -> None:
        ex.head(200, {"Transfer-Encoding": "chunked"})
        chunk = b"x" * 65536
        for _ in range(1600):  # up to 100 MiB, far more than the client takes
            ex.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent.append(len(chunk))

    server.scripts["/feed"] = endless
    error = fetch_error(lambda: fetch_one(server.url("/feed"), max_bytes=MiB))
    assert error.kind == "too-big"
    assert sum(sent) < 50 * MiB


def test_body_at_the_limit_is_fine(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"x" * 1000)
    assert len(fetch_one(server.url("/feed"), max_bytes=1000).body) == 1000


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros as gzip (about 1 MB): zeros streamed through zlib.compressobj.

    After a full flush every MiB of zeros compresses to the same bytes, so one block is
    made and repeated; the trailer carries the real CRC and size of the 1 GiB.
    """
    zeros = bytes(MiB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = packer.flush() + struct.pack("<II", crc, (1024 * MiB) & 0xFFFFFFFF)
    return header + first + block * 1023 + trailer


def test_gzip_bomb_is_too_big_quickly_in_little_memory(
    server: ScriptedServer, gzip_bomb: bytes
) -> None:
    assert len(gzip_bomb) < 2 * MiB
    assert zlib.decompressobj(31).decompress(gzip_bomb[:65536], 4096) == bytes(4096)
    server.scripts["/feed"] = lambda ex: ex.reply(200, gzip_bomb, {"Content-Encoding": "gzip"})
    server.scripts["/story"] = server.scripts["/feed"]

    async def scenario() -> tuple[BaseException | Fetched, ...]:
        async with Fetcher(FetchOptions(allow_private=True)) as fetcher:
            return await asyncio.gather(
                fetcher.fetch(server.url("/feed")),
                fetcher.fetch_page(server.url("/story")),
                return_exceptions=True,
            )

    started = time.monotonic()
    tracemalloc.start()
    try:
        outcomes = run(scenario())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [getattr(o, "kind", o) for o in outcomes] == ["too-big", "too-big"]
    assert "decompressed" in str(outcomes[0])
    assert peak < 64 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "encoding", ["gzip, gzip", "gzip,deflate", "br", "zstd", "compress", "deflate, br"]
)
def test_refused_encodings(server: ScriptedServer, fetch_one: FetchOne, encoding: str) -> None:
    body = gzip.compress(gzip.compress(b"<rss/>"))
    server.scripts["/feed"] = lambda ex: ex.reply(200, body, {"Content-Encoding": encoding})
    error = fetch_error(lambda: fetch_one(server.url("/feed")))
    assert error.kind == "bad-encoding"


def test_identity_encoding_is_plain(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>", {"Content-Encoding": "identity"})
    assert fetch_one(server.url("/feed")).body == b"<rss/>"


def test_corrupt_gzip(server: ScriptedServer, fetch_one: FetchOne) -> None:
    body = b"\x1f\x8b\x08\x00" + b"\xff" * 100
    server.scripts["/feed"] = lambda ex: ex.reply(200, body, {"Content-Encoding": "gzip"})
    assert fetch_error(lambda: fetch_one(server.url("/feed"))).kind == "bad-encoding"


# --- concurrency --------------------------------------------------------------------------------


def held(server: ScriptedServer) -> Callable[[Exchange], None]:
    def script(ex: Exchange) -> None:
        server.gate.wait(5)
        ex.reply(200, b"<rss/>")

    return script


def test_per_host_limit(server: ScriptedServer) -> None:
    server.scripts["/hold"] = held(server)
    server.scripts["/quick"] = lambda ex: ex.reply(200, b"<rss/>")
    resolver = resolver_for({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})

    async def scenario() -> list[Fetched]:
        async with Fetcher(FetchOptions(allow_private=True, per_host=2), resolver=resolver) as f:
            held_fetches = [
                asyncio.create_task(f.fetch(server.url("/hold", "a.test"))) for _ in range(5)
            ]
            assert await asyncio.to_thread(
                server.wait_until, lambda: server.in_flight["a.test"] == 2
            )
            # a.test is full; another host still gets through while those five wait
            other = await f.fetch(server.url("/quick", "b.test"))
            assert server.in_flight["a.test"] == 2
            server.gate.set()
            return [other, *await asyncio.gather(*held_fetches)]

    results = run(scenario())
    assert [r.status for r in results] == [200] * 6
    assert server.max_in_flight["a.test"] == 2
    assert sum(1 for seen in server.requests if seen.host == "a.test") == 5


def test_global_limit(server: ScriptedServer) -> None:
    server.scripts["/hold"] = held(server)
    hosts = [f"h{n}.test" for n in range(5)]
    resolver = resolver_for({host: ["127.0.0.1"] for host in hosts})

    async def scenario() -> list[Fetched]:
        options = FetchOptions(allow_private=True, global_limit=3)
        async with Fetcher(options, resolver=resolver) as f:
            tasks = [asyncio.create_task(f.fetch(server.url("/hold", host))) for host in hosts]
            assert await asyncio.to_thread(server.wait_until, lambda: server.in_flight["*"] == 3)
            server.gate.set()
            return await asyncio.gather(*tasks)

    assert [r.status for r in run(scenario())] == [200] * 5
    assert server.max_in_flight["*"] == 3


def test_slots_come_back_after_exchanges_errors_and_cancelled_waiters() -> None:
    """Every way out of a slot gives it back, and a host nobody holds or waits for is dropped."""
    slots = _Slots(per_host=1, total=2)

    async def scenario() -> None:
        async with slots.hold("a"):
            waiter = asyncio.create_task(_enter(slots, "a"))  # waits for "a"
            failing = asyncio.create_task(_enter(slots, "b", fail=True))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError):
                await failing
            assert not waiter.done()
            waiter.cancel()  # cancelled while waiting for the host's slot
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert slots._hosts == {}
        # both slots of the total are free again: two hosts get in at once
        async with slots.hold("a"), slots.hold("b"):
            assert slots._total.locked()

    run(scenario())
    assert slots._hosts == {}
    assert slots._total._value == 2


async def _enter(slots: _Slots, host: str, *, fail: bool = False) -> None:
    async with slots.hold(host):
        if fail:
            raise RuntimeError("an exchange failed")
