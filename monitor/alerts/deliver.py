"""The deliverer: drains due outbox rows through their channels, and never drops an alert.

Each claimed row ends this run sent, rescheduled with backoff, or failed by its channel's
retry policy. The outbox (the archive) is reached through the `Outbox` protocol only; its
calls are synchronous (SQLAlchemy), so they run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from monitor.alerts.backoff import DEFAULT_POLICY, RetryPolicy, next_attempt_at
from monitor.alerts.digest import digest_alert, is_digest
from monitor.alerts.storm import StormLimit, StormLimits, apply_storm_guard, as_lookup, is_summary
from monitor.cron import Schedule
from monitor.errors import AlertError, MonitorError
from monitor.models import Alert, PendingAlert

if TYPE_CHECKING:  # typing only: the deliverer needs no channel implementation loaded
    from monitor.alerts.channels import Channel

log = logging.getLogger(__name__)

# How long an alert whose channel is not configured (or gone) waits before it is looked at
# again. It stays pending all along: configuring the channel again delivers it.
UNROUTED_DELAY = timedelta(minutes=5)

Status = Literal["sent", "retry", "failed", "unrouted"]


class Outbox(Protocol):
    """What the deliverer needs of the archive (monitor.archive.Archive implements it)."""

    def claim_due_alerts(
        self,
        now: datetime,
        *,
        limit: int = 100,
        owner: str = "",
        lease: timedelta = ...,
        channels: Sequence[str] | None = None,
    ) -> list[PendingAlert]: ...

    def mark_sent(self, outbox_id: int, now: datetime) -> None: ...

    def mark_retry(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None: ...

    def mark_failed(self, outbox_id: int, *, error: str, now: datetime) -> None: ...

    def release(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None: ...

    def hold(self, outbox_id: int, *, until: datetime) -> None: ...

    def sent_counts(self, channel: str, since: datetime) -> dict[str, int]: ...

    def fold(self, folded: Sequence[int], summary: Alert, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row in this run."""

    outbox_id: int
    alert_id: str
    channel: str
    status: Status
    attempt: int  # 1 for the first attempt ever made for this row
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One deliverer run: an outcome per claimed row, gone channels, archive troubles."""

    outcomes: tuple[Outcome, ...] = ()
    gone: tuple[str, ...] = ()  # channels whose receiver answered 410: disable them
    archive_errors: tuple[str, ...] = field(default=())

    def _count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def sent(self) -> int:
        return self._count("sent")

    @property
    def retried(self) -> int:
        return self._count("retry")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def unrouted(self) -> int:
        """Alerts left pending because their channel is not configured (or gone)."""
        return self._count("unrouted")

    @property
    def errors(self) -> tuple[tuple[str, str, str], ...]:
        """(channel, alert id, error) for every row that was not sent."""
        return tuple(
            (o.channel, o.alert_id, o.error or "") for o in self.outcomes if o.status != "sent"
        )


class _Run:
    """The state of one `deliver_due` call, shared by its per-row tasks."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        policies: Mapping[str, RetryPolicy],
        now: datetime,
        concurrency: int | Mapping[str, int],
        rng: random.Random,
        disabled: Mapping[str, str],
    ) -> None:
        self.outbox = outbox
        self.channels = channels
        self.policies = policies
        self.now = now
        self.rng = rng
        self.disabled = disabled
        self.limits = {
            name: asyncio.Semaphore(
                max(1, concurrency if isinstance(concurrency, int) else concurrency.get(name, 4))
            )
            for name in channels
        }
        self.outcomes: list[Outcome] = []
        self.gone: list[str] = []
        self.archive_errors: list[str] = []

    async def handle(self, pending: PendingAlert) -> None:
        alert = pending.alert
        channel = self.channels.get(alert.channel)
        if alert.channel in self.disabled:
            reason = self.disabled[alert.channel]
            await self.unrouted(pending, f'channel "{alert.channel}" is disabled: {reason}')
            return
        if channel is None:
            await self.unrouted(pending, f'channel "{alert.channel}" is not configured')
            return
        async with self.limits[alert.channel]:
            if alert.channel in self.gone:
                await self.unrouted(pending, f'channel "{alert.channel}" is gone (HTTP 410)')
                return
            try:
                await channel.send(alert)
            except AlertError as exc:
                await self.failure(pending, exc)
                return
            except Exception as exc:  # a bug in one channel must not stop the others
                log.exception("channel %s crashed on alert %s", alert.channel, alert.id)
                await self.failure(pending, AlertError(f"{type(exc).__name__}: {exc}"))
                return
        await self.record(pending, "sent", None, None)

    async def unrouted(self, pending: PendingAlert, error: str) -> None:
        # Not an attempt: the alert waits for its channel, whatever its age.
        await self.record(pending, "unrouted", error, self.now + UNROUTED_DELAY)

    async def failure(self, pending: PendingAlert, exc: AlertError) -> None:
        alert = pending.alert
        policy = self.policies.get(alert.channel, DEFAULT_POLICY)
        error = str(exc)
        if exc.gone:
            if alert.channel not in self.gone:
                self.gone.append(alert.channel)
            await self.record(pending, "retry", error, self.now + policy.max)
            return
        attempt = pending.attempts + 1
        if exc.permanent and attempt >= policy.max_client_errors:
            await self.record(pending, "failed", f"{error} (after {attempt} attempts)", None)
            return
        if not exc.permanent and self.now - pending.created_at >= policy.give_up_after:
            await self.record(
                pending, "failed", f"{error} (gave up after {attempt} attempts)", None
            )
            return
        when = next_attempt_at(
            policy, pending.attempts, self.now, self.rng, retry_after=exc.retry_after
        )
        await self.record(pending, "retry", error, when)

    async def record(
        self, pending: PendingAlert, status: Status, error: str | None, when: datetime | None
    ) -> None:
        outcome = Outcome(
            outbox_id=pending.outbox_id,
            alert_id=pending.alert.id,
            channel=pending.alert.channel,
            status=status,
            attempt=pending.attempts + 1,
            error=error,
            next_attempt_at=when,
        )
        self.outcomes.append(outcome)
        row = pending.outbox_id
        try:
            if status == "sent":
                await asyncio.to_thread(self.outbox.mark_sent, row, self.now)
            elif status == "failed":
                await asyncio.to_thread(
                    self.outbox.mark_failed, row, error=error or "", now=self.now
                )
            elif status == "unrouted":  # not an attempt: the channel was never asked
                assert when is not None
                await asyncio.to_thread(
                    self.outbox.release, row, next_attempt_at=when, error=error or ""
                )
            else:
                assert when is not None
                await asyncio.to_thread(
                    self.outbox.mark_retry, row, next_attempt_at=when, error=error or ""
                )
        except MonitorError as exc:  # the row's lease expires and it is claimed again
            log.error("outbox row %s not marked %s: %s", row, status, exc)
            self.archive_errors.append(f"outbox row {row} not marked {status}: {exc}")
        if status != "sent":
            log.warning("alert %s on %s: %s (%s)", pending.alert.id, outcome.channel, status, error)


