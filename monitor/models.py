"""Typed records the stages hand each other; no behaviour beyond small derived properties.

Pure: imports only `errors`. Every datetime here is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the archive remembers about one feed between polls (keyed by the configured url)."""

    url: str
    current_url: str | None = None  # where a 301/308 moved it; polled instead of `url`
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 of the last body, for servers without validators
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    last_status: int | None = None
    error_count: int = 0  # consecutive failed polls
    last_error: str | None = None
    last_error_kind: str | None = None
    last_error_at: datetime | None = None
    last_new_entry_at: datetime | None = None
    disabled: bool = False  # set on 410 Gone or by the user
    # Feed health (monitor.health): streaks, and the health alert that is out, if any.
    failing_since: datetime | None = None  # first failed poll of the current failing run
    ok_streak: int = 0  # consecutive good polls
    health: str | None = None  # "failing" or "silent" while that health alert stands
    health_since: datetime | None = None  # the episode that alert is about
    typical_gap: timedelta | None = None  # median gap between the feed's items (full reads)


def _replacer(cls: type[Any]) -> Callable[..., Any]:
    """`dataclasses.replace` for one frozen slots dataclass without `__post_init__`, generated:
    each field is a keyword with a marker default and goes into the copy through its slot.

    `replace` gathers every field into a dict of keywords and calls the class, whose frozen
    `__init__` sets each through `object.__setattr__`: 5.6 us for FeedState's 19 fields, which
    a 304 poll changes three times; this takes 1.2 us.
    """
    names = [f.name for f in fields(cls)]
    if not all(f.init for f in fields(cls)) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: a field outside __init__, or a __post_init__")
    params = ", ".join(f"{name}=_KEEP" for name in names)
    sets = "".join(
        f"    _set_{name}(new, self.{name} if {name} is _KEEP else {name})\n" for name in names
    )
    source = f"def replace(self, /, *, {params}):\n    new = _new(_cls)\n{sets}    return new\n"
    namespace: dict[str, Any] = {"_KEEP": object(), "_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{name}": cls.__dict__[name].__set__ for name in names})
    exec(source, namespace)  # noqa: S102 - source is built from the class's own field names
    function: Callable[..., Any] = namespace["replace"]
    return function


# `dataclasses.replace(state, **changes)` for FeedState, faster (see `_replacer`)
replace_state: Callable[..., FeedState] = _replacer(FeedState)


@dataclass(frozen=True, slots=True)
class Fetched:
    """One HTTP exchange as the fetch stage reports it (after redirects and decoding)."""

    url: str  # what was asked for
    final_url: str  # after redirects
    status: int  # 200 or 304
    body: bytes = b""  # empty for 304
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None  # set when a 301/308 chain moved the resource

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, normalised. `fingerprint` changes iff the item's content changes."""

    feed_url: str  # the configured feed url: the feed's identity
    feed_name: str
    entry_id: str  # guid, else link, else a hash of title and date
    title: str
    link: str | None  # absolute
    canonical_url: str | None  # link without tracking parameters and fragment
    summary: str  # plain text of the feed's summary/content (HTML removed)
    author: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    tags: tuple[str, ...] = ()  # the item's categories
    fingerprint: str = ""

    def __reduce__(self) -> tuple[type[Entry], tuple[object, ...]]:
        # Unpickled by __init__ from the field values: a slots dataclass's own __setstate__
        # calls fields() for each of the entries parse workers send the poller.
        return Entry, _field_values(self)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed body turned into entries, with the hints the poller uses for its schedule."""

    title: str
    entries: tuple[Entry, ...]
    warning: str | None = None  # set when feedparser reported a recoverable problem (bozo)
    ttl_minutes: int | None = None  # RSS <ttl>
    update_period: str | None = None  # sy:updatePeriod (hourly, daily, ...)
    update_frequency: int | None = None  # sy:updateFrequency
    skip_hours: tuple[int, ...] = ()
    skip_days: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[type[ParsedFeed], tuple[object, ...]]:
        return ParsedFeed, _field_values(self)  # as Entry's


@dataclass(frozen=True, slots=True)
class Article:
    """The main content of a page as extraction sees it."""

    url: str | None
    title: str
    text: str
    author: str | None = None
    date: datetime | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """What the matcher reads: the fields the rule language can name."""

    title: str = ""
    text: str = ""  # extracted main text
    summary: str = ""  # the feed's own summary/content
    author: str = ""
    feed: str = ""  # feed name, title and host, space-separated
    url: str = ""
    tags: tuple[str, ...] = ()  # the entry's categories
    lang: str = ""
    feed_name: str = ""  # for rules restricted with `feeds = [...]`
    feed_tags: tuple[str, ...] = ()  # the feed's configured tags, for rules with `tags = [...]`


def _field_values(record: Entry | ParsedFeed) -> tuple[object, ...]:
    """A slots dataclass's field values in order: its __slots__ are its fields."""
    return tuple(map(record.__getattribute__, record.__slots__))


