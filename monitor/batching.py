"""Group many small archive writes into one transaction, without letting any caller go early.

A cycle over thousands of feeds writes one feed's entries and state per poll; one
transaction per feed costs more than the poll (SQLite's commit above all). `WriteBatch.add`
queues an item and returns its result only once the batch holding it is committed, so a
poll still ends after what it learnt is saved. A batch that fails for one item's sake is
written again item by item, so one bad item never costs the others their write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WriteBatch(Generic[T, R]):
    """Calls `write(items)` in a worker thread for what arrived within `delay` seconds.

    `write` returns one result per item (or None when there is nothing to return). An error
    of a type in `shared` (the database is down) reaches every caller of the batch at once;
    any other error makes the batch's items be written one by one.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R] | None],
        *,
        delay: float = 0.02,
        most: int = 256,
        shared: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._write = write
        self._delay = delay
        self._most = most
        self._shared = shared
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[R | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def add(self, item: T) -> R | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R | None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(done)
        if len(self._items) >= self._most:
            self._keep(loop.create_task(self._commit(*self._take())))
        elif self._flusher is None:
            self._flusher = loop.create_task(self._later())
        return await done

    def _take(self) -> tuple[list[T], list[asyncio.Future[R | None]]]:
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        return items, waiters

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._running.add(task)  # a task nobody references may be collected mid-flight
        task.add_done_callback(self._running.discard)

    async def _later(self) -> None:
        await asyncio.sleep(self._delay)
        self._flusher = None
        items, waiters = self._take()
        if items:
            await self._commit(items, waiters)

    async def _commit(self, items: list[T], waiters: list[asyncio.Future[R | None]]) -> None:
        try:
            results = await asyncio.to_thread(self._write, items)
        except Exception as exc:
            if len(items) == 1 or isinstance(exc, self._shared):
                for waiter in waiters:  # every caller of this batch learns it failed
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