async def _gather(
    outbox: Outbox,
    claimed: list[PendingAlert],
    storm: Mapping[str, StormLimit] | StormLimits,
    digests: Callable[[Alert], Schedule | None] | None,
    now: datetime,
) -> tuple[list[PendingAlert], bool]:
    """Hold or fold digest alerts, then apply the storm guard: what is left to send now."""
    digested = False
    if digests is not None and claimed:
        claimed, digested = await _digest(outbox, claimed, digests, now)
    stormed = False
    if storm and claimed:
        claimed, stormed = await _storm_guard(outbox, claimed, storm, now)
    return claimed, digested or stormed


async def _digest(
    outbox: Outbox,
    claimed: list[PendingAlert],
    digests: Callable[[Alert], Schedule | None],
    now: datetime,
) -> tuple[list[PendingAlert], bool]:
    """Hold alerts whose digest period is open; fold closed periods into one digest each."""
    passing: list[PendingAlert] = []
    closed: dict[tuple[str, datetime], list[PendingAlert]] = defaultdict(list)
    for pending in claimed:
        alert = pending.alert
        schedule = None if is_summary(alert) or is_digest(alert) else digests(alert)
        if schedule is None:
            passing.append(pending)
            continue
        end = schedule.next_after(alert.detected_at)
        if end > now:
            await asyncio.to_thread(outbox.hold, pending.outbox_id, until=end)
        else:
            closed[(alert.channel, end)].append(pending)
    for (channel, end), rows in closed.items():
        digest = digest_alert(channel, [p.alert for p in rows], end=end, now=now)
        await asyncio.to_thread(outbox.fold, [p.outbox_id for p in rows], digest, now)
        log.info("digest %s of %d matches queued for %s", digest.id, len(rows), channel)
    return passing, bool(closed)


