"""Batch: many callers, one write; nobody returns before their item is written."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from monitor.batching import Batch


def test_callers_share_one_write_and_wait_for_it() -> None:
    writes: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        writes.append(list(items))

    async def scenario() -> list[int]:
        batch = Batch(write)
        finished: list[int] = []

        async def one(n: int) -> None:
            await batch.add(n)
            assert any(n in done for done in writes)  # written before add returned
            finished.append(n)

        await asyncio.gather(*(one(n) for n in range(50)))
        return finished

    assert sorted(asyncio.run(scenario())) == list(range(50))
    assert writes == [list(range(50))]


def test_a_full_batch_is_written_at_once_and_failures_reach_every_caller() -> None:
    sizes: list[int] = []

    def write(items: Sequence[int]) -> None:
        sizes.append(len(items))
        if 13 in items:
            raise OSError("disk full")

    async def scenario() -> list[BaseException | None]:
        # OSError is shared: every caller of the write hears it
        batch = Batch(write, most=10, shared=(OSError,))
        return await asyncio.gather(*(batch.add(n) for n in range(20)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert sizes == [10, 10]
    assert all(r is None for r in results[:10])
    assert all(isinstance(r, OSError) for r in results[10:])


def test_nothing_waits_on_an_empty_batch() -> None:
    async def scenario() -> None:
        batch: Batch[int, None] = Batch(lambda items: None)
        await asyncio.wait_for(batch.add(1), timeout=5)

    asyncio.run(scenario())


def test_each_caller_gets_its_own_result_and_one_bad_item_fails_alone() -> None:
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise ValueError("item 13 breaks a constraint")
        return [n * n for n in items]

    async def scenario() -> list[int | BaseException | None]:
        batch = Batch(write, most=20)
        return await asyncio.gather(*(batch.add(n) for n in range(20)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[13], ValueError)
    assert [r for n, r in enumerate(results) if n != 13] == [n * n for n in range(20) if n != 13]
    # the whole batch once, then each item on its own
    assert calls[0] == list(range(20))
    assert calls[1:] == [[n] for n in range(20)]


def test_items_arriving_during_a_write_go_together_in_the_next() -> None:
    writes: list[list[int]] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> None:
        writes.append(list(items))
        if len(writes) == 1:
            gate.wait(timeout=10)  # the first write is slow: others pile up behind it

    async def scenario() -> None:
        batch: Batch[int, None] = Batch(write)
        first = asyncio.create_task(batch.add(0))
        await asyncio.sleep(0.05)  # written at once: no timer
        assert writes == [[0]]
        later = [asyncio.create_task(batch.add(n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, *later), timeout=10)

    asyncio.run(scenario())
    assert writes == [[0], [1, 2, 3, 4, 5]]


def test_a_busy_batch_lingers_to_gather_items_an_idle_one_writes_at_once() -> None:
    writes: list[list[int]] = []

    async def scenario() -> None:
        batch = Batch(writes.append, linger=0.5)
        await batch.add(1)  # idle: written at once, alone
        assert writes == [[1]]

        async def late(n: int) -> None:
            await asyncio.sleep(0.1)
            await batch.add(n)

        # busy (a write just ended): the next write waits for what arrives meanwhile
        await asyncio.gather(batch.add(2), late(3))
        assert writes == [[1], [2, 3]]
        await asyncio.sleep(0.6)  # idle again
        loop = asyncio.get_running_loop()
        started = loop.time()
        await batch.add(4)
        assert loop.time() - started < 0.5
        assert writes == [[1], [2, 3], [4]]

    asyncio.run(scenario())
