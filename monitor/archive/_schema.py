"""The archive's tables and their versioned migrations (one SQLAlchemy Core schema, two backends).

`MIGRATIONS` is ordered; `meta.schema_version` records how many have run. Append, never edit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from monitor.archive._engine import is_postgres, write
from monitor.errors import ArchiveError


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime given to the archive: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[datetime | None], Any]:
        """SQLAlchemy's processor (process_bind_param, then the dialect's), remembering the
        last two values it saw: a poll writes its one `now` into most datetime columns, and
        converting every value cost ~1.5 us. Datetimes are immutable: one object, one result.
        """
        convert = super().bind_processor(dialect)
        assert convert is not None  # process_bind_param is overridden
        nothing: tuple[datetime | None, Any] = (None, None)
        recent = [(nothing, nothing)]  # swapped whole: threads share this processor

        def process(value: datetime | None) -> Any:
            last, before = recent[0]
            if value is last[0]:
                return last[1]
            if value is before[0]:
                return before[1]
            stored = convert(value)
            recent[0] = ((value, stored), last)
            return stored

        return process

    def result_processor(
        self, dialect: sa.Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, the stored text parsed straight into an aware datetime: SQLAlchemy's
        parser and then `replace(tzinfo=UTC)` cost 1.8 us a value, this 0.3 us (a cycle reads
        three of them for each of its feeds). Text not in ISO form goes SQLAlchemy's way."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general
        parse = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                try:
                    parsed = parse(value + "+00:00")
                except ValueError:
                    parsed = None
                if parsed is not None and parsed.tzinfo is not None:  # a bare date drops it
                    return parsed
            return general(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("current_url", sa.Text),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("body_hash", sa.String(64)),
    sa.Column("next_poll_at", UTCDateTime),
    sa.Column("last_polled_at", UTCDateTime),
    sa.Column("last_status", sa.Integer),
    sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_kind", sa.String(32)),
    sa.Column("last_error_at", UTCDateTime),
    sa.Column("last_new_entry_at", UTCDateTime),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    # feed health (migration v4)
    sa.Column("failing_since", UTCDateTime),
    sa.Column("ok_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("health", sa.String(16)),
    sa.Column("health_since", UTCDateTime),
    sa.Column("typical_gap", sa.Interval),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", UTCDateTime),
    sa.Index("ix_feeds_next_poll_at", "next_poll_at"),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feed_url", sa.Text, nullable=False),
    sa.Column("entry_id", sa.Text, nullable=False),
    sa.Column("feed_name", sa.Text, nullable=False),
    sa.Column("canonical_url", sa.Text),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("link", sa.Text),
    sa.Column("published", UTCDateTime, nullable=False),  # first-seen time when the feed has none
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("lang", sa.String(32), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("content_fingerprint", sa.String(128), nullable=False),
    sa.Column("story", sa.String(64), nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("feed_url", "entry_id", name="uq_entries_feed_entry"),
    sa.Index("ix_entries_story", "story"),
    sa.Index("ix_entries_published", "published"),
    sa.Index("ix_entries_first_seen_at", "first_seen_at"),
)

# How a story is found again: sha256 of "url\x1f<canonical url>" or "fp\x1f<content fp>".
# The primary key is what makes two racing writers agree on one story.
story_keys = sa.Table(
    "story_keys",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("story", sa.String(64), nullable=False),
)

matches = sa.Table(
    "matches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("story", sa.String(64), nullable=False),
    sa.Column("entry", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    sa.Column("hits", sa.JSON, nullable=False),  # [[term, field], ...]
    sa.Column("snippet", sa.Text, nullable=False),
    sa.Column("marks", sa.JSON, nullable=False),  # [[start, end], ...]
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("rule", "story", name="uq_matches_rule_story"),
    sa.Index("ix_matches_detected_at", "detected_at"),
    sa.Index("ix_matches_entry", "entry"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("match", sa.Integer, sa.ForeignKey("matches.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    # A storm summary carries its own alert (it stands for many matches); folded rows name
    # the summary that delivered them (their status is "sent").
    sa.Column("payload", sa.JSON),
    sa.Column("folded_into", sa.String(64)),
    sa.CheckConstraint("status in ('pending', 'sent', 'failed')", name="ck_outbox_status"),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_match", "match"),
)

# Full-text index of matched entries only (what users search). PostgreSQL: a tsvector table
# with GIN; SQLite: an FTS5 virtual table created by raw DDL (rowid = entries.id).
pg_metadata = sa.MetaData()
pg_search = sa.Table(
    "search_index",
    pg_metadata,
    sa.Column("entry", sa.Integer, primary_key=True),
    sa.Column("document", postgresql.TSVECTOR, nullable=False),
    sa.Index("ix_search_index_document", "document", postgresql_using="gin"),
)
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_index "
    "USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2')"
)

# feed_url of the stand-in entries that carry feed health alerts (see _health).
HEALTH_FEED_PREFIX = "feed-health:"

_CORE_TABLES = (feeds, entries, story_keys, matches, outbox)


def _v1_core(conn: sa.Connection) -> None:
    for table in _CORE_TABLES:
        table.create(conn, checkfirst=True)


def _v2_search(conn: sa.Connection) -> None:
    if is_postgres(conn):
        pg_search.create(conn, checkfirst=True)
    else:
        conn.exec_driver_sql(SQLITE_SEARCH_DDL)


# One row per running daemon, refreshed every few seconds: what `news-monitor status` reads.
daemons = sa.Table(
    "daemons",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),  # "host:pid"
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("beat_at", UTCDateTime, nullable=False),
    sa.Column("info", sa.JSON, nullable=False),  # feeds, rules, version
)


def _v3_daemons(conn: sa.Connection) -> None:
    daemons.create(conn, checkfirst=True)


_V4_FEED_HEALTH = ("failing_since", "ok_streak", "health", "health_since", "typical_gap")


def _v4_feed_health(conn: sa.Connection) -> None:
    """Feed health columns on `feeds` (a fresh database got them from v1 already)."""
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    present = {c["name"] for c in sa.inspect(conn).get_columns("feeds", schema=schema)}
    preparer = conn.dialect.identifier_preparer
    table = f"{preparer.quote_schema(schema)}.feeds" if schema else "feeds"
    for name in _V4_FEED_HEALTH:
        if name not in present:
            column = feeds.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            extra = " NOT NULL DEFAULT 0" if name == "ok_streak" else ""
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}{extra}")


# Channels whose receiver answered 410 Gone: their alerts wait (pending) until re-enabled.
disabled_channels = sa.Table(
    "disabled_channels",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)


def _v6_disabled_channels(conn: sa.Connection) -> None:
    disabled_channels.create(conn, checkfirst=True)


def _add_missing_columns(conn: sa.Connection, table: sa.Table, names: tuple[str, ...]) -> None:
    """ALTER TABLE ADD COLUMN for each nullable column of `table` the database lacks."""
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=schema)}
    preparer = conn.dialect.identifier_preparer
    qualified = f"{preparer.quote_schema(schema)}.{table.name}" if schema else table.name
    for name in names:
        if name not in present:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {qualified} ADD COLUMN {name} {kind}")


def _v5_storm(conn: sa.Connection) -> None:
    _add_missing_columns(conn, outbox, ("payload", "folded_into"))


def _v7_reindex_search(conn: sa.Connection) -> None:
    """The search index holds the matcher's words now (see _search.index_form)."""
    from monitor.archive._search import reindex  # noqa: PLC0415 - _search imports this module

    reindex(conn)


MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (
    _v1_core,
    _v2_search,
    _v3_daemons,
    _v4_feed_health,
    _v5_storm,
    _v6_disabled_channels,
    _v7_reindex_search,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(engine: sa.Engine, *, schema: str | None = None) -> int:
    """Bring the database to SCHEMA_VERSION; idempotent and safe for daemons starting at once."""
    with write(engine) as conn:
        if is_postgres(conn):
            # Two daemons opening one fresh database: the second waits, then finds it migrated.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x6E6D_6172_6368)))
            if schema is not None:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        meta.create(conn, checkfirst=True)
        version = _version(conn)
        if version > SCHEMA_VERSION:
            raise ArchiveError(
                f"archive schema version {version} is newer than this news-monitor "
                f"understands ({SCHEMA_VERSION}): upgrade news-monitor"
            )
        for migration in MIGRATIONS[version:]:
            migration(conn)
        if version != SCHEMA_VERSION:
            _set_version(conn, SCHEMA_VERSION, exists=version > 0)
    return SCHEMA_VERSION


def schema_version(conn: sa.Connection) -> int:
    return _version(conn)


def _version(conn: sa.Connection) -> int:
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def _set_version(conn: sa.Connection, version: int, *, exists: bool) -> None:
    values: dict[str, Any] = {"value": str(version)}
    if exists:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(values))
    else:
        conn.execute(meta.insert().values(key="schema_version", **values))
