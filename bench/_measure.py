"""Benchmark helpers: CPU of a process tree, peak RSS, and the event loop's longest stall."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of another live process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proc_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (Linux: clear_refs 5); best effort."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def children_cpu() -> float:
    """CPU of reaped child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class StallMonitor:
    """A task that sleeps `tick` seconds in a loop and records the largest overshoot."""

    tick: float = 0.010
    worst: float = 0.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.tick)
            self.worst = max(self.worst, loop.time() - started - self.tick)

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        """Stop and return the worst stall in milliseconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return self.worst * 1000


@dataclass
class Clock:
    """Wall and CPU time of this process plus the given other processes, from one point on."""

    others: tuple[int, ...] = ()
    _wall: float = 0.0
    _cpu: float = 0.0

    def _now_cpu(self) -> float:
        return time.process_time() + children_cpu() + sum(proc_cpu(p) for p in self.others)

    def start(self, others: tuple[int, ...] = ()) -> None:
        self.others = others
        self._wall = time.perf_counter()
        self._cpu = self._now_cpu()

    def stop(self, others: tuple[int, ...] = ()) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since start; `others` may name processes started since."""
        cpu = time.process_time() + children_cpu()
        cpu += sum(proc_cpu(p) for p in set(self.others) | set(others))
        return time.perf_counter() - self._wall, cpu - self._cpu
