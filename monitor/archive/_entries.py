"""Seen entries and the poll's one transaction: entries, stories, matches, outbox, feed state.

An entry joins the story of an existing entry with the same canonical URL, else one with the
same content fingerprint, else starts one. Unique keys make every insert race safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert, is_postgres, prepared, select_in
from monitor.archive._feeds import save_feed_state
from monitor.archive._records import PollRecord
from monitor.archive._schema import entries, matches, outbox, story_keys
from monitor.archive._search import index_entry
from monitor.models import Entry, FeedState, Match, ProcessedEntry


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def alert_key(rule: str, story: str, channel: str) -> str:
    """The alert id: stable per (rule, story, channel), travels with every retry."""
    return _digest(rule, story, channel)[:32]


def _pairs(rows: Iterable[Any]) -> dict[str, str]:  # rows of two columns
    return {str(row[0]): str(row[1]) for row in rows}


# Hot statements are prepared (compiled once, run with tuples: see _engine.Prepared): building
# a statement (its cache key above all) cost more than executing it, and SQLAlchemy's per-row
# parameter handling about as much again.
def _of_feed(
    conn: sa.Connection, column: sa.Column[Any], feed_url: str, ids: Sequence[str]
) -> list[Sequence[Any]]:
    """(entry_id, `column`) of one feed's entries with the given ids."""
    return select_in(
        conn,
        ("of_feed", column.name),
        entries.c.entry_id,
        ids,
        lambda in_ids: sa.select(entries.c.entry_id, column).where(
            entries.c.feed_url == sa.bindparam("feed"), in_ids
        ),
        feed=feed_url,
    )


def unseen(conn: sa.Connection, feed_url: str, batch: Sequence[Entry]) -> list[Entry]:
    """Entries of `batch` new to this feed, or whose fingerprint changed (one query)."""
    if not batch:
        return []
    ids = list({entry.entry_id for entry in batch})
    known = _pairs(_of_feed(conn, entries.c.fingerprint, feed_url, ids))
    return [entry for entry in batch if known.get(entry.entry_id) != entry.fingerprint]


def _story_keys(entry: Entry, content_fingerprint: str) -> list[str]:
    keys = []  # in order of precedence: the canonical URL decides before the content
    if entry.canonical_url:
        keys.append(_digest("url", entry.canonical_url))
    if content_fingerprint:
        keys.append(_digest("fp", content_fingerprint))
    return keys


def _lookup(conn: sa.Connection, keys: list[str]) -> dict[str, str]:
    return _pairs(
        select_in(
            conn,
            "story_keys",
            story_keys.c.key,
            keys,
            lambda in_keys: sa.select(story_keys.c.key, story_keys.c.story).where(in_keys),
        )
    )


def _claim_statement(conn: sa.Connection) -> tuple[sa.ClauseElement, list[str]]:
    stmt = insert(conn, story_keys).on_conflict_do_nothing(index_elements=[story_keys.c.key])
    return stmt, ["key", "story"]


def _resolve_stories(
    conn: sa.Connection, wanted: Sequence[tuple[list[str], str | None]]
) -> list[str]:
    """Each entry's story (its own when already archived), registering its keys.

    `wanted`: per entry, its story keys and its archived story or None. One lookup and one
    insert for a whole poll; entries of one poll sharing a key share a story.
    """
    every = list(dict.fromkeys(key for keys, _ in wanted for key in keys))
    known = _lookup(conn, every)
    claims: dict[str, str] = {}  # key -> the story this poll registers it for
    fresh: set[str] = set()
    stories: list[str] = []
    for keys, archived in wanted:
        story = archived or next((known[key] for key in keys if key in known), None)
        if story is None:
            story = keys[0]  # deterministic: two writers starting one story pick the same id
            fresh.add(story)
        for key in keys:
            if key not in known:
                known[key] = claims[key] = story
        stories.append(story)
    if not claims:
        return stories
    prepared(conn, "claim", lambda: _claim_statement(conn)).executemany(conn, list(claims.items()))
    if not fresh or not is_postgres(conn):
        # SQLite: BEGIN IMMEDIATE serializes writers (across processes too), so the lookup
        # above saw every claim there is, and no other can land before this one commits.
        return stories
    # PostgreSQL: a concurrent writer may have claimed a key first (ON CONFLICT waited for
    # its commit): its story is the existing one, so a story this poll started joins it.
    stored = _lookup(conn, [key for key, story in claims.items() if story in fresh])
    winners: dict[str, str] = {}
    for key, story in claims.items():
        if story in fresh and stored.get(key, story) != story:
            winners.setdefault(story, stored[key])
    for story, winner in winners.items():
        ours = [key for key, mine in claims.items() if mine == story]
        conn.execute(
            story_keys.update()
            .where(story_keys.c.key.in_(ours), story_keys.c.story == story)
            .values(story=winner)
        )
    return [winners.get(story, story) for story in stories]


# The entries upsert's columns, in the order _entry_values gives their values.
_ENTRY_COLUMNS = (
    "feed_url",
    "entry_id",
    "feed_name",
    "canonical_url",
    "title",
    "link",
    "published",
    "summary",
    "text",
    "author",
    "lang",
    "tags",
    "fingerprint",
    "content_fingerprint",
    "story",
    "first_seen_at",
    "last_seen_at",
)


