"""Feed health alerts into the outbox, so they get the rule alerts' delivery guarantees.

A health alert is stored like a match: a synthetic entry (feed_url "feed-health:<url>", so it
never mixes with the feed's own entries), a match of rule "feed-health:<feed name>" on a story
named after the episode, and one outbox row keyed by (rule, story, channel). Recording the
same episode twice therefore adds nothing: the unique keys make it idempotent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from monitor.archive._engine import insert
from monitor.archive._entries import alert_key
from monitor.archive._schema import HEALTH_FEED_PREFIX, entries, matches, outbox


def record_health_alert(
    conn: sa.Connection,
    *,
    feed_url: str,
    feed_name: str,
    rule: str,
    event: str,
    anchor: datetime,
    title: str,
    message: str,
    channel: str,
    now: datetime,
) -> bool:
    """Queue one health alert for `channel`; False when this episode's alert already exists."""
    episode = f"{event}:{anchor.isoformat()}"
    story = hashlib.sha256(f"health\x1f{feed_url}\x1f{episode}".encode()).hexdigest()
    synthetic_feed = f"{HEALTH_FEED_PREFIX}{feed_url}"
    entry_row = conn.execute(
        insert(conn, entries)
        .values(
            feed_url=synthetic_feed,
            entry_id=episode,
            feed_name=feed_name,
            canonical_url=None,
            title=title,
            link=feed_url,
            published=now,
            summary="",
            text="",
            author="",
            lang="",
            tags=[],
            fingerprint="",
            content_fingerprint="",
            story=story,
            first_seen_at=now,
            last_seen_at=now,
        )
        .on_conflict_do_nothing(index_elements=[entries.c.feed_url, entries.c.entry_id])
        .returning(entries.c.id)
    ).scalar()
    if entry_row is None:
        entry_row = conn.execute(
            sa.select(entries.c.id).where(
                entries.c.feed_url == synthetic_feed, entries.c.entry_id == episode
            )
        ).scalar_one()
    match_id = conn.execute(
        insert(conn, matches)
        .values(
            rule=rule,
            story=story,
            entry=entry_row,
            hits=[[event, "health"]],
            snippet=message,
            marks=[],
            detected_at=now,
        )
        .on_conflict_do_nothing(index_elements=[matches.c.rule, matches.c.story])
        .returning(matches.c.id)
    ).scalar()
    if match_id is None:
        return False
    created = conn.execute(
        insert(conn, outbox)
        .values(
            match=match_id,
            channel=channel,
            key=alert_key(rule, story, channel),
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.key])
        .returning(outbox.c.id)
    ).scalar()
    return created is not None
