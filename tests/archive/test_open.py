"""Opening the archive: idempotent versioned migrations, URLs, directories, closing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.archive import SCHEMA_VERSION, Archive
from monitor.archive._engine import make_engine
from monitor.errors import ArchiveError
from monitor.models import FeedState


def test_open_twice_migrates_once_and_records_the_version(
    archive_target: tuple[str, str | None],
) -> None:
    url, schema = archive_target
    with Archive.open(url, schema=schema) as first:
        assert first.schema_version == SCHEMA_VERSION
        first.save_feed_state(FeedState("https://x/feed"))
    with Archive.open(url, schema=schema) as second:
        assert second.schema_version == SCHEMA_VERSION
        assert [s.url for s in second.feed_states()] == ["https://x/feed"]


def test_newer_schema_version_is_refused(archive_target: tuple[str, str | None]) -> None:
    url, schema = archive_target
    Archive.open(url, schema=schema).close()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    table = f'"{schema}".meta' if schema else "meta"
    with engine.begin() as conn:
        conn.execute(sa.text(f"update {table} set value = '999' where key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(ArchiveError, match="newer"):
        Archive.open(url, schema=schema)


def test_sqlite_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "archive.db"
    with Archive.open(f"sqlite:///{path}") as archive:
        assert archive.outbox_counts() == {"pending": 0, "sent": 0, "failed": 0}
    assert path.exists()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
    engine.dispose()


def test_sqlite_connections_are_tuned_for_polls(tmp_path: Path) -> None:
    """Every connection of the archive's engine: WAL, no fsync per commit, rarer checkpoints."""
    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}", schema=None)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("pragma wal_autocheckpoint").scalar() == 10_000
    engine.dispose()


@pytest.mark.postgres
def test_plain_postgresql_url_uses_psycopg(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with Archive.open(plain, schema=schema) as archive:
        assert archive.schema_version == SCHEMA_VERSION


def test_unusable_sqlite_path_is_an_archive_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ArchiveError, match="directory"):
        Archive.open(f"sqlite:///{blocker}/archive.db")


def test_unreachable_postgresql_is_an_archive_error() -> None:
    with pytest.raises(ArchiveError, match="archive database failed"):
        Archive.open("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


@pytest.mark.postgres
def test_a_missing_postgresql_schema_is_created(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    nested = f"{schema}_sub"
    try:
        with Archive.open(url, schema=nested) as archive:
            assert archive.outbox_counts()["pending"] == 0
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop schema if exists "{nested}" cascade'))
        engine.dispose()
