"""Keep the garbage collector off what a process holds for its whole life.

A process that compiles a rule set holds millions of objects that never die in a cycle:
100,000 bench rules are 1.9 million tracked objects, one full collection of which took
1.3-1.5 s, a worker (or the event loop) stopped that long whenever one ran.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Move what is alive now (modules, the compiled rules) out of the garbage collector's way.

    Each full collection walks every tracked object: with the 130,000 that startup leaves
    (before any rule set), one took 70-100 ms, a stall of the event loop every few seconds
    of a big cycle; after `gc.freeze()` it takes 5-13 ms. Frozen objects are still freed by
    reference counting when dropped (a replaced rule set holds no cycles). A young collection
    every 10,000 allocations rather than 700: a cycle over 10,000 feeds keeps each poll's
    result and state to its end, which otherwise promoted enough to set off a 25-45 ms full
    collection every second or so (bench/poll.py, the all-304 pass).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


__all__ = ["settle_heap"]
