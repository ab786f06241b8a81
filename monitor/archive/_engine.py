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
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

from monitor.errors import ArchiveError

BUSY_TIMEOUT_MS = 10_000
SQLITE_CHECKPOINT_PAGES = 10_000
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
        # Each poll changes index pages all over a large archive (story keys are hashes):
        # a checkpoint every 10,000 WAL pages (40 MiB) rather than 1,000 copies a page that
        # many commits changed into the database once. (A larger page cache saved as much
        # again, but cost 30-40 MB of RSS at 10,000 feeds.)
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A Core statement compiled once, run with rows of values given in a fixed order.

    Executing a Core statement sends every row through SQLAlchemy's generic parameter
    machinery (a dict per row, each value through a chain of processors, expanding IN
    rendered per call), which cost more than the database's own work on a poll's hot path.
    Here the SQL is what SQLAlchemy compiles for the connection's dialect and schema, and each
    value goes through the bind processor of its own SQLAlchemy type, looked up once: the
    database receives exactly what the Core statement would have sent. A SELECT's rows come
    back through each column type's result processor the same way (`rows`).
    """

    sql: str
    order: tuple[int, ...] | None  # per placeholder, the index of its value; None: in order
    keys: tuple[str, ...] | None  # the placeholders' names (pyformat); None when positional
    # (placeholder, processor, whether None goes through it: JSON's makes it 'null'; the
    # others give None back, so None is not sent through them)
    processors: tuple[tuple[int, Callable[[Any], Any], bool], ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...] = ()  # (column, processor)

    def params(self, row: Sequence[Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.order is not None:
            row = [row[index] for index in self.order]
        if self.processors:
            row = list(row)
            for index, process, calls_for_none in self.processors:
                value = row[index]
                if value is not None or calls_for_none:
                    row[index] = process(value)
        return tuple(row) if self.keys is None else dict(zip(self.keys, row, strict=True))

    def execute(self, conn: sa.Connection, row: Sequence[Any]) -> sa.CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self.params(row))

    def executemany(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, [self.params(row) for row in rows])

    def rows(self, conn: sa.Connection, row: Sequence[Any] = ()) -> list[list[Any]]:
        """A SELECT's rows as lists of values, each as its column's type gives it (a None is
        passed over: every type gives None back for it)."""
        fetched = self.execute(conn, row).fetchall()
        results = self.results
        converted = []
        for raw in fetched:
            values = list(raw)
            for index, process in results:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            converted.append(values)
        return converted


def _compile(conn: sa.Connection, stmt: sa.ClauseElement, names: Sequence[str]) -> Prepared:
    dialect = conn.dialect
    schemas = conn.get_execution_options().get("schema_translate_map")
    compiled = stmt.compile(
        dialect=dialect,
        column_keys=list(names),  # an INSERT's columns: exactly those given
        schema_translate_map=schemas,
        render_schema_translate=bool(schemas),
    )
    assert isinstance(compiled, SQLCompiler)
    if compiled.positional:
        placeholders = list(compiled.positiontup or ())
    else:
        placeholders = list(dict.fromkeys(compiled.bind_names.values()))
    if sorted(placeholders) != sorted(names) or compiled.post_compile_params:
        # a Python-side default or an expanding IN would need SQLAlchemy's execution context
        raise ValueError(f"cannot prepare {stmt}: placeholders {placeholders}, given {names}")
    processors = []
    for index, name in enumerate(placeholders):
        kind = compiled.binds[name].type
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((index, process, process(None) is not None))
    escaped = compiled.escaped_bind_names
    order = tuple(names.index(name) for name in placeholders)
    results = []
    if isinstance(stmt, sa.Select):
        for index, column in enumerate(stmt.selected_columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
    return Prepared(
        sql=compiled.string,
        order=None if order == tuple(range(len(order))) else order,
        keys=None if compiled.positional else tuple(escaped.get(n, n) for n in placeholders),
        processors=tuple(processors),
        results=tuple(results),
    )


# (dialect, server version, schema map, caller's key) -> its statement, compiled once
_PREPARED: dict[tuple[Any, ...], Prepared] = {}


def prepared(
    conn: sa.Connection,
    key: Hashable,
    build: Callable[[], tuple[sa.ClauseElement, Sequence[str]]],
) -> Prepared:
    """The statement `build` returns (with its parameters' names, the order of a row's
    values), compiled once per dialect and schema under `key`."""
    dialect = conn.dialect
    schemas = conn.get_execution_options().get("schema_translate_map")
    cache_key = (
        dialect.name,
        dialect.driver,
        dialect.server_version_info,
        frozenset(schemas.items()) if schemas else None,
        key,
    )
    found = _PREPARED.get(cache_key)
    if found is None:
        stmt, names = build()
        found = _PREPARED[cache_key] = _compile(conn, stmt, names)
    return found


_IN_CHUNK = 512  # values per IN list: below SQLite's oldest limit of 999 parameters


def select_in(
    conn: sa.Connection,
    key: Hashable,
    column: sa.ColumnElement[Any],
    values: Sequence[Any],
    build: Callable[[sa.ColumnElement[bool]], sa.Select[Any]],
    **fixed: Any,
) -> list[Sequence[Any]]:
    """Rows of the SELECT `build` makes of `column IN values` (other parameters: `fixed`).

    Prepared: the list goes in chunks of at most 512, each padded to a power of two by
    repeating a value (which changes no IN), so that a few statements are compiled per `key`
    instead of one per length.
    """
    rows: list[Sequence[Any]] = []
    for start in range(0, len(values), _IN_CHUNK):
        part = list(values[start : start + _IN_CHUNK])
        size = 1 << (len(part) - 1).bit_length()
        part += part[-1:] * (size - len(part))

        def make(size: int = size) -> tuple[sa.ClauseElement, list[str]]:
            binds = [sa.bindparam(f"in_{i}", type_=column.type) for i in range(size)]
            return build(column.in_(binds)), [*fixed, *(bind.key for bind in binds)]

        stmt = prepared(conn, (key, size), make)
        rows.extend(stmt.execute(conn, [*fixed.values(), *part]))
    return rows
