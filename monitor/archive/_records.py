"""Rows the archive hands back to its readers (CLI, status page, rule replay).

Plain frozen records; the archive's writers take `monitor.models` records instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.models import Document, Hit


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What one `record_poll` added: entries not seen before, new matches, new outbox rows."""

    new_entries: int
    new_matches: int
    new_alerts: int


@dataclass(frozen=True, slots=True)
class MatchRow:
    """One archived match with the entry that first brought its story."""

    id: int
    rule: str
    story: str
    title: str
    url: str | None  # the entry's link, else its canonical URL
    feed: str  # the feed's name
    published: datetime
    detected_at: datetime
    hits: tuple[Hit, ...]
    snippet: str
    marks: tuple[tuple[int, int], ...]

    @property
    def matched(self) -> tuple[str, ...]:
        """The distinct matched terms, in order of first appearance."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row as `news-monitor alerts` lists it."""

    id: int
    key: str  # the alert id, stable per (rule, story, channel)
    rule: str
    channel: str
    status: str  # pending, held (for a digest), sent, folded, failed
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    title: str
    url: str | None
    folded_into: str | None = None  # the storm summary that delivered it (status "folded")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An archived entry, enough to replay rules over it."""

    id: int
    feed_url: str
    feed: str  # the feed's name
    title: str
    summary: str
    text: str
    link: str | None
    published: datetime
    tags: tuple[str, ...]
    author: str
    lang: str

    def document(self) -> Document:
        """The entry as the matcher reads it (the feed's title is not archived)."""
        host = urlsplit(self.feed_url).hostname or ""
        return Document(
            title=self.title,
            text=self.text,
            summary=self.summary,
            author=self.author,
            feed=" ".join(part for part in (self.feed, host) if part),
            url=self.link or "",
            tags=self.tags,
            lang=self.lang,
            feed_name=self.feed,
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A daemon's last sign of life."""

    owner: str  # "host:pid"
    started_at: datetime
    beat_at: datetime
    info: dict[str, Any]
