"""Builders for the records the archive stores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from monitor.models import Article, Entry, Hit, Match, ProcessedEntry

FEED_A = "https://a.example/feed.xml"
FEED_B = "https://b.example/rss"


def entry(
    entry_id: str,
    *,
    feed_url: str = FEED_A,
    feed_name: str = "A",
    title: str | None = None,
    canonical_url: str | None = None,
    link: str | None = None,
    fingerprint: str | None = None,
    published: datetime | None = None,
    tags: tuple[str, ...] = (),
) -> Entry:
    url = canonical_url if canonical_url is not None else f"https://news.example/{entry_id}"
    return Entry(
        feed_url=feed_url,
        feed_name=feed_name,
        entry_id=entry_id,
        title=title if title is not None else f"Title {entry_id}",
        link=link if link is not None else f"{url}?utm_source=rss",
        canonical_url=url,
        summary=f"Summary of {entry_id}",
        published=published,
        tags=tags,
        fingerprint=fingerprint or f"fp-{entry_id}",
    )


def match(rule: str = "iraq", *terms: str) -> Match:
    terms = terms or ("troops",)
    return Match(
        rule=rule,
        hits=tuple(Hit(term, "text") for term in terms),
        snippet=f"... {terms[0]} leave ...",
        marks=((4, 4 + len(terms[0])),),
    )


def processed(
    item: Entry,
    *matches: Match,
    text: str = "",
    content: str | None = None,
    channels: Mapping[str, tuple[str, ...]] | None = None,
    article: Article | None = None,
) -> ProcessedEntry:
    return ProcessedEntry(
        entry=item,
        text=text or f"Body of {item.entry_id}",
        article=article,
        matches=matches,
        channels=channels if channels is not None else {m.rule: ("mail", "hook") for m in matches},
        content_fingerprint=content if content is not None else f"content-{item.entry_id}",
    )
