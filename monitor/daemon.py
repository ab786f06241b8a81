"""The service: APScheduler jobs per feed, delivery, live reload, signals, systemd notify.

APScheduler lives here only. A reload validates the whole new config first and keeps the
old one running when it is invalid. Imports runtime, pipeline, config and the HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import __version__
from monitor.config import Settings, load_settings
from monitor.errors import ConfigError
from monitor.httpd import StatusServer
from monitor.logs import fields
from monitor.notify import Notifier
from monitor.pipeline import DEFAULT_INTERVAL, FeedJob
from monitor.runtime import Runtime, feed_jobs, open_runtime

log = logging.getLogger(__name__)

DELIVERY_EVERY = timedelta(seconds=10)
PRUNE_EVERY = timedelta(hours=6)
HEARTBEAT_EVERY = timedelta(seconds=15)  # `news-monitor status` calls a daemon up within 60 s
FEED_LEASE = timedelta(minutes=10)  # longer than any poll (timeouts, extraction deadlines)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Service:
    """Runs until SIGTERM/SIGINT; each feed polls on its own interval with jitter."""

    def __init__(
        self,
        config: Path,
        *,
        environ: Mapping[str, str] | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        grace: float | None = None,
    ) -> None:
        self.config = config
        self.environ = environ
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.grace = grace  # None: the config's stop_grace
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._runtime: Runtime | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._reload_lock = asyncio.Lock()

    def _load(self) -> Settings:
        return load_settings(self.config, environ=self.environ)

    async def run(self) -> int:
        """Serve until stopped; a config that does not load raises ConfigError (exit 78)."""
        settings = self._load()
        if self.grace is None:
            self.grace = settings.stop_grace.total_seconds()
        loop = asyncio.get_running_loop()
        async with open_runtime(settings) as runtime:
            self._runtime = runtime
            scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
            self._scheduler = scheduler
            await self._schedule_feeds(runtime.feeds, first_run=True)
            self._add_job(self._deliver, DELIVERY_EVERY, "deliver")
            self._add_job(self._heartbeat, HEARTBEAT_EVERY, "heartbeat")
            if settings.archive.keep_entries is not None:
                self._add_job(self._prune, PRUNE_EVERY, "prune")
            scheduler.start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            helpers = [asyncio.create_task(self._watchdog())]
            if settings.watch:
                helpers.append(asyncio.create_task(self._watch_files()))
            async with StatusServer.maybe(settings.http.listen, runtime) as server:
                if server is not None:
                    log.info("status endpoint listening", extra=fields(url=server.url))
                self.notifier.ready(await self._status())
                log.info(
                    "service started",
                    extra=fields(
                        feeds=len(runtime.feeds),
                        rules=len(runtime.pipeline.ruleset),
                        loop=type(loop).__module__.split(".")[0],  # uvloop or asyncio
                    ),
                )
                await self._stop.wait()
                await self._shutdown(scheduler, helpers)
                await asyncio.to_thread(runtime.archive.forget_daemon, runtime.owner)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("service stopped")
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def _shutdown(
        self, scheduler: AsyncIOScheduler, helpers: list[asyncio.Task[Any]]
    ) -> None:
        self.notifier.stopping()
        log.info("stopping", extra=fields(inflight=len(self._inflight)))
        scheduler.shutdown(wait=False)
        if self._inflight:
            _done, pending = await asyncio.wait(self._inflight, timeout=self.grace)
            for task in pending:  # past the grace period: roll back cleanly
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- scheduling -------------------------------------------------------------------------

    def _add_job(self, job: Callable[[], Awaitable[None]], every: timedelta, job_id: str) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            self._track(job),
            IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
            id=job_id,
            next_run_time=self.clock(),
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    async def _schedule_feeds(self, feeds: list[FeedJob], *, first_run: bool) -> None:
        """Make the scheduler's feed jobs match `feeds`: add, reschedule or remove."""
        assert self._scheduler is not None
        assert self._runtime is not None
        states = {s.url: s for s in await asyncio.to_thread(self._runtime.archive.feed_states)}
        now = self.clock()
        wanted = {f"feed:{feed.url}": feed for feed in feeds}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
                log.info("feed unscheduled", extra=fields(feed=job.name))
        for job_id, feed in wanted.items():
            interval = (feed.interval or DEFAULT_INTERVAL).total_seconds()
            trigger = IntervalTrigger(
                seconds=interval, jitter=min(interval * 0.1, 60), timezone=UTC
            )
            existing = self._scheduler.get_job(job_id)
            if existing is not None:
                old: FeedJob = existing.args[0]
                if old != feed:
                    existing.modify(args=[feed], name=feed.name)
                if old.interval != feed.interval:
                    existing.reschedule(trigger)
                    log.info("feed rescheduled", extra=fields(feed=feed.name, every=interval))
                continue
            state = states.get(feed.url)
            first = now
            if state and state.next_poll_at and state.next_poll_at > now:
                first = state.next_poll_at  # restart: keep the schedule the archive remembers
            self._scheduler.add_job(
                self._track(self._poll),
                trigger,
                args=[feed],
                id=job_id,
                name=feed.name,
                next_run_time=first,
                # After a stall or suspend a due feed is polled once, never skipped.
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
            if not first_run:
                log.info("feed scheduled", extra=fields(feed=feed.name, every=interval))

    def _track(self, job: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Wrap a job so shutdown can wait for it; the one catch-all that logs a traceback."""

        async def tracked(*args: Any) -> None:
            if self._stop.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            self._inflight.add(task)
            try:
                await job(*args)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job failed", extra=fields(job=getattr(job, "__name__", "?")))
            finally:
                self._inflight.discard(task)

        return tracked

    # -- jobs -------------------------------------------------------------------------------

    async def _poll(self, feed: FeedJob) -> None:
        runtime = self._runtime
        assert runtime is not None
        archive = runtime.archive
        now = self.clock()
        job = self._scheduler.get_job(f"feed:{feed.url}") if self._scheduler else None
        # Daemons sharing one archive poll each feed once: take its lease, or learn when the
        # daemon that just polled it wants the next poll. A little early is still due (jitter).
        every = (feed.interval or DEFAULT_INTERVAL).total_seconds()
        early = now + timedelta(seconds=min(every * 0.2, 60))
        claimed = await asyncio.to_thread(
            archive.claim_due_feeds, [feed.url], early, owner=runtime.owner, lease=FEED_LEASE
        )
        if not claimed:
            state = await asyncio.to_thread(archive.feed_state, feed.url)
            if job is not None and state and state.next_poll_at and state.next_poll_at > now:
                job.modify(next_run_time=state.next_poll_at)
            return
        try:
            result = await runtime.pipeline.poll(feed, now=now)
        finally:
            await asyncio.to_thread(archive.release_feed, feed.url, runtime.owner)
        later = result.next_poll_at
        if (
            job is not None
            and later is not None
            and (job.next_run_time is None or later > job.next_run_time)
        ):
            job.modify(next_run_time=later)  # backoff or a server's hint
        if result.new_alerts:
            await self._deliver()

    async def _deliver(self) -> None:
        if self._runtime is not None:
            await self._runtime.deliver(now=self.clock())

    async def _prune(self) -> None:
        if self._runtime is not None:
            await self._runtime.prune(now=self.clock())

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself: a stalled loop stops the pings."""
        interval = self.notifier.watchdog_interval or 10.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _heartbeat(self) -> None:
        runtime = self._runtime
        if runtime is not None:
            info = {
                "feeds": len(runtime.feeds),
                "rules": len(runtime.pipeline.ruleset),
                "version": __version__,
                "config": str(self.config),
            }
            await asyncio.to_thread(runtime.archive.heartbeat, runtime.owner, self.clock(), info)

    async def _status(self) -> str:
        assert self._runtime is not None
        counts = await asyncio.to_thread(self._runtime.archive.outbox_counts)
        return (
            f"{len(self._runtime.feeds)} feeds, {len(self._runtime.pipeline.ruleset)} rules, "
            f"outbox {counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed"
        )

    # -- reload -----------------------------------------------------------------------------

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _watch_files(self) -> None:
        import watchfiles  # noqa: PLC0415 - only when watching is on

        assert self._runtime is not None
        settings = self._runtime.settings
        paths = {p.parent for p in settings.source_files} | set(settings.watch_dirs)
        watched = {str(p) for p in paths if p.exists()}
        async for changes in watchfiles.awatch(*watched, stop_event=self._stop, debounce=300):
            if any(path.endswith(".toml") for _change, path in changes):
                await self.reload("file change")

    async def reload(self, reason: str) -> bool:
        """Apply the config on disk if it is valid as a whole; else keep the running one."""
        async with self._reload_lock:
            assert self._runtime is not None
            self.notifier.reloading(int(time.monotonic() * 1_000_000))
            log.info("reloading config", extra=fields(reason=reason, config=self.config))
            try:
                settings = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                for problem in exc.problems:
                    log.error("config not applied", extra=fields(problem=problem))
                log.error("still running the previous config", extra=fields(reason=reason))
                self.notifier.ready(await self._status())
                return False
            await self._runtime.apply(settings)
            await self._schedule_feeds(feed_jobs(settings), first_run=False)
            self.notifier.ready(await self._status())
            log.info(
                "config applied",
                extra=fields(feeds=len(self._runtime.feeds), rules=len(settings.ruleset)),
            )
            return True
