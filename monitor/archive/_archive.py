"""The Archive: the one object the pipeline, deliverer and CLI hold; one transaction per call.

Thin: each method opens a read or write transaction and calls the module doing the work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from monitor.archive import _entries, _feeds, _health, _leases, _outbox, _read, _search, _status
from monitor.archive._engine import make_engine, read, translate_errors, write
from monitor.archive._records import Heartbeat, MatchRow, OutboxRow, PollRecord, StoredEntry
from monitor.archive._schema import migrate, schema_version
from monitor.models import Alert, Entry, FeedState, PendingAlert, ProcessedEntry


class Archive:
    """Feed state, seen entries, matches and the alert outbox in SQLite or PostgreSQL."""

    entry_page_size = 500  # rows per read transaction in iter_entries

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str, *, schema: str | None = None) -> Archive:
        """Connect to `url` and create or migrate the schema (`schema`: PostgreSQL schema)."""
        with translate_errors():
            engine = make_engine(url, schema=schema)
        try:
            migrate(engine, schema=schema)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with read(self._engine) as conn:
            return schema_version(conn)

    # feeds

    def feed_state(self, url: str) -> FeedState | None:
        with read(self._engine) as conn:
            return _feeds.feed_state(conn, url)

    def feed_states(self) -> list[FeedState]:
        with read(self._engine) as conn:
            return _feeds.feed_states(conn)

    def save_feed_state(self, state: FeedState) -> None:
        with write(self._engine) as conn:
            _feeds.save_feed_state(conn, state)

    def save_feed_states(self, states: Sequence[FeedState]) -> None:
        """Many feeds' states in one transaction (the 304 path of a big cycle)."""
        with write(self._engine) as conn:
            _feeds.save_feed_states(conn, states)

    def record_health_alert(
        self,
        *,
        feed_url: str,
        feed_name: str,
        rule: str,
        event: str,
        anchor: datetime,
        title: str,
        message: str,
        channel: str,
        now: datetime,
    ) -> bool:
        """Queue a feed health alert in the outbox; idempotent per (feed, event, anchor)."""
        with write(self._engine) as conn:
            return _health.record_health_alert(
                conn,
                feed_url=feed_url,
                feed_name=feed_name,
                rule=rule,
                event=event,
                anchor=anchor,
                title=title,
                message=message,
                channel=channel,
                now=now,
            )

    def claim_due_feeds(
        self, urls: Sequence[str], now: datetime, *, owner: str, lease: timedelta
    ) -> list[str]:
        with write(self._engine) as conn:
            return _feeds.claim_due_feeds(conn, urls, now, owner=owner, lease=lease)

    def release_feed(self, url: str, owner: str) -> None:
        with write(self._engine) as conn:
            _feeds.release_feed(conn, url, owner)

    # entries

    def unseen(self, feed_url: str, entries: Sequence[Entry]) -> list[Entry]:
        """Entries new to this feed, or whose fingerprint changed."""
        return self.unseen_many([(feed_url, entries)])[0]

    def unseen_many(self, polls: Sequence[tuple[str, Sequence[Entry]]]) -> list[list[Entry]]:
        """`unseen` for several feeds' polls in one read transaction."""
        with read(self._engine) as conn:
            return [_entries.unseen(conn, feed_url, entries) for feed_url, entries in polls]

    def record_poll(
        self, state: FeedState, processed: Sequence[ProcessedEntry], now: datetime
    ) -> PollRecord:
        """Entries, matches, outbox rows and the feed's state, in one transaction."""
        return self.record_polls([(state, processed, now)])[0]

    def record_polls(
        self, polls: Sequence[tuple[FeedState, Sequence[ProcessedEntry], datetime]]
    ) -> list[PollRecord]:
        """Several feeds' polls in one transaction, each feed's state with its own entries."""
        with write(self._engine) as conn:
            return [_entries.record_poll(conn, *poll) for poll in polls]

    def prune(self, older_than: datetime) -> int:
        """Clear the text of entries older than `older_than` that matched nothing."""
        with write(self._engine) as conn:
            return _entries.prune(conn, older_than)

    # daemons

    def heartbeat(self, owner: str, now: datetime, info: dict[str, Any]) -> None:
        with write(self._engine) as conn:
            _status.heartbeat(conn, owner, now, info)

    def forget_daemon(self, owner: str) -> None:
        with write(self._engine) as conn:
            _status.forget(conn, owner)

    def heartbeats(self) -> list[Heartbeat]:
        with read(self._engine) as conn:
            return _status.heartbeats(conn)

    def disable_channel(self, name: str, reason: str, now: datetime) -> None:
        """Hold a channel's alerts (a receiver said 410 Gone) until it is enabled again."""
        with write(self._engine) as conn:
            _status.disable_channel(conn, name, reason, now)

    def enable_channels(self, names: list[str] | None = None) -> list[str]:
        """Enable the named (default: all) disabled channels; returns those enabled."""
        with write(self._engine) as conn:
            return _status.enable_channels(conn, names)

    def disabled_channels(self) -> dict[str, str]:
        with read(self._engine) as conn:
            return _status.disabled(conn)

    # outbox

    def claim_due_alerts(
        self,
        now: datetime,
        *,
        limit: int = 100,
        owner: str = "",
        lease: timedelta = timedelta(minutes=5),
        channels: Sequence[str] | None = None,
    ) -> list[PendingAlert]:
        with write(self._engine) as conn:
            return _outbox.claim_due_alerts(
                conn, now, limit=limit, owner=owner, lease=lease, channels=channels
            )

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        with write(self._engine) as conn:
            _outbox.mark_sent(conn, outbox_id, now)

    def mark_retry(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None:
        with write(self._engine) as conn:
            _outbox.mark_retry(conn, outbox_id, next_attempt_at=next_attempt_at, error=error)

    def release(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None:
        """Give a claimed alert back without counting an attempt (its channel is missing)."""
        with write(self._engine) as conn:
            _outbox.release(conn, outbox_id, next_attempt_at=next_attempt_at, error=error)

    def hold(self, outbox_id: int, *, until: datetime) -> None:
        """Keep a claimed alert pending, without an attempt, until its digest closes."""
        with write(self._engine) as conn:
            _outbox.hold(conn, outbox_id, until=until)

    def mark_failed(self, outbox_id: int, *, error: str, now: datetime) -> None:
        with write(self._engine) as conn:
            _outbox.mark_failed(conn, outbox_id, error=error, now=now)

    def sent_counts(self, channel: str, since: datetime) -> dict[str, int]:
        """Alerts sent one by one on `channel` since `since`, per rule (the storm guard)."""
        with read(self._engine) as conn:
            return _outbox.sent_counts(conn, channel, since)

    def fold(self, folded: Sequence[int], summary: Alert, now: datetime) -> None:
        """Queue a storm `summary` and mark the `folded` rows as delivered by it."""
        with write(self._engine) as conn:
            _outbox.fold(conn, folded, summary, now)

    def requeue_failed(self, *, ids: Sequence[int] | None = None, now: datetime) -> int:
        with write(self._engine) as conn:
            return _outbox.requeue_failed(conn, ids=ids, now=now)

    def lease_owners(self, now: datetime) -> list[str]:
        """Owners of live leases on feeds and alerts."""
        with read(self._engine) as conn:
            return _leases.lease_owners(conn, now)

    def release_leases(self, owners: Sequence[str]) -> int:
        """Free every feed and alert `owners` hold; returns how many rows were freed."""
        with write(self._engine) as conn:
            return _leases.release_leases(conn, owners)

    def outbox_counts(self) -> dict[str, int]:
        with read(self._engine) as conn:
            return _outbox.outbox_counts(conn)

    def alerts(self, *, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        with read(self._engine) as conn:
            return _outbox.list_alerts(conn, status=status, limit=limit)

    # reading

    def matches(
        self,
        *,
        since: datetime | None = None,
        rule: str | None = None,
        limit: int | None = None,
    ) -> list[MatchRow]:
        with read(self._engine) as conn:
            return _read.read_matches(conn, since=since, rule=rule, limit=limit)

    def entry_counts(self) -> dict[str, int]:
        with read(self._engine) as conn:
            return _read.entry_counts(conn)

    def iter_entries(self, *, since: datetime | None = None) -> Iterator[StoredEntry]:
        """Every archived entry (published since `since`), oldest first, read in pages."""
        after = 0
        while True:
            with read(self._engine) as conn:
                page = _read.entry_page(conn, after=after, since=since, size=self.entry_page_size)
            yield from page
            if len(page) < self.entry_page_size:
                return
            after = page[-1].id

    def search_candidates(
        self,
        prefixes: Sequence[str | Sequence[str]],
        *,
        since: datetime | None = None,
        rule: str | None = None,
        page_size: int = 200,
    ) -> Iterator[tuple[MatchRow, StoredEntry]]:
        """Matches (newest first) with their entries, whose entry has a word per prefix.

        An item of `prefixes` may be several prefixes of which one word suffices (an OR).
        """
        after: tuple[datetime, int] | None = None
        while True:
            with read(self._engine) as conn:
                page = _search.candidate_page(
                    conn, prefixes, since=since, rule=rule, after=after, size=page_size
                )
            yield from page
            if len(page) < page_size:
                return
            after = (page[-1][0].detected_at, page[-1][0].id)

    def search(
        self,
        text_query: str,
        *,
        since: datetime | None = None,
        rule: str | None = None,
        limit: int = 50,
    ) -> list[MatchRow]:
        """Matches whose entry holds every word and "phrase" of `text_query`, newest first."""
        with read(self._engine) as conn:
            return _search.search(conn, text_query, since=since, rule=rule, limit=limit)
