"""The archive: feed state, seen entries, stories, matches and the alert outbox (SQLAlchemy Core).

SQLite for one machine, PostgreSQL for N daemons. Imports only `models` and `errors` of ours.
"""

from __future__ import annotations

from monitor.archive._archive import Archive
from monitor.archive._entries import alert_key
from monitor.archive._records import Heartbeat, MatchRow, OutboxRow, PollRecord, StoredEntry
from monitor.archive._schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "Archive",
    "Heartbeat",
    "MatchRow",
    "OutboxRow",
    "PollRecord",
    "StoredEntry",
    "alert_key",
]
