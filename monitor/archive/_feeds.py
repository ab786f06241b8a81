"""Feed state between polls, and feed leases so N daemons never poll one feed at once.

Functions take an open connection inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert, prepared
from monitor.archive._schema import feeds
from monitor.models import FeedState

_STATE_FIELDS = tuple(f.name for f in fields(FeedState))
_state_values = attrgetter(*_STATE_FIELDS)  # a state's values in that order, as one tuple


def _state_columns() -> list[sa.Column[Any]]:
    return [feeds.c[name] for name in _STATE_FIELDS]


def feed_state(conn: sa.Connection, url: str) -> FeedState | None:
    def build() -> tuple[sa.ClauseElement, tuple[str, ...]]:
        return sa.select(*_state_columns()).where(feeds.c.url == sa.bindparam("url")), ("url",)

    rows = prepared(conn, "feed_state", build).rows(conn, (url,))
    return FeedState(*rows[0]) if rows else None


def feed_states(conn: sa.Connection) -> list[FeedState]:
    """Every feed's state: read at the start of each cycle, so prepared (10,000 feeds through
    Core's row machinery took 120-160 ms, while every poll waited)."""

    def build() -> tuple[sa.ClauseElement, tuple[str, ...]]:
        return sa.select(*_state_columns()).order_by(feeds.c.url), ()

    return [FeedState(*values) for values in prepared(conn, "feed_states", build).rows(conn)]


def save_feed_state(conn: sa.Connection, state: FeedState) -> None:
    """Upsert by url; the lease columns are left alone."""
    save_feed_states(conn, [state])


def save_feed_states(conn: sa.Connection, states: Sequence[FeedState]) -> None:
    """Upsert many feeds' states in the caller's transaction."""

    def build() -> tuple[sa.ClauseElement, tuple[str, ...]]:
        base = insert(conn, feeds)
        update = {name: base.excluded[name] for name in _STATE_FIELDS if name != "url"}
        stmt = base.on_conflict_do_update(index_elements=[feeds.c.url], set_=update)
        return stmt, _STATE_FIELDS

    # prepared (see _engine.Prepared), one executemany; astuple would deep-copy every value
    rows = [_state_values(state) for state in states]
    prepared(conn, "save_feed_state", build).executemany(conn, rows)


def claim_due_feeds(
    conn: sa.Connection, urls: Sequence[str], now: datetime, *, owner: str, lease: timedelta
) -> list[str]:
    """Lease the due, enabled, unleased feeds among `urls`; never-polled feeds are due."""
    if not urls:
        return []
    wanted = list(dict.fromkeys(urls))
    conn.execute(
        insert(conn, feeds)
        .values([{"url": url} for url in wanted])
        .on_conflict_do_nothing(index_elements=[feeds.c.url])
    )
    due = (
        conn.execute(
            sa.select(feeds.c.url)
            .where(
                feeds.c.url.in_(wanted),
                feeds.c.disabled.is_(False),
                sa.or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= now),
                sa.or_(
                    feeds.c.lease_until.is_(None),
                    feeds.c.lease_until <= now,
                    feeds.c.lease_owner == owner,
                ),
            )
            .order_by(feeds.c.next_poll_at.nulls_first(), feeds.c.url)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if due:
        conn.execute(
            feeds.update()
            .where(feeds.c.url.in_(due))
            .values(lease_owner=owner, lease_until=now + lease)
        )
    return list(due)


def release_feed(conn: sa.Connection, url: str, owner: str) -> None:
    conn.execute(
        feeds.update()
        .where(feeds.c.url == url, feeds.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
