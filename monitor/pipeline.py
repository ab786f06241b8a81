"""The only place where the stages meet: `poll(feed)` and `process(entry)`.

fetch -> parse -> archive.unseen -> fetch page -> extract -> match -> archive.record_polls,
polls finishing together sharing one transaction. Imports every stage; nothing but `daemon`
and `cli` imports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, partial
from urllib.parse import urlsplit

from monitor.archive import Archive, PollRecord
from monitor.batching import Batch
from monitor.errors import ArchiveError, ExtractError, FeedError, FetchError, ParseError
from monitor.fetch import Fetcher
from monitor.health import HealthPolicy, judge, typical_gap
from monitor.hosts import DEFAULT_WAIT, HOST_SIGNALS, HostPenalties
from monitor.logs import fields
from monitor.metrics import Metrics
from monitor.models import (
    Article,
    Document,
    Entry,
    FeedState,
    Match,
    ParsedFeed,
    ProcessedEntry,
    entry_document,
    feed_label,
    replace_state,
)
from monitor.query import RuleSet
from monitor.schedule import (
    JITTER,
    Hints,
    auto_interval,
    hints_for,
    next_poll_at,
)
from monitor.workers import ExtractorPool

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=15)
# Up to this many rules, each parse worker keeps a compiled copy (10,000 rules: ~20 MiB);
# beyond, the poller alone matches (100,000 rules: ~190 MiB a copy).
WORKER_RULES_LIMIT = 20_000
Poll = tuple[FeedState, Sequence[ProcessedEntry], datetime]  # what record_polls takes


@dataclass(frozen=True, slots=True)
class FeedJob:
    """A configured feed, as the poller needs it."""

    url: str
    name: str
    interval: timedelta | None = DEFAULT_INTERVAL  # None: adaptive ("auto")
    full_text: bool = True
    tags: tuple[str, ...] = ()
    allow_private: bool | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did; `outcome` is ok, not-modified, unchanged, disabled, deferred or error.

    "deferred": the feed's host asked several of its feeds to wait (monitor.hosts); no request
    was made and nothing counts as an error.
    """

    feed: str
    outcome: str
    entries: int = 0
    new_entries: int = 0
    new_matches: int = 0
    new_alerts: int = 0
    error: str | None = None
    error_kind: str | None = None
    warning: str | None = None
    next_poll_at: datetime | None = None


# Every ASCII character str.split() splits on, as a space: an ASCII text (most feeds) is
# normalised on bytes, at half the cost of splitting it into words and joining them again.
_ASCII_SPACES = bytes(32 if chr(code).isspace() else code for code in range(256))


def content_fingerprint(text: str) -> str:
    """The same text reached through another URL is the same story.

    The sha256 of the text with its whitespace runs made single spaces, case-folded.
    """
    if text.isascii():
        normal = text.encode("ascii").translate(_ASCII_SPACES)
        while b"  " in normal:
            normal = normal.replace(b"  ", b" ")
        normal = normal.strip(b" ").lower()  # ASCII: lower() is casefold()
    else:
        normal = " ".join(text.split()).casefold().encode()
    return hashlib.sha256(normal).hexdigest()


# While polls stream in, a write waits this long to gather more of them: a fifth of the
# commits in bench/poll.py's cold pass, for at most 50 ms more per poll.
LINGER = 0.05