def _entry_values(
    feed_url: str, processed: ProcessedEntry, story: str, now: datetime
) -> tuple[Any, ...]:
    entry, article = processed.entry, processed.article
    return (
        feed_url,
        entry.entry_id,
        entry.feed_name,
        entry.canonical_url,
        entry.title,
        entry.link,
        entry.published or now,
        entry.summary,
        processed.text,
        entry.author or (article.author or "" if article else ""),
        (article.language or "") if article else "",
        list(entry.tags),
        entry.fingerprint,
        processed.content_fingerprint,
        story,
        now,  # first_seen_at
        now,  # last_seen_at
    )


def _upsert_statement(conn: sa.Connection, *, had_date: bool) -> tuple[Any, tuple[str, ...]]:
    base = insert(conn, entries)
    keep = {"id", "feed_url", "entry_id", "story", "first_seen_at"} | (
        set() if had_date else {"published"}
    )
    update = {c.name: base.excluded[c.name] for c in entries.c if c.name not in keep}
    stmt = base.on_conflict_do_update(
        index_elements=[entries.c.feed_url, entries.c.entry_id], set_=update
    )
    return stmt, _ENTRY_COLUMNS


def _upsert_entries(conn: sa.Connection, rows: list[tuple[Any, ...]], dated: list[bool]) -> None:
    """Insert or update the poll's entries: one executemany per kind (dated or not)."""
    for had_date in (True, False):
        chosen = [row for row, flag in zip(rows, dated, strict=True) if flag is had_date]
        build = partial(_upsert_statement, conn, had_date=had_date)
        prepared(conn, ("upsert", had_date), build).executemany(conn, chosen)


def _entry_ids(conn: sa.Connection, feed_url: str, ids: list[str]) -> dict[str, int]:
    """Row ids of entries of one feed (only matched entries need theirs)."""
    return {str(row[0]): int(row[1]) for row in _of_feed(conn, entries.c.id, feed_url, ids)}


def _insert_new(
    conn: sa.Connection, table: sa.Table, unique: list[str], row: dict[str, Any]
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new row's id, else None."""

    def build() -> tuple[sa.ClauseElement, list[str]]:
        stmt = (
            insert(conn, table)
            .on_conflict_do_nothing(index_elements=[table.c[name] for name in unique])
            .returning(table.c.id)
        )
        return stmt, list(row)

    stmt = prepared(conn, ("insert_new", table.name), build)
    return stmt.execute(conn, list(row.values())).scalar()


def _insert_match(
    conn: sa.Connection, match: Match, story: str, entry_row: int, now: datetime
) -> int | None:
    """The new match's id, or None when the (rule, story) pair was already archived."""
    values = {
        "rule": match.rule,
        "story": story,
        "entry": entry_row,
        "hits": [[hit.term, hit.field] for hit in match.hits],
        "snippet": match.snippet,
        "marks": [list(mark) for mark in match.marks],
        "detected_at": now,
    }
    return _insert_new(conn, matches, ["rule", "story"], values)


def _insert_alert(
    conn: sa.Connection, match_id: int, key: str, channel: str, now: datetime
) -> bool:
    values = {
        "match": match_id,
        "channel": channel,
        "key": key,
        "next_attempt_at": now,
        "created_at": now,
    }
    return _insert_new(conn, outbox, ["key"], values) is not None


def record_poll(
    conn: sa.Connection, state: FeedState, processed: Sequence[ProcessedEntry], now: datetime
) -> PollRecord:
    """Everything one poll learnt, in the caller's transaction; the feed state goes last."""
    ids = list({p.entry.entry_id for p in processed})
    stories = _pairs(_of_feed(conn, entries.c.story, state.url, ids))
    wanted = []
    for item in processed:
        keys = _story_keys(item.entry, item.content_fingerprint)
        wanted.append((keys, stories.get(item.entry.entry_id)))
    resolved = iter(_resolve_stories(conn, [w for w in wanted if w[0]]))
    rows, dated, story_of = [], [], []
    new_entries = new_matches = new_alerts = 0
    for item, (keys, existing) in zip(processed, wanted, strict=True):
        entry = item.entry
        new_entries += existing is None
        story = next(resolved) if keys else existing or _digest("entry", state.url, entry.entry_id)
        story_of.append(story)
        rows.append(_entry_values(state.url, item, story, now))
        dated.append(entry.published is not None)
    if rows:
        _upsert_entries(conn, rows, dated)
    matched = [item.entry.entry_id for item in processed if item.matches]
    row_ids = _entry_ids(conn, state.url, matched) if matched else {}
    for item, story in zip(processed, story_of, strict=True):
        if not item.matches:
            continue
        entry = item.entry
        entry_row = row_ids[entry.entry_id]
        index_entry(conn, entry_row, entry.title, f"{item.text}\n{entry.summary}")
        for match in item.matches:
            match_id = _insert_match(conn, match, story, entry_row, now)
            if match_id is None:
                continue  # this rule already fired on this story
            new_matches += 1
            for channel in dict.fromkeys(item.channels.get(match.rule, ())):
                key = alert_key(match.rule, story, channel)
                new_alerts += _insert_alert(conn, match_id, key, channel, now)
    save_feed_state(conn, state)
    return PollRecord(new_entries, new_matches, new_alerts)


def prune(conn: sa.Connection, older_than: datetime) -> int:
    """Clear the text of entries first seen before `older_than` whose story never matched."""
    matched = sa.select(matches.c.id).where(matches.c.story == entries.c.story).exists()
    result = conn.execute(
        entries.update()
        .where(
            entries.c.first_seen_at < older_than,
            sa.or_(entries.c.text != "", entries.c.summary != ""),
            ~matched,
        )
        .values(text="", summary="")
    )
    return int(result.rowcount)
