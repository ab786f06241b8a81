"""Engines and transactions for the archive: URL mapping, SQLite pragmas, one error edge.

SQLite runs in WAL with a busy timeout; write transactions start with BEGIN IMMEDIATE so
concurrent writers queue on the lock instead of failing on a stale snapshot. Within one
process, writers also queue on a lock of ours first: SQLite's busy handler polls with growing
sleeps, so under many writer threads (a cold poll of thousands of feeds) one of them could
starve past the busy timeout ("database is locked") while the others took turns.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from monitor.errors import ArchiveError

BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "news_monitor_immediate"

Insert = sqlite.Insert | postgresql.Insert

# SQLite engines of this process -> the lock their writers queue on (one writer at a time)
_WRITERS: weakref.WeakKeyDictionary[sa.Engine, threading.RLock] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, schema: str | None) -> sa.Engine:
    """An engine for `url`: `postgresql://` maps to psycopg 3; SQLite gets its parent dir."""
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    options: dict[str, Any] = {}
    if schema is not None:
        options["schema_translate_map"] = {None: schema}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ArchiveError(f"cannot create the archive's directory: {exc}") from exc
        engine = sa.create_engine(parsed, execution_options=options)
        _configure_sqlite(engine)
        _WRITERS[engine] = threading.RLock()
        return engine
    return sa.create_engine(parsed, execution_options=options, pool_pre_ping=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of pysqlite's hands: SQLAlchemy's "begin" event emits it below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn failures of the environment (locked, unreachable, connection lost) into ArchiveError.

    Integrity and programming errors are bugs and propagate unchanged.
    """
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise ArchiveError(f"archive database failed: {_first_line(exc)}") from exc


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


@contextmanager
def read(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A short read transaction."""
    with translate_errors(), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction: committed on success, rolled back on any exception."""
    queue: AbstractContextManager[object] = _WRITERS.get(engine) or nullcontext()
    with queue, translate_errors(), engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})  # in place: read by the "begin" hook
        with conn.begin():
            yield conn


def insert(conn: sa.Connection, table: sa.Table) -> Insert:
    """The dialect's INSERT, which has `on_conflict_do_nothing/_update` on both backends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"
