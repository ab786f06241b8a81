"""Daemon heartbeats: each running daemon refreshes its row, so `status` can tell who is up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert
from monitor.archive._records import Heartbeat
from monitor.archive._schema import daemons


def heartbeat(conn: sa.Connection, owner: str, now: datetime, info: dict[str, Any]) -> None:
    stmt = insert(conn, daemons).values(owner=owner, started_at=now, beat_at=now, info=info)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[daemons.c.owner], set_={"beat_at": now, "info": info}
        )
    )


def forget(conn: sa.Connection, owner: str) -> None:
    conn.execute(daemons.delete().where(daemons.c.owner == owner))


def heartbeats(conn: sa.Connection) -> list[Heartbeat]:
    rows = conn.execute(sa.select(daemons).order_by(daemons.c.beat_at.desc()))
    return [Heartbeat(r.owner, r.started_at, r.beat_at, dict(r.info or {})) for r in rows]