async def _storm_guard(
    outbox: Outbox,
    claimed: list[PendingAlert],
    storm: Mapping[str, StormLimit] | StormLimits,
    now: datetime,
) -> tuple[list[PendingAlert], bool]:
    """Fold what exceeds each (rule, channel)'s limit into summaries; what is left to send.

    Summaries and digests pass untouched: each already stands for many matches, and several
    digests closing in one run (after downtime) must not fold into a storm summary.
    """
    summaries = [p for p in claimed if is_summary(p.alert) or is_digest(p.alert)]
    regular = [p for p in claimed if not (is_summary(p.alert) or is_digest(p.alert))]
    lookup = as_lookup(storm)
    limits = {key: lookup(*key) for key in {(p.alert.rule, p.alert.channel) for p in regular}}
    counted: dict[tuple[str, datetime], dict[str, int]] = {}  # (channel, window start)
    already: dict[tuple[str, str], int] = {}
    for (rule, channel), limit in sorted(limits.items()):
        if limit is None:
            continue
        since = limit.window_start(now)
        if (channel, since) not in counted:
            counts = await asyncio.to_thread(outbox.sent_counts, channel, since)
            counted[(channel, since)] = counts
        already[(rule, channel)] = counted[(channel, since)].get(rule, 0)
    decision = apply_storm_guard(
        regular, already_sent=already, limits=lambda rule, channel: limits[(rule, channel)], now=now
    )
    for (rule, channel), rows in decision.folded.items():
        summary = decision.summaries[(rule, channel)]
        await asyncio.to_thread(outbox.fold, [p.outbox_id for p in rows], summary, now)
        log.warning(
            "storm: %d alerts of rule %s on %s folded into summary %s",
            len(rows),
            rule,
            channel,
            summary.id,
        )
    return [*summaries, *decision.send], bool(decision.folded)


async def deliver_due(
    outbox: Outbox,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    policies: Mapping[str, RetryPolicy] | None = None,
    owner: str = "",
    limit: int = 500,
    concurrency: int | Mapping[str, int] = 4,
    rng: random.Random | None = None,
    storm: Mapping[str, StormLimit] | StormLimits | None = None,
    disabled: Mapping[str, str] | None = None,
    digests: Callable[[Alert], Schedule | None] | None = None,
) -> DeliveryReport:
    """Claim the alerts due at `now`, send each, and record the outcome in the outbox.

    At most `concurrency` sends (one number, or one per channel name) run at once per
    channel. Rows for channels missing from `channels` stay pending and are reported as
    unrouted. With `storm` limits (per channel, or a lookup per (rule, channel)), alerts
    beyond a (rule, channel)'s limit in the window fold into one summary alert, which is
    queued and sent in the same run. Alerts for which `digests` names a schedule wait
    (pending, no attempt) until their period closes, then fold into one digest per channel.
    Alerts of `disabled` channels (name -> why) stay pending without an attempt. Raises only
    if the claim fails.
    """
    claimed = await asyncio.to_thread(outbox.claim_due_alerts, now, limit=limit, owner=owner)
    claimed, folded = await _gather(outbox, claimed, storm or {}, digests, now)
    if folded:  # new summaries and digests are due now: claim and send them in this run too
        more = await asyncio.to_thread(outbox.claim_due_alerts, now, limit=limit, owner=owner)
        claimed += (await _gather(outbox, more, storm or {}, digests, now))[0]
    run = _Run(
        outbox=outbox,
        channels=channels,
        policies=policies or {},
        now=now,
        concurrency=concurrency,
        rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
        disabled=disabled or {},
    )
    async with asyncio.TaskGroup() as group:
        for pending in claimed:
            group.create_task(run.handle(pending))
    order = {p.outbox_id: index for index, p in enumerate(claimed)}
    outcomes = sorted(run.outcomes, key=lambda o: order[o.outbox_id])
    return DeliveryReport(tuple(outcomes), tuple(run.gone), tuple(run.archive_errors))


__all__ = ["UNROUTED_DELAY", "DeliveryReport", "Outbox", "Outcome", "deliver_due"]
