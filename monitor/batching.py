"""Group many small archive calls into one transaction, without letting any caller go early.

A cycle over thousands of feeds writes one feed's entries and state per poll; one
transaction per feed costs more than the poll (SQLite's commit above all). `Batch.add`
queues an item and returns its result only once the batch holding it is committed, so a
poll still ends after what it learnt is saved. A batch that fails for one item's sake is
written again item by item, so one bad item never costs the others their write. The reads
that pick each poll's new entries are grouped the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batch(Generic[T, R]):
    """Group commit: calls `write(items)` in a worker thread, one write at a time.

    An item arriving while no write runs is written at once (no timer to wait for); items
    arriving during a write go together in the next one, at most `most` per write. While
    busy (the last write ended less than `linger` seconds ago), a write first waits `linger`
    for more items: polls finish one by one, so without it each would commit alone. `write`
    returns one result per item (or None when there is nothing to return). An error of a
    type in `shared` (the database is down) reaches every caller of the write at once; any
    other error makes that write's items be written again one by one.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R] | None],
        *,
        most: int = 256,
        linger: float = 0.0,
        shared: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._write = write
        self._most = most
        self._linger = linger
        self._last = float("-inf")  # when the last write ended
        self._shared = shared
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[R | None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> R | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R | None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(done)
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            if loop.time() - self._last < self._linger:  # busy: let a batch gather
                await asyncio.sleep(self._linger)
            while self._items:
                items, waiters = self._items[: self._most], self._waiters[: self._most]
                del self._items[: self._most], self._waiters[: self._most]
                await self._commit(items, waiters)
                self._last = loop.time()
        finally:
            self._writer = None

    async def _commit(self, items: list[T], waiters: list[asyncio.Future[R | None]]) -> None:
        try:
            results = await asyncio.to_thread(self._write, items)
        except Exception as exc:
            if len(items) == 1 or isinstance(exc, self._shared):
                for waiter in waiters:  # every caller of this write learns it failed
                    _settle(waiter, exc)
                return
            for item, waiter in zip(items, waiters, strict=True):  # isolate the bad item
                await self._commit([item], [waiter])
            return
        for index, waiter in enumerate(waiters):
            _settle(waiter, None if results is None else results[index])


def _settle(waiter: asyncio.Future[R | None], outcome: R | BaseException | None) -> None:
    if waiter.done():
        return
    if isinstance(outcome, BaseException):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)
