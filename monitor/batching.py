"""Group many small archive writes into one transaction, without letting any caller go early.

A cycle over thousands of feeds answering 304 writes one small feed state each; one
transaction per feed costs more than the poll. `WriteBatch.add` queues an item and returns
only once the batch holding it is committed (or raises what the commit raised), so a poll
still ends after its state is saved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteBatch(Generic[T]):
    """Calls `write(items)` in a worker thread for what arrived within `delay` seconds."""

    def __init__(
        self, write: Callable[[Sequence[T]], None], *, delay: float = 0.02, most: int = 256
    ) -> None:
        self._write = write
        self._delay = delay
        self._most = most
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def add(self, item: T) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(done)
        if len(self._items) >= self._most:
            self._keep(loop.create_task(self._commit(*self._take())))
        elif self._flusher is None:
            self._flusher = loop.create_task(self._later())
        await done

    def _take(self) -> tuple[list[T], list[asyncio.Future[None]]]:
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

    async def _commit(self, items: list[T], waiters: list[asyncio.Future[None]]) -> None:
        try:
            await asyncio.to_thread(self._write, items)
        except Exception as exc:  # every caller of this batch learns it failed
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
