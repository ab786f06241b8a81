"""Archive fixtures: an open Archive on SQLite and PostgreSQL, and record builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.archive import Archive

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def archive(archive_target: tuple[str, str | None]) -> Iterator[Archive]:
    url, schema = archive_target
    with Archive.open(url, schema=schema) as opened:
        yield opened
