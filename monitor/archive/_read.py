"""Reading the archive: matches newest first, and entries in pages for rule replay.

Functions take an open connection; `iter_entries` pages by id in short transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.archive._records import MatchRow, StoredEntry
from monitor.archive._schema import HEALTH_FEED_PREFIX, entries, matches
from monitor.models import Hit

# Health alerts are stored as matches on stand-in entries (see _health); views of the news
# leave them out.
NEWS = ~entries.c.feed_url.startswith(HEALTH_FEED_PREFIX)


def match_select() -> sa.Select[Any]:
    """Matches joined with the entry that brought them, newest first (news only)."""
    return (
        sa.select(
            matches.c.id,
            matches.c.entry,
            matches.c.rule,
            matches.c.story,
            matches.c.hits,
            matches.c.snippet,
            matches.c.marks,
            matches.c.detected_at,
            entries.c.title,
            sa.func.coalesce(entries.c.link, entries.c.canonical_url).label("url"),
            entries.c.feed_name,
            entries.c.published,
        )
        .join(entries, entries.c.id == matches.c.entry)
        .where(NEWS)
        .order_by(matches.c.detected_at.desc(), matches.c.id.desc())
    )


def filter_matches(
    query: sa.Select[Any], *, since: datetime | None, rule: str | None, limit: int | None
) -> sa.Select[Any]:
    if since is not None:
        query = query.where(matches.c.detected_at >= since)
    if rule is not None:
        query = query.where(matches.c.rule == rule)
    if limit is not None:
        query = query.limit(limit)
    return query


def hits_of(value: Any) -> tuple[Hit, ...]:
    return tuple(Hit(str(term), str(field)) for term, field in value or ())


def marks_of(value: Any) -> tuple[tuple[int, int], ...]:
    return tuple((int(start), int(end)) for start, end in value or ())


def match_row(row: sa.Row[Any]) -> MatchRow:
    m = row._mapping
    return MatchRow(
        id=m["id"],
        rule=m["rule"],
        story=m["story"],
        title=m["title"],
        url=m["url"],
        feed=m["feed_name"],
        published=m["published"],
        detected_at=m["detected_at"],
        hits=hits_of(m["hits"]),
        snippet=m["snippet"],
        marks=marks_of(m["marks"]),
    )


def read_matches(
    conn: sa.Connection,
    *,
    since: datetime | None = None,
    rule: str | None = None,
    limit: int | None = None,
) -> list[MatchRow]:
    query = filter_matches(match_select(), since=since, rule=rule, limit=limit)
    return [match_row(row) for row in conn.execute(query)]


def stored_entry(row: sa.Row[Any]) -> StoredEntry:
    return StoredEntry(
        id=row.id,
        feed_url=row.feed_url,
        feed=row.feed_name,
        title=row.title,
        summary=row.summary,
        text=row.text,
        link=row.link,
        published=row.published,
        tags=tuple(row.tags or ()),
        author=row.author,
        lang=row.lang,
    )


def entry_page(
    conn: sa.Connection, *, after: int, since: datetime | None, size: int
) -> list[StoredEntry]:
    """Up to `size` entries with id > `after`, oldest first."""
    query = sa.select(entries).where(entries.c.id > after, NEWS).order_by(entries.c.id).limit(size)
    if since is not None:
        query = query.where(entries.c.published >= since)
    return [stored_entry(row) for row in conn.execute(query)]


def entries_by_id(conn: sa.Connection, ids: Sequence[int]) -> dict[int, StoredEntry]:
    rows = conn.execute(sa.select(entries).where(entries.c.id.in_(list(ids))))
    return {row.id: stored_entry(row) for row in rows}


def entry_counts(conn: sa.Connection) -> dict[str, int]:
    """Archived entries per feed url."""
    query = sa.select(entries.c.feed_url, sa.func.count()).where(NEWS).group_by(entries.c.feed_url)
    return {str(url): int(n) for url, n in conn.execute(query)}