class Pipeline:
    """Polls one feed at a time; safe to run many polls concurrently on one event loop."""

    def __init__(
        self,
        *,
        archive: Archive,
        fetcher: Fetcher,
        ruleset: RuleSet,
        rule_channels: Mapping[str, Sequence[str]],
        pool: ExtractorPool | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
        health: HealthPolicy | None = None,
        hosts: HostPenalties | None = None,
    ) -> None:
        self.archive = archive
        self.fetcher = fetcher
        self.pool = pool
        self.ruleset = ruleset
        self.rule_channels = {rule: tuple(chans) for rule, chans in rule_channels.items()}
        self.metrics = metrics or Metrics()
        self.rng = rng or random.Random()  # noqa: S311 - scheduling jitter
        self.health = health or HealthPolicy()
        self.hosts = hosts or HostPenalties()
        # Polls finishing together share one transaction (SQLite's commit costs more than a
        # 20-entry poll's statements); the database being down reaches them all at once.
        self._states: Batch[FeedState, None] = Batch(
            archive.save_feed_states, shared=(ArchiveError,)
        )
        self._records: Batch[Poll, PollRecord] = Batch(
            archive.record_polls, linger=LINGER, shared=(ArchiveError,)
        )
        # the same grouping for the reads that pick a poll's new entries
        self._unseen: Batch[tuple[str, Sequence[Entry]], list[Entry]] = Batch(
            archive.unseen_many, linger=LINGER, shared=(ArchiveError,)
        )

    async def poll(
        self, feed: FeedJob, *, now: datetime, state: FeedState | None = None
    ) -> PollResult:
        """Fetch, parse, process and archive one feed. Never raises for the feed's own faults.

        `state`: the feed's stored state when the caller read it already (a cycle reads every
        feed's in one query); by default it is read here.
        """
        started = time.perf_counter()
        result = await self._poll(feed, now, state)
        seconds = time.perf_counter() - started
        self.metrics.polled(result.outcome, seconds, result.new_entries, result.error_kind)
        return result

    async def _poll(self, feed: FeedJob, now: datetime, known: FeedState | None) -> PollResult:
        if known is None:
            known = await asyncio.to_thread(self.archive.feed_state, feed.url)
        state = known or FeedState(feed.url)
        if state.disabled:
            return PollResult(feed.name, "disabled")
        paused = self.hosts.blocked_until(_host(state.current_url or feed.url), now)
        if paused is not None:  # the host asked its feeds to wait: no request, no error
            return await self._defer(feed, state, paused, now)
        try:
            fetched = await self.fetcher.fetch(
                state.current_url or feed.url,
                etag=state.etag,
                last_modified=state.last_modified,
                allow_private=feed.allow_private,
            )
            polled = replace_state(state, last_polled_at=now, last_status=fetched.status)
            if fetched.permanent_url and fetched.permanent_url != polled.current_url:
                log.warning(
                    "feed moved permanently",
                    extra=fields(feed=feed.name, url=feed.url, new_url=fetched.permanent_url),
                )
                polled = replace_state(polled, current_url=fetched.permanent_url)
            if fetched.not_modified:
                hints = hints_for(fetched.headers, None, now)
                return await self._finish_unchanged(feed, polled, now, "not-modified", hints)
            body_hash = hashlib.sha256(fetched.body).hexdigest()
            if body_hash == state.body_hash:
                hints = hints_for(fetched.headers, None, now)
                return await self._finish_unchanged(feed, polled, now, "unchanged", hints)
            polled = replace_state(
                polled,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=body_hash,
            )
            parsed, matched = await self._parse(
                feed, fetched.body, fetched.content_type, fetched.final_url, now
            )
        except FeedError as exc:
            return await self._finish_error(feed, state, exc, now)

        if parsed.warning:
            log.warning(
                "feed is malformed, using what could be read",
                extra=fields(feed=feed.name, problem=parsed.warning, entries=len(parsed.entries)),
            )
        new = await self._unseen.add((feed.url, parsed.entries))
        assert new is not None  # unseen_many answers every poll
        label = feed_label(feed.name, parsed.title, feed.url)
        if feed.full_text:  # articles to fetch: one task per entry
            processed = await asyncio.gather(
                *(self.process(e, feed, label, matched.get(e.entry_id)) for e in new)
            )
        else:  # nothing to wait for: no task per entry
            processed = [
                self._processed(e, None, feed, label, matched.get(e.entry_id)) for e in new
            ]
        # the entries' typical gap: for health's silence limit and the "auto" interval
        gap = typical_gap(e.published for e in parsed.entries) or polled.typical_gap
        interval = feed.interval or auto_interval(gap)
        final = replace_state(
            polled,
            error_count=0,
            last_error=None,
            last_error_kind=None,
            last_new_entry_at=now if new else polled.last_new_entry_at,
            next_poll_at=self._next(interval, now, 0, hints_for(fetched.headers, parsed, now)),
            typical_gap=gap,
        )
        final = await self._judge_health(feed, final, now)
        record = await self._records.add((final, processed, now))
        assert record is not None  # record_polls returns one record per poll
        result = PollResult(
            feed.name,
            "ok",
            entries=len(parsed.entries),
            new_entries=record.new_entries,
            new_matches=record.new_matches,
            new_alerts=record.new_alerts,
            warning=parsed.warning,
            next_poll_at=final.next_poll_at,
        )
        log.info(
            "feed polled",
            extra=fields(
                feed=feed.name,
                entries=result.entries,
                new=result.new_entries,
                matches=result.new_matches,
                alerts=result.new_alerts,
            ),
        )
        return result

    async def process(
        self,
        entry: Entry,
        feed: FeedJob,
        feed_label: str,
        matched: tuple[Match, ...] | None = None,
    ) -> ProcessedEntry:
        """Read the entry's article (or fall back to its summary) and match every rule once.

        `matched`: what a parse worker found for this entry already (feeds without articles).
        """
        article = await self._article(entry, feed) if feed.full_text else None
        return self._processed(entry, article, feed, feed_label, matched)

    def _processed(
        self,
        entry: Entry,
        article: Article | None,
        feed: FeedJob,
        feed_label: str,
        matched: tuple[Match, ...] | None,
    ) -> ProcessedEntry:
        text = article.text if article else ""
        if matched is not None and article is None:
            matches = matched
        else:
            doc = entry_document(
                entry, article, feed=feed_label, feed_name=feed.name, feed_tags=feed.tags
            )
            matches = self._match(doc)
        for match in matches:
            self.metrics.matches.labels(rule=match.rule).inc()
            log.info(
                "rule matched",
                extra=fields(
                    rule=match.rule,
                    feed=feed.name,
                    entry=entry.entry_id,
                    terms=",".join(match.matched),
                ),
            )
        return ProcessedEntry(
            entry=entry,
            text=text,
            article=article,
            matches=matches,
            channels={m.rule: self.rule_channels.get(m.rule, ()) for m in matches},
            content_fingerprint=content_fingerprint(f"{entry.title}\n{text or entry.summary}"),
        )

    async def _article(self, entry: Entry, feed: FeedJob) -> Article | None:
        if not entry.link:
            return None
        started = time.perf_counter()
        try:
            page = await self.fetcher.fetch_page(entry.link, allow_private=feed.allow_private)
            if self.pool is None:
                from monitor.extract import extract_article  # noqa: PLC0415 - in-process fallback

                return extract_article(page.body, url=page.final_url)
            return await self.pool.extract(page.body, page.final_url)
        except (FetchError, ExtractError) as exc:
            log.warning(
                "article unavailable, matching the feed's summary instead",
                extra=fields(
                    feed=feed.name, entry=entry.entry_id, url=entry.link, problem=str(exc)
                ),
            )
            return None
        finally:
            self.metrics.extract_seconds.observe(time.perf_counter() - started)

    async def _parse(
        self, feed: FeedJob, body: bytes, content_type: str, url: str, now: datetime
    ) -> tuple[ParsedFeed, Mapping[str, tuple[Match, ...]]]:
        """The feed's entries, and for a feed read without articles what each one matched.

        With a worker pool, every body is parsed (and such a feed matched) in a worker: the
        event loop stays free and both cores parse. Without one, parsing is inline.
        """
        kwargs = {"feed_url": url, "feed_name": feed.name, "now": now, "content_type": content_type}
        if self.pool is not None:
            if feed.full_text:
                return await self.pool.parse(body, **kwargs), {}
            return await self.pool.parse_and_match(
                body, label_url=feed.url, feed_tags=feed.tags, **kwargs
            )
        from monitor.parse import parse_feed  # noqa: PLC0415 - inline without a pool

        return parse_feed(
            body, feed_url=url, feed_name=feed.name, now=now, content_type=content_type
        ), {}

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    @ruleset.setter
    def ruleset(self, ruleset: RuleSet) -> None:
        """Rules switch here and, for the matching they do, in the parse workers.

        A rule set too big to copy into every worker (each copy costs the memory of the
        poller's own) stays here: the workers only parse, and the poller matches.
        """
        self._ruleset = ruleset
        if self.pool is not None:
            small = len(ruleset) <= WORKER_RULES_LIMIT
            self.pool.set_rules([rule.spec for rule in ruleset.rules] if small else None)

    def _match(self, doc: Document) -> tuple[Match, ...]:
        return tuple(self._ruleset.match(doc))

    async def _finish_unchanged(
        self, feed: FeedJob, state: FeedState, now: datetime, outcome: str, hints: Hints
    ) -> PollResult:
        state = replace_state(
            state,
            error_count=0,
            last_error=None,
            last_error_kind=None,
            next_poll_at=self._next(self._interval(feed, state), now, 0, hints),
        )
        state = await self._judge_health(feed, state, now)
        await self._states.add(state)  # batched with other feeds' 304s: one transaction
        log.info("feed polled", extra=fields(feed=feed.name, outcome=outcome))
        return PollResult(feed.name, outcome, next_poll_at=state.next_poll_at)

    async def _finish_error(
        self, feed: FeedJob, state: FeedState, exc: FeedError, now: datetime
    ) -> PollResult:
        kind = getattr(exc, "kind", "parse" if isinstance(exc, ParseError) else "error")
        status = exc.status if isinstance(exc, FetchError) else None
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        errors = state.error_count + 1
        gone = status == 410
        hints = Hints(retry_after=timedelta(seconds=retry_after) if retry_after else None)
        state = replace_state(
            state,
            last_polled_at=now,
            last_status=status,
            error_count=errors,
            last_error=exc.message,
            last_error_kind=kind,
            last_error_at=now,
            disabled=state.disabled or gone,
            next_poll_at=self._next(self._interval(feed, state), now, errors, hints),
        )
        if status in HOST_SIGNALS:
            wait = timedelta(seconds=retry_after) if retry_after else DEFAULT_WAIT
            self._penalise(feed, state, now + wait, now)
        state = await self._judge_health(feed, state, now)
        await asyncio.to_thread(self.archive.save_feed_state, state)
        log.error(
            "feed failed",
            extra=fields(
                feed=feed.name, url=feed.url, kind=kind, errors=errors, problem=exc.message
            ),
        )
        if gone:
            log.warning("feed is gone (410); polling stopped", extra=fields(feed=feed.name))
        return PollResult(
            feed.name, "error", error=exc.message, error_kind=kind, next_poll_at=state.next_poll_at
        )

    # --- host pauses (monitor.hosts) and feed health (monitor.health) ---------------------

    def _penalise(self, feed: FeedJob, state: FeedState, until: datetime, now: datetime) -> None:
        """A 429/503 told this feed to wait; several of its host's feeds pause the host."""
        host = _host(state.current_url or feed.url)
        before = self.hosts.blocked_until(host, now)
        paused = self.hosts.record(host, feed.url, until, now)
        if paused is not None and before is None:
            log.warning(
                "host asks several feeds to wait: all its feeds pause",
                extra=fields(host=host, until=paused.isoformat()),
            )

    async def _defer(
        self, feed: FeedJob, state: FeedState, paused: datetime, now: datetime
    ) -> PollResult:
        spread = (paused - now).total_seconds() * JITTER
        later = paused + timedelta(seconds=self.rng.uniform(0, max(spread, 1.0)))
        if state.next_poll_at is None or state.next_poll_at < later:
            await asyncio.to_thread(
                self.archive.save_feed_state, replace_state(state, next_poll_at=later)
            )
        log.info("feed deferred: its host asked to wait", extra=fields(feed=feed.name))
        return PollResult(feed.name, "deferred", next_poll_at=later)

    async def _judge_health(self, feed: FeedJob, state: FeedState, now: datetime) -> FeedState:
        """Health bookkeeping on the state; a change queues one health alert (outbox first)."""
        state, alert = judge(state, self.health, now, feed_name=feed.name)
        if alert is None:
            return state
        if alert.recovered:
            log.info("feed recovered", extra=fields(feed=feed.name, was=alert.problem))
        else:
            log.warning(
                f"feed is {alert.problem}", extra=fields(feed=feed.name, problem=alert.message)
            )
        if self.health.channel:
            await asyncio.to_thread(
                partial(
                    self.archive.record_health_alert,
                    feed_url=feed.url,
                    feed_name=feed.name,
                    rule=alert.rule,
                    event=alert.event,
                    anchor=alert.anchor,
                    title=alert.title,
                    message=alert.message,
                    channel=self.health.channel,
                    now=now,
                )
            )
        return state

    @staticmethod
    def _interval(feed: FeedJob, state: FeedState) -> timedelta:
        """The configured interval; for "auto", the one the items read last set."""
        return feed.interval or auto_interval(state.typical_gap)

    def _next(self, interval: timedelta, now: datetime, errors: int, hints: Hints) -> datetime:
        return next_poll_at(now, interval, error_count=errors, hints=hints, rng=self.rng)


@lru_cache(maxsize=65536)
def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