def feed_label(name: str, title: str, url: str) -> str:
    """What `feed:` searches: the feed's configured name, its own title and its host."""
    return " ".join(part for part in (name, title, urlsplit(url).hostname) if part)


def entry_document(
    entry: Entry,
    article: Article | None,
    *,
    feed: str,
    feed_name: str,
    feed_tags: tuple[str, ...],
) -> Document:
    """The document rules read for one entry: the article fills what the feed left out.

    Built the same way in the poller and in the parse workers, which match feeds read
    without their articles.
    """
    return Document(
        title=entry.title or (article.title if article else ""),
        text=article.text if article else "",
        summary=entry.summary,
        author=entry.author or (article.author or "" if article else ""),
        feed=feed,
        url=entry.link or "",
        tags=entry.tags,
        lang=(article.language or "") if article else "",
        feed_name=feed_name,
        feed_tags=feed_tags,
    )


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as the matcher compiles it."""

    name: str
    query: str
    language: str = "english"  # a Snowball stemmer name
    stemming: bool = True
    feeds: tuple[str, ...] = ()  # only these feed names (empty: all)
    feed_tags: tuple[str, ...] = ()  # only feeds with one of these tags (empty: all)


@dataclass(frozen=True, slots=True)
class Hit:
    """One term of a rule found in one field, e.g. ('troop withdrawal', 'text')."""

    term: str
    field: str


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that fired on a document, with why: the hits and a marked snippet."""

    rule: str
    hits: tuple[Hit, ...]
    snippet: str  # about 200 characters of plain text around the first hit
    marks: tuple[tuple[int, int], ...] = ()  # [start, end) spans of hits inside `snippet`

    @property
    def matched(self) -> tuple[str, ...]:
        """The distinct matched terms, in order of first appearance."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))


@dataclass(frozen=True, slots=True)
class ProcessedEntry:
    """An entry after extraction and matching, ready to be archived in the poll's transaction."""

    entry: Entry
    # the article's main text, as matched; empty without an article (the summary is matched
    # and archived beside it: storing it twice doubled the archive's writes)
    text: str
    article: Article | None
    matches: tuple[Match, ...]
    channels: Mapping[str, tuple[str, ...]]  # rule name -> channel names to alert
    content_fingerprint: str  # sha256 of the normalised text: one story across URLs


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert for one channel. `id` is stable per (rule, story, channel) across retries."""

    id: str
    rule: str
    channel: str
    title: str
    url: str
    feed: str
    published: datetime | None
    matched: tuple[str, ...]
    snippet: str
    marks: tuple[tuple[int, int], ...]
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An outbox row claimed for delivery."""

    outbox_id: int
    alert: Alert
    attempts: int  # attempts made before this one
    created_at: datetime


__all__ = [
    "Alert",
    "Article",
    "Document",
    "Entry",
    "FeedState",
    "Fetched",
    "Hit",
    "Match",
    "ParsedFeed",
    "PendingAlert",
    "ProcessedEntry",
    "RuleSpec",
]
