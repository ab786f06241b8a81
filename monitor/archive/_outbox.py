"""The outbox the deliverer drains: claim due rows under a lease, then mark each one's outcome.

PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert
from monitor.archive._read import hits_of, marks_of
from monitor.archive._records import OutboxRow
from monitor.archive._schema import entries, matches, outbox
from monitor.models import Alert, PendingAlert

STATUSES = ("pending", "sent", "failed")  # stored; `alerts` also lists "held" and "folded"
# The last_error of a pending row waiting for its digest period to close: listed as "held".
HELD = "held for the digest of "

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
            outbox.c.payload,
        )
        .where(outbox.c.id.in_(ids))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
    )
    return [_pending(row) for row in rows]


def _pending(row: sa.Row[Any]) -> PendingAlert:
    m = row._mapping
    if m["payload"] is not None:  # a storm summary: its own alert, not its match's
        return PendingAlert(
            m["id"], alert_from_payload(m["payload"]), m["attempts"], m["created_at"]
        )
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


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": alert.rule,
        "channel": alert.channel,
        "title": alert.title,
        "url": alert.url,
        "feed": alert.feed,
        "published": alert.published.isoformat() if alert.published else None,
        "matched": list(alert.matched),
        "snippet": alert.snippet,
        "marks": [list(mark) for mark in alert.marks],
        "detected_at": alert.detected_at.isoformat(),
    }


def alert_from_payload(data: dict[str, Any]) -> Alert:
    published = data.get("published")
    return Alert(
        id=str(data["id"]),
        rule=str(data["rule"]),
        channel=str(data["channel"]),
        title=str(data["title"]),
        url=str(data["url"]),
        feed=str(data["feed"]),
        published=datetime.fromisoformat(published) if published else None,
        matched=tuple(str(t) for t in data["matched"]),
        snippet=str(data["snippet"]),
        marks=marks_of(data["marks"]),
        detected_at=datetime.fromisoformat(data["detected_at"]),
    )


def sent_counts(conn: sa.Connection, channel: str, since: datetime) -> dict[str, int]:
    """Alerts sent one by one on `channel` since `since`, per rule (summaries not counted)."""
    query = (
        _joined(matches.c.rule, sa.func.count())
        .where(
            outbox.c.channel == channel,
            outbox.c.status == "sent",
            outbox.c.sent_at >= since,
            outbox.c.folded_into.is_(None),
            outbox.c.payload.is_(None),
        )
        .group_by(matches.c.rule)
    )
    return {str(rule): int(n) for rule, n in conn.execute(query)}


def fold(conn: sa.Connection, folded: Sequence[int], summary: Alert, now: datetime) -> None:
    """Queue `summary` (due now) and mark the `folded` rows delivered by it, in one step."""
    first = conn.execute(sa.select(outbox.c.match).where(outbox.c.id == folded[0])).scalar_one()
    conn.execute(
        insert(conn, outbox)
        .values(
            match=first,
            channel=summary.channel,
            key=summary.id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            payload=alert_payload(summary),
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.key])
    )
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(list(folded)))
        .values(
            status="sent", sent_at=now, folded_into=summary.id, lease_owner=None, lease_until=None
        )
    )


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


def release(conn: sa.Connection, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None:
    """Put a claimed row back, due at `next_attempt_at`, without counting an attempt."""
    _finish(conn, outbox_id, next_attempt_at=next_attempt_at, last_error=error)


def hold(conn: sa.Connection, outbox_id: int, *, until: datetime) -> None:
    """Keep a claimed row pending, without an attempt, until its digest period closes."""
    release(conn, outbox_id, next_attempt_at=until, error=HELD + until.isoformat("T", "minutes"))


def _is_held() -> sa.ColumnElement[bool]:
    return sa.and_(
        outbox.c.status == "pending", outbox.c.last_error.startswith(HELD, autoescape=True)
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
    """Outbox rows newest first, optionally of one status.

    Besides the stored statuses, "held" is a pending row waiting for its digest and "folded"
    a row delivered inside a storm summary or a digest (stored as sent).
    """
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
        outbox.c.folded_into,
        entries.c.title,
        sa.func.coalesce(entries.c.link, entries.c.canonical_url).label("url"),
        outbox.c.payload,
    ).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
    if status == "folded":
        query = query.where(outbox.c.folded_into.is_not(None))
    elif status == "held":
        query = query.where(_is_held())
    elif status == "pending":
        query = query.where(
            outbox.c.status == "pending",
            sa.or_(outbox.c.last_error.is_(None), sa.not_(_is_held())),
        )
    elif status is not None:
        query = query.where(outbox.c.status == status)
    rows = []
    for row in conn.execute(query.limit(limit)):
        values = dict(row._mapping)
        payload = values.pop("payload")
        if payload is not None:  # a storm summary lists as itself
            values.update(title=payload["title"], url=payload["url"])
        if values["folded_into"] is not None:
            values["status"] = "folded"
        elif values["status"] == "pending" and (values["last_error"] or "").startswith(HELD):
            values["status"] = "held"
        rows.append(OutboxRow(**values))
    return rows
