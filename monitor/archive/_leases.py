"""Leases on feeds and outbox rows: who holds them, and freeing those of dead processes.

A daemon leases a feed while it polls it and an alert while it sends it, so that daemons
sharing one database never do the same work at once; a lease that is never released (kill -9)
expires on its own, or is freed at once by a successor on the same host.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from monitor.archive._schema import feeds, outbox

_LEASED = (feeds, outbox)


def lease_owners(conn: sa.Connection, now: datetime) -> list[str]:
    """Owners holding a live lease on some feed or outbox row."""
    owners: set[str] = set()
    for table in _LEASED:
        query = sa.select(table.c.lease_owner).where(table.c.lease_until > now).distinct()
        owners.update(str(owner) for owner in conn.execute(query).scalars() if owner)
    return sorted(owners)


def release_leases(conn: sa.Connection, owners: Sequence[str]) -> int:
    """Drop the leases of `owners` (processes known dead): their work is due again at once.

    Attempts are not counted: a dead process never learnt how its attempt ended.
    """
    if not owners:
        return 0
    released = 0
    for table in _LEASED:
        result = conn.execute(
            table.update()
            .where(table.c.lease_owner.in_(list(owners)))
            .values(lease_owner=None, lease_until=None)
        )
        released += int(result.rowcount)
    return released
