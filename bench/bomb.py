"""Peak memory of fetching a 1 GiB gzip bomb: python bench/bomb.py [GiB].

Serves the bomb from a loopback asyncio server and reports how far ru_maxrss rose while the
Fetcher refused it (the limit is 64 MiB; a plain streaming httpx client inflates it all).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import struct
import sys
import time
import zlib

from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchOptions

MiB = 2**20


def gzip_bomb(mebibytes: int) -> bytes:
    """Zeros through zlib.compressobj; after a full flush each MiB compresses identically."""
    zeros = bytes(MiB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = packer.flush() + struct.pack("<II", crc, (mebibytes * MiB) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + block * (mebibytes - 1) + trailer


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def main(gib: int) -> None:
    bomb = gzip_bomb(gib * 1024)
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + bomb)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    before = max_rss_mib()
    started = time.perf_counter()
    async with server, Fetcher(FetchOptions(allow_private=True)) as fetcher:
        try:
            await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
            outcome = "accepted (unexpected)"
        except FetchError as exc:
            outcome = f"{exc.kind}: {exc}"
    elapsed = time.perf_counter() - started
    grew = max_rss_mib() - before
    print(f"bomb: {len(bomb) / MiB:.1f} MiB gzip -> {gib} GiB of zeros")
    print(f"outcome: {outcome}")
    print(f"time: {elapsed:.2f} s, peak RSS growth: {grew:.1f} MiB (limit 64 MiB)")
    if grew >= 64:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
