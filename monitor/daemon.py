"""The service: APScheduler jobs per feed, a delivery job, signals and systemd notify.

Imports pipeline, alerts (through pipeline's Runtime) and config. APScheduler lives here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Settings
from monitor.logs import fields
from monitor.notify import Notifier
from monitor.pipeline import DEFAULT_INTERVAL, FeedJob
from monitor.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)

DELIVERY_EVERY = timedelta(seconds=10)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Service:
    """Runs until SIGTERM/SIGINT; each feed polls on its own interval with jitter."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        grace: float = 30.0,
    ) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.grace = grace
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[object]] = set()
        self._runtime: Runtime | None = None
        self._scheduler: AsyncIOScheduler | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        async with open_runtime(self.settings) as runtime:
            self._runtime = runtime
            scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
            self._scheduler = scheduler
            await self._schedule_feeds(runtime)
            scheduler.add_job(
                self._track(self._deliver),
                IntervalTrigger(seconds=DELIVERY_EVERY.total_seconds(), timezone=UTC),
                id="deliver",
                next_run_time=self.clock(),
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
            scheduler.start()
            watchdog = asyncio.create_task(self._watchdog())
            self.notifier.ready(self._status(runtime))
            log.info(
                "service started",
                extra=fields(feeds=len(runtime.feeds), rules=len(runtime.pipeline.ruleset)),
            )
            await self._stop.wait()
            self.notifier.stopping()
            log.info("stopping", extra=fields(inflight=len(self._inflight)))
            scheduler.shutdown(wait=False)
            if self._inflight:
                _done, pending = await asyncio.wait(self._inflight, timeout=self.grace)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("service stopped")
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def _schedule_feeds(self, runtime: Runtime) -> None:
        assert self._scheduler is not None
        states = {s.url: s for s in await asyncio.to_thread(runtime.archive.feed_states)}
        now = self.clock()
        for feed in runtime.feeds:
            state = states.get(feed.url)
            first = now
            if state and state.next_poll_at and state.next_poll_at > now:
                first = state.next_poll_at  # restart: keep the schedule the archive remembers
            interval = (feed.interval or DEFAULT_INTERVAL).total_seconds()
            self._scheduler.add_job(
                self._track(self._poll),
                IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 60), timezone=UTC),
                args=[feed],
                id=f"feed:{feed.url}",
                name=feed.name,
                next_run_time=first,
                # After a stall or suspend a due feed is polled once, never skipped.
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )

    def _track(self, job: Callable[..., object]) -> Callable[..., object]:
        """Wrap a job so shutdown can wait for it; the one catch-all that logs a traceback."""

        async def tracked(*args: object) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._inflight.add(task)
            try:
                await job(*args)  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job failed", extra=fields(job=getattr(job, "__name__", "?")))
            finally:
                self._inflight.discard(task)

        return tracked

    async def _poll(self, feed: FeedJob) -> None:
        if self._stop.is_set() or self._runtime is None:
            return
        result = await self._runtime.pipeline.poll(feed, now=self.clock())
        job = self._scheduler.get_job(f"feed:{feed.url}") if self._scheduler else None
        if job is not None and result.next_poll_at is not None:
            if job.next_run_time is None or result.next_poll_at > job.next_run_time:
                job.modify(next_run_time=result.next_poll_at)  # backoff or a server's hint
        if result.new_alerts:
            await self._deliver()

    async def _deliver(self) -> None:
        if self._runtime is not None:
            await self._runtime.deliver(now=self.clock())

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself: a stalled loop stops the pings."""
        interval = self.notifier.watchdog_interval or 10.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def _status(self, runtime: Runtime) -> str:
        return f"{len(runtime.feeds)} feeds, {len(runtime.pipeline.ruleset)} rules"


def monotonic_usec() -> int:
    return int(time.monotonic() * 1_000_000)
