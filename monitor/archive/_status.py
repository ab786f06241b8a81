"""Service state in the archive: daemon heartbeats (who is up) and disabled channels.

Both are shared by every daemon on the archive, so a cluster agrees on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert
from monitor.archive._records import Heartbeat
from monitor.archive._schema import daemons, disabled_channels


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


def disable_channel(conn: sa.Connection, name: str, reason: str, now: datetime) -> None:
    stmt = insert(conn, disabled_channels).values(name=name, since=now, reason=reason)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[disabled_channels.c.name]))


def enable_channels(conn: sa.Connection, names: list[str] | None) -> list[str]:
    query = sa.select(disabled_channels.c.name)
    if names is not None:
        query = query.where(disabled_channels.c.name.in_(names))
    enabled = [str(name) for name in conn.execute(query).scalars()]
    conn.execute(disabled_channels.delete().where(disabled_channels.c.name.in_(enabled)))
    return enabled


def disabled(conn: sa.Connection) -> dict[str, str]:
    """name -> why (with since when)."""
    rows = conn.execute(sa.select(disabled_channels))
    return {r.name: f"{r.reason} (since {r.since.isoformat(timespec='seconds')})" for r in rows}
