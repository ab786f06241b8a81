"""The outbox the deliverer drains: claim due rows under a lease, then mark each one's outcome.

PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.archive._read import hits_of, marks_of
from monitor.archive._records import OutboxRow
from monitor.archive._schema import entries, matches, outbox
from monitor.models import Alert, PendingAlert

STATUSES = ("pending", "sent", "failed")

_URL = sa.func.coalesce(entries.c.link, entries.c.canonical_url, "").label("url")


def _joined(*columns: Any) -> sa.Select[Any]:
    return sa.select(*columns).select_from(
        outbox.join(matches, matches.c.id == outbox.c.match).join(
            entries, entries.c.id == matches.c.entry
        )
    )


def claim_due_alerts(
    conn: sa.Connection,
    now: datetime,
    *,
    limit: int,
    owner: str,
    lease: timedelta,
    channels: Sequence[str] | None,
) -> list[PendingAlert]:
    """Lease up to `limit` due pending rows, oldest due first, and build their alerts."""
    due = (
        sa.select(outbox.c.id)
        .where(
            outbox.c.status == "pending",
            outbox.c.next_attempt_at <= now,
            sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now),
        )
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if channels is not None:
        due = due.where(outbox.c.channel.in_(list(channels)))
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids))
        .values(lease_owner=owner, lease_until=now + lease)
    )
    rows = conn.execute(
        _joined(
            outbox.c.id,
            outbox.c.key,
            outbox.c.channel,
            outbox.c.attempts,
            outbox.c.created_at,
            matches.c.rule,
            matches.c.hits,
            matches.c.snippet,
            matches.c.marks,
            matches.c.detected_at,
            entries.c.title,
            _URL,
            entries.c.feed_name,
            entries.c.published,
        )
        .where(outbox.c.id.in_(ids))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
    )
    return [_pending(row) for row in rows]


def _pending(row: sa.Row[Any]) -> PendingAlert:
    m = row._mapping
    alert = Alert(
        id=m["key"],
        rule=m["rule"],
        channel=m["channel"],
        title=m["title"],
        url=m["url"],
        feed=m["feed_name"],
        published=m["published"],
        matched=tuple(dict.fromkeys(hit.term for hit in hits_of(m["hits"]))),
        snippet=m["snippet"],
        marks=marks_of(m["marks"]),
        detected_at=m["detected_at"],
    )
    return PendingAlert(m["id"], alert, m["attempts"], m["created_at"])


def _finish(conn: sa.Connection, outbox_id: int, **values: Any) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == outbox_id)
        .values(lease_owner=None, lease_until=None, **values)
    )


def mark_sent(conn: sa.Connection, outbox_id: int, now: datetime) -> None:
    _finish(conn, outbox_id, status="sent", sent_at=now, attempts=outbox.c.attempts + 1)


def mark_retry(
    conn: sa.Connection, outbox_id: int, *, next_attempt_at: datetime, error: str
) -> None:
    _finish(
        conn,
        outbox_id,
        next_attempt_at=next_attempt_at,
        last_error=error,
        attempts=outbox.c.attempts + 1,
    )


def mark_failed(conn: sa.Connection, outbox_id: int, *, error: str, now: datetime) -> None:
    _finish(
        conn,
        outbox_id,
        status="failed",
        last_error=error,
        next_attempt_at=now,
        attempts=outbox.c.attempts + 1,
    )


def requeue_failed(conn: sa.Connection, *, ids: Sequence[int] | None, now: datetime) -> int:
    """Make failed rows pending again, due `now`, with a fresh set of attempts."""
    stmt = outbox.update().where(outbox.c.status == "failed")
    if ids is not None:
        stmt = stmt.where(outbox.c.id.in_(list(ids)))
    result = conn.execute(
        stmt.values(
            status="pending", attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None
        )
    )
    return int(result.rowcount)


def outbox_counts(conn: sa.Connection) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))
    counts.update({str(row[0]): int(row[1]) for row in rows})
    return counts


def list_alerts(conn: sa.Connection, *, status: str | None, limit: int) -> list[OutboxRow]:
    """Outbox rows newest first, optionally of one status."""
    query = _joined(
        outbox.c.id,
        outbox.c.key,
        matches.c.rule,
        outbox.c.channel,
        outbox.c.status,
        outbox.c.attempts,
        outbox.c.next_attempt_at,
        outbox.c.last_error,
        outbox.c.created_at,
        outbox.c.sent_at,
        entries.c.title,
        sa.func.coalesce(entries.c.link, entries.c.canonical_url).label("url"),
    ).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [OutboxRow(**row._mapping) for row in conn.execute(query.limit(limit))]
