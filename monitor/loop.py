"""The event loop the service runs on: uvloop where it is installed, asyncio's otherwise.

uvloop's loop and transports are C: an all-304 pass over 10,000 feeds ran about 10% more
feeds a second on it (bench/poll.py; 5% fewer instructions under callgrind), where the loop
and its sockets are a quarter of the poller's CPU. `NEWS_MONITOR_LOOP=asyncio` keeps the
standard loop, to rule uvloop out when chasing a problem.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
LOOP_ENV = "NEWS_MONITOR_LOOP"  # "uvloop" (the default) or "asyncio"


def chosen() -> str:
    """The loop `run` would use: "uvloop" or "asyncio"."""
    if os.environ.get(LOOP_ENV, "uvloop").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401, PLC0415 - optional: no wheels for every platform
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    if chosen() == "uvloop":
        import uvloop  # noqa: PLC0415

        result: T = uvloop.run(main)
        return result
    return asyncio.run(main)


__all__ = ["LOOP_ENV", "chosen", "run"]
