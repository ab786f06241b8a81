"""The archive's column types: what reaches the database for each value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from monitor.archive._schema import UTCDateTime


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()])
def test_utc_datetime_binds_what_sqlalchemy_would_with_values_repeating(
    dialect: sa.Dialect,
) -> None:
    kind = UTCDateTime().dialect_impl(dialect)
    remembering = kind.bind_processor(dialect)
    plain = sa.TypeDecorator.bind_processor(kind, dialect)  # no memory of recent values
    assert plain is not None
    now = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    other = datetime(2025, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    values = [now, now, other, now, None, other, now + timedelta(seconds=1), now, None]
    assert [remembering(value) for value in values] == [plain(value) for value in values]
    with pytest.raises(ValueError, match="naive"):
        remembering(now.replace(tzinfo=None))
    assert remembering(now) == plain(now)


def test_utc_datetime_reads_back_from_sqlite_what_sqlalchemy_would() -> None:
    dialect = sqlite.dialect()
    kind = UTCDateTime().dialect_impl(dialect)
    fast = kind.result_processor(dialect, None)
    plain = sa.TypeDecorator.result_processor(kind, dialect, None)  # SQLAlchemy's own parsing
    assert fast is not None
    assert plain is not None
    binds = kind.bind_processor(dialect)
    stored = [
        binds(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        binds(datetime(2025, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        "2025-03-01 12:00:00",  # other shapes SQLite may hold, written by hand
        "2025-03-01 12:00",
        "2025-03-01",
    ]
    for text in stored:
        assert fast(text) == plain(text), text
        assert fast(text).tzinfo is UTC, text
