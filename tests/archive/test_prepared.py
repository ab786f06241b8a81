"""Prepared statements send and read back exactly what the Core statement would.

Each value of a row goes through its column type's processors, looked up once; None is sent
through only the processors that make something of it (JSON's makes it 'null').
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import make_engine, prepared, write
from monitor.archive._schema import UTCDateTime
from tests.archive.conftest import NOW

METADATA = sa.MetaData()
COLUMNS = ("id", "at", "flag", "gap", "payload", "note")


def _table(name: str) -> sa.Table:
    return sa.Table(
        name,
        METADATA,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime),
        sa.Column("flag", sa.Boolean),
        sa.Column("gap", sa.Interval),
        sa.Column("payload", sa.JSON),
        sa.Column("note", sa.Text),
    )


CORE, PREPARED = _table("through_core"), _table("through_prepared")
ROWS: list[tuple[Any, ...]] = [
    (1, NOW, True, timedelta(hours=2), {"a": [1, 2]}, "one"),
    (2, None, None, None, None, None),
    (3, NOW + timedelta(microseconds=7), False, timedelta(0), [], ""),
]


def test_prepared_statements_write_and_read_what_core_does(
    archive_target: tuple[str, str | None],
) -> None:
    url, schema = archive_target
    engine = make_engine(url, schema=schema)
    try:
        with write(engine) as conn:
            METADATA.create_all(conn)
            conn.execute(CORE.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in ROWS])

            def build() -> tuple[sa.ClauseElement, Sequence[str]]:
                return PREPARED.insert(), COLUMNS

            prepared(conn, ("test", "insert"), build).executemany(conn, ROWS)
        with write(engine) as conn:
            raw = sa.literal_column("*")  # untyped: the values as the database holds them
            stored = [
                conn.execute(sa.select(raw).select_from(table).order_by(table.c.id)).fetchall()
                for table in (CORE, PREPARED)
            ]
            assert stored[0] == stored[1]  # the same bytes in the database
            for table in (CORE, PREPARED):  # JSON's None went in as 'null', not as NULL
                nulls = sa.select(table.c.id).where(table.c.payload.is_(None))
                assert conn.execute(nulls).fetchall() == [], table.name

            def select() -> tuple[sa.ClauseElement, Sequence[str]]:
                return sa.select(PREPARED).order_by(PREPARED.c.id), ()

            read = prepared(conn, ("test", "select"), select).rows(conn)
            core = conn.execute(sa.select(CORE).order_by(CORE.c.id)).fetchall()
            assert [tuple(row) for row in read] == [tuple(row) for row in core]
            assert read[0][1] == NOW
    finally:
        engine.dispose()
