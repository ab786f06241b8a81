"""Settings in, live objects out: the one place config becomes archive, client, pool, channels.

Like reader's `make_reader`: `open_runtime(settings)` builds everything the pipeline and the
deliverer need and closes it all on exit. Imports config, pipeline and every stage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor import USER_AGENT
from monitor.alerts import (
    AppriseChannel,
    AppriseOptions,
    Channel,
    DeliveryReport,
    EmailChannel,
    EmailOptions,
    RetryPolicy,
    StormLimit,
    StormLimits,
    WebhookChannel,
    WebhookOptions,
    deliver_due,
)
from monitor.archive import Archive
from monitor.config import (
    AppriseChannelSettings,
    EmailChannelSettings,
    Settings,
    WebhookChannelSettings,
)
from monitor.cron import Schedule
from monitor.errors import ArchiveError
from monitor.fetch import Fetcher, FetchOptions
from monitor.health import HealthPolicy
from monitor.heap import settle_heap
from monitor.logs import fields
from monitor.metrics import Metrics
from monitor.models import Alert, FeedState
from monitor.pipeline import FeedJob, Pipeline, PollResult
from monitor.workers import ExtractorPool

POLL_CONCURRENCY = 64

log = logging.getLogger(__name__)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Runtime:
    """Everything a cycle needs, open and ready."""

    settings: Settings
    archive: Archive
    fetcher: Fetcher
    pipeline: Pipeline
    channels: dict[str, Channel]
    policies: dict[str, RetryPolicy]
    feeds: list[FeedJob]
    metrics: Metrics
    owner: str = field(default_factory=_owner)
    _delivering: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run_cycle(
        self,
        *,
        now: datetime,
        feeds: Sequence[FeedJob] | None = None,
        on_result: Callable[[PollResult], None] | None = None,
    ) -> list[PollResult]:
        """Poll the given feeds (default: all) once, concurrently; one result per feed.

        `on_result` hears of each feed as it finishes (a progress bar).
        """
        states = {s.url: s for s in await asyncio.to_thread(self.archive.feed_states)}
        chosen = list(feeds or self.feeds)
        results: list[PollResult | None] = [None] * len(chosen)
        queue = iter(enumerate(chosen))

        async def poller() -> None:
            # A few pollers taking the next feed, not one task per feed: ten thousand tasks
            # created at once stall the event loop for a quarter of a second.
            for index, feed in queue:
                try:
                    state = states.get(feed.url) or FeedState(feed.url)  # none yet: never polled
                    result = await self.pipeline.poll(feed, now=now, state=state)
                except ArchiveError as exc:  # nothing of this poll was kept: the next one redoes it
                    log.error("archive unavailable", extra=fields(feed=feed.name, problem=str(exc)))
                    result = PollResult(feed.name, "error", error=str(exc), error_kind="archive")
                results[index] = result
                if on_result is not None:
                    on_result(result)

        await asyncio.gather(*(poller() for _ in range(min(POLL_CONCURRENCY, len(chosen)))))
        return [result for result in results if result is not None]

    async def deliver(self, *, now: datetime) -> DeliveryReport:
        """Send every due alert in the outbox."""
        async with self._delivering:
            disabled = await asyncio.to_thread(self.archive.disabled_channels)
            report = await deliver_due(
                self.archive,
                self.channels,
                now=now,
                policies=self.policies,
                storm=storm_limits(self.settings),
                digests=digest_schedules(self.settings),
                disabled=disabled,
                owner=self.owner,
                concurrency={
                    name: spec.concurrency or self.settings.delivery.concurrency
                    for name, spec in self.settings.channels.items()
                },
            )
            for name in report.gone:
                reason = "the receiver answered 410 Gone"
                await asyncio.to_thread(self.archive.disable_channel, name, reason, now)
                log.error(
                    "channel disabled; its alerts are kept pending until "
                    "`news-monitor alerts retry` re-enables it",
                    extra=fields(channel=name, reason=reason),
                )
            return report

    async def prune(self, *, now: datetime) -> int:
        """Drop the text of old entries that matched nothing ([archive] keep_entries)."""
        keep = self.settings.archive.keep_entries
        if keep is None:
            return 0
        pruned = await asyncio.to_thread(self.archive.prune, now - keep)
        log.info("archive pruned", extra=fields(entries=pruned, older_than=str(keep)))
        return pruned

    async def apply(self, settings: Settings) -> None:
        """Switch to a new, already validated config without dropping work in flight.

        Rules and feeds switch at once; channels are rebuilt between two deliveries, so an
        alert being sent finishes on the channel it started on. The archive URL and the
        fetch options need a restart (logged).
        """
        if settings.archive.url != self.settings.archive.url:
            log.warning("archive url changed: restart the service to use it")
        if settings.fetch != self.settings.fetch:
            log.warning("fetch options changed: restart the service to use them")
        self.pipeline.ruleset = settings.ruleset
        settle_heap()  # the new rules live as long as the old did
        self.pipeline.rule_channels = {r.name: tuple(r.channels) for r in settings.rules}
        self.pipeline.health = health_policy(settings)
        self.feeds = feed_jobs(settings)
        async with self._delivering:
            old = self.channels
            self.channels = {
                name: build_channel(name, spec) for name, spec in settings.channels.items()
            }
            self.policies = {name: retry_policy(settings, name) for name in settings.channels}
            self.settings = settings
        for channel in old.values():
            await channel.aclose()


def feed_jobs(settings: Settings) -> list[FeedJob]:
    return [
        FeedJob(
            url=feed.url,
            name=feed.name,
            interval=feed.interval,
            full_text=feed.full_text,
            tags=tuple(feed.tags),
            allow_private=feed.allow_private,
        )
        for feed in settings.feeds
        if feed.enabled
    ]


def health_policy(settings: Settings) -> HealthPolicy:
    health = settings.health
    return HealthPolicy(
        channel=health.channel,
        failures=health.failures,
        failing_for=health.failing_for,
        silent_for=health.silent_for,
        recover_after=health.recover_after,
    )


def fetch_options(settings: Settings) -> FetchOptions:
    fetch = settings.fetch
    return FetchOptions(
        connect_timeout=fetch.connect_timeout.total_seconds(),
        read_timeout=fetch.read_timeout.total_seconds(),
        total_timeout=fetch.total_timeout.total_seconds(),
        max_feed_bytes=fetch.max_feed_bytes,
        max_page_bytes=fetch.max_page_bytes,
        max_redirects=fetch.max_redirects,
        per_host=fetch.per_host,
        global_limit=fetch.global_limit,
        allow_private=fetch.allow_private,
        user_agent=fetch.user_agent or USER_AGENT,
        transport=fetch.transport,
    )


def build_channel(
    name: str, spec: EmailChannelSettings | WebhookChannelSettings | AppriseChannelSettings
) -> Channel:
    """One channel object from its settings; secrets are unwrapped only here."""
    if isinstance(spec, EmailChannelSettings):
        return EmailChannel(
            name,
            EmailOptions(
                smtp_host=spec.smtp_host,
                smtp_port=spec.smtp_port,
                security=spec.security,
                username=spec.username,
                password=spec.password.get_secret_value() if spec.password else None,
                sender=spec.sender,
                to=tuple(spec.to),
                timeout=spec.timeout.total_seconds(),
                verify_tls=spec.verify_tls,
                subject_template=spec.subject_template,
                body_template=spec.body_template,
            ),
        )
    if isinstance(spec, WebhookChannelSettings):
        return WebhookChannel(
            name,
            WebhookOptions(
                url=spec.url,
                secret=spec.secret.get_secret_value() if spec.secret else None,
                headers=tuple((k, v.get_secret_value()) for k, v in spec.headers.items()),
                timeout=spec.timeout.total_seconds(),
                template=spec.body_template,
            ),
        )
    return AppriseChannel(
        name,
        AppriseOptions(
            urls=tuple(url.get_secret_value() for url in spec.urls),
            subject_template=spec.subject_template,
            body_template=spec.body_template,
        ),
    )


def retry_policy(settings: Settings, name: str) -> RetryPolicy:
    base = settings.delivery
    own = settings.channels[name].retry
    return RetryPolicy(
        first=(own.retry_first if own and own.retry_first else base.retry_first),
        max=(own.retry_max if own and own.retry_max else base.retry_max),
        give_up_after=(own.give_up_after if own and own.give_up_after else base.give_up_after),
    )


def digest_schedules(settings: Settings) -> Callable[[Alert], Schedule | None]:
    """Which alerts wait for a digest: a rule's own mode, else its channel's."""
    rules = {rule.name: rule for rule in settings.rules}
    cache: dict[tuple[str, str], Schedule | None] = {}

    def pick(alert: Alert) -> Schedule | None:
        key = (alert.rule, alert.channel)
        if key not in cache:
            rule = rules.get(alert.rule)
            channel = settings.channels.get(alert.channel)
            if rule is not None and rule.mode is not None:
                cache[key] = rule.schedule()
            else:
                cache[key] = channel.schedule() if channel is not None else None
        return cache[key]

    return pick


def storm_limits(settings: Settings) -> StormLimits:
    """The storm limit of a (rule, channel): the rule's keys, else the channel's, else
    [delivery]; a limit of 0 means none. Unconfigured channels are not guarded.
    """
    base = settings.delivery
    rules = {rule.name: rule for rule in settings.rules}
    cache: dict[tuple[str, str], StormLimit | None] = {}

    def lookup(rule_name: str, channel: str) -> StormLimit | None:
        key = (rule_name, channel)
        if key not in cache:
            spec = settings.channels.get(channel)
            rule = rules.get(rule_name)
            most, window = base.storm_limit, base.storm_window
            if spec is not None:
                most = most if spec.storm_limit is None else spec.storm_limit
                window = spec.storm_window or window
            if rule is not None:
                most = most if rule.storm_limit is None else rule.storm_limit
                window = rule.storm_window or window
            cache[key] = StormLimit(most, window) if spec is not None and most > 0 else None
        return cache[key]

    return lookup


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def release_dead_leases(archive: Archive, now: datetime) -> int:
    """Free what a killed process on this host had leased (feeds, alerts): due now, not later.

    Only this host's owners are judged (a pid means nothing on another machine of a cluster);
    other hosts' leases simply expire.
    """
    host = socket.gethostname()
    dead = []
    for owner in archive.lease_owners(now):
        name, _, pid = owner.rpartition(":")
        if name == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            dead.append(owner)
    released = archive.release_leases(dead)
    if released:
        log.info("released leases of dead processes", extra=fields(rows=released, owners=len(dead)))
    return released


@asynccontextmanager
async def open_runtime(settings: Settings, *, workers: bool = True) -> AsyncIterator[Runtime]:
    """Open the archive, the HTTP client, the extraction pool and the channels; close them all."""
    async with AsyncExitStack() as stack:
        archive = await asyncio.to_thread(Archive.open, settings.archive.url)
        stack.callback(archive.close)
        fetcher = await stack.enter_async_context(Fetcher(fetch_options(settings)))
        pool = None
        if workers:
            pool = ExtractorPool()
            stack.callback(pool.close)
        await asyncio.to_thread(release_dead_leases, archive, datetime.now(UTC))
        metrics = Metrics()
        metrics.watch_outbox(archive.outbox_counts)
        pipeline = Pipeline(
            archive=archive,
            fetcher=fetcher,
            ruleset=settings.ruleset,
            rule_channels={rule.name: tuple(rule.channels) for rule in settings.rules},
            pool=pool,
            metrics=metrics,
            health=health_policy(settings),
        )
        runtime = Runtime(
            settings=settings,
            archive=archive,
            fetcher=fetcher,
            pipeline=pipeline,
            channels={name: build_channel(name, spec) for name, spec in settings.channels.items()},
            policies={name: retry_policy(settings, name) for name in settings.channels},
            feeds=feed_jobs(settings),
            metrics=metrics,
        )
        if pool is not None:
            await pool.start()  # after Pipeline gave the pool its rules
        settle_heap()
        try:
            yield runtime
        finally:
            for channel in runtime.channels.values():
                await channel.aclose()
