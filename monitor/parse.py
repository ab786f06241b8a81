"""Parse stage: feed bytes to `Entry` records (ids, links, UTC dates, canonical URLs, hints).

Pure: no I/O, feedparser only ever sees bytes (never a URL). Imports only `models` and
`errors` of ours; feedparser is imported here and nowhere else.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit
from xml.parsers.expat import XMLParserType
from xml.sax import SAXParseException
from xml.sax.expatreader import ExpatParser

import feedparser
import feedparser.api
import feedparser.mixin
from feedparser.util import FeedParserDict

from monitor.errors import ParseError
from monitor.models import Entry, ParsedFeed

# Query parameters that only track the reader; names are compared lower-cased.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt.mc_id",
        "__twitter_impression",
        "cmpid",
        "ncid",
        "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LINK_SCHEMES = frozenset({"http", "https"})
# An absolute http(s) URL that urlsplit and urljoin keep as it is: lower-case scheme, a host
# of plain ASCII (no userinfo, no IPv6 literal), maybe a port, a path without ";" (urlparse
# would split off its params), a non-empty query and fragment if any ("?" or "#" alone would
# be dropped), nothing urlsplit strips or removes (controls, spaces). Groups: scheme, host,
# port, path, query.
_PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9_][A-Za-z0-9_.-]*)(?::([0-9]+))?"
    r"(/[^\x00-\x20\x7f?#;]*)?(?:\?([^\x00-\x20\x7f#]+))?(?:#[^\x00-\x20\x7f]+)?"
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SKIP_HOURS = re.compile(rb"<skipHours\b[^>]*>(.*?)</skipHours\s*>", re.S | re.I)
_SKIP_DAYS = re.compile(rb"<skipDays\b[^>]*>(.*?)</skipDays\s*>", re.S | re.I)
_HOUR = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour\s*>", re.I)
_DAY = re.compile(rb"<day\b[^>]*>\s*([A-Za-z]+)\s*</day\s*>", re.I)
# FeedParserDict.get runs its alias table in Python for every key; the keys read here are
# its canonical ones, so plain dict.get returns the same value at a fraction of the cost.
_get = dict.get
# Bozo reasons that change nothing: served as text/plain, or a sloppy namespace prefix.
_HARMLESS = (feedparser.NonXMLContentType, feedparser.UndeclaredNamespace)


class _BufferedExpatParser(ExpatParser):
    """Python's expat SAX reader with character data buffered.

    Without buffering expat reports text in pieces, one around each entity (`&lt;p&gt;` in
    an escaped HTML summary) and each line, and feedparser spends a Python call on every
    piece: a tenth of a parse of bench/poll.py's feeds. feedparser joins the pieces of an
    element anyway, so the entries are the same.
    """

    _parser: XMLParserType  # made by ExpatParser.reset

    def reset(self) -> None:
        super().reset()
        self._parser.buffer_text = True
        self._parser.buffer_size = 1 << 16


def create_parser() -> ExpatParser:
    """The SAX driver entry point: xml.sax.make_parser imports this module by name."""
    return _BufferedExpatParser()


# feedparser asks xml.sax for the drivers named in PREFERRED_XML_PARSERS first: upstream's
# "drv_libxml2" (which it means to drop, kurtmckee/feedparser#506) would make our parse depend
# on what else is installed, and trying its import costs 80 us a parse where it is not. Ours
# is named instead.
feedparser.api.PREFERRED_XML_PARSERS[:] = [__name__]

# Exact shortcuts for feedparser's per-element work: its URL join, its copies of content
# parameters and its reads of them (pinned: feedparser <7; tests/test_parse_shortcuts.py
# checks that each is in place and gives what feedparser's own code gives).
_feedparser_urljoin = feedparser.mixin._urljoin
_IMMUTABLE = (str, int, type(None))


def _urljoin(base: str, uri: str) -> str:
    """feedparser's `_urljoin` without its regex and urljoin where they change nothing.

    With no base URI (we give feedparser none, see `parse_feed`) it joins '' with '' on every
    start tag, 1 us each, a fifth of a millisecond a feed; joined to no base, a URI is
    itself, once feedparser's fix of `scheme:///` (extra slashes) has nothing to fix.
    """
    if base or not isinstance(uri, str) or ":///" in uri:
        return str(_feedparser_urljoin(base, uri))
    return uri


class _ShallowContentCopy:
    """Stands for the `copy` module in feedparser.mixin, whose only use is to deep-copy an
    element's content parameters (type, language, base) into each `*_detail`: deepcopy's
    generic walk costs 6 us a copy, 40 copies a feed. Their values are strings or None, so a
    new dict of the same items is the same copy; anything else still goes to deepcopy."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if type(value) in _CONTENT_DICTS and all(
            isinstance(item, _IMMUTABLE) for item in value.values()
        ):
            return FeedParserDict(value)
        return copy.deepcopy(value, memo)


class _ContentParams(FeedParserDict):  # type: ignore[misc] # feedparser is untyped
    """The content parameters of the element being read, `get` as plain as dict's.

    feedparser asks them for `type` and `base64` forty times an entry, each time through
    FeedParserDict's alias table in Python (a missing key raises and catches a KeyError:
    1.2 us). Neither is an alias or a computed key, so dict.get gives the same value.
    """

    get = dict.get


_CONTENT_DICTS = (FeedParserDict, _ContentParams)


class _StrictFeedParser(feedparser.api.StrictFeedParser):  # type: ignore[misc]
    """feedparser's strict (SAX) parser, holding its content parameters as `_ContentParams`."""

    contentparams: dict[str, Any]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.contentparams = _ContentParams(self.contentparams)

    def push_content(self, *args: Any) -> None:
        super().push_content(*args)
        self.contentparams = _ContentParams(self.contentparams)


feedparser.mixin._urljoin = _urljoin
feedparser.mixin.copy = _ShallowContentCopy
feedparser.api.StrictFeedParser = _StrictFeedParser

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_DECL_ENCODING = re.compile(r"""^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""", re.I)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.S | re.I)


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    feed_name: str,
    now: datetime,
    content_type: str | None = None,
) -> ParsedFeed:
    """Read one fetched feed body. Raises ParseError (subject=feed_name) when it is no feed.

    A malformed feed that still yields entries is returned with `warning` set. Per-entry
    rules: the id is the guid, else the link, else a hash of title and date; `published`
    falls back to `updated`; dates are converted to UTC, None when the feed gives none (the
    archive then uses the first-seen time) and clamped to `now` when in the future; of
    duplicate ids the first entry wins; an item with no title, link or text is dropped;
    `link` is kept only when it resolves to http(s) (a `urn:` guid is no link); the
    fingerprint covers title, text and link, not dates (re-dating is no news).
    """
    if not body.strip():
        raise ParseError("empty response body", subject=feed_name)
    body, content_type = _prepare(body, content_type)
    # No content-location: feedparser would resolve it against every element's xml:base (a
    # tenth of the parse); `_link` resolves entry links against the feed URL itself.
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    # We keep plain text only (`_html_text` drops scripts and styles): feedparser's HTML
    # sanitizer and its rewriting of links inside content would cost half of the parse.
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    exc = _get(parsed, "bozo_exception") if _get(parsed, "bozo") else None
    reason = _bozo_reason(exc)
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    entries = _entries(parsed.entries, feed_url=feed_url, feed_name=feed_name, now=now)
    if not entries and not _get(parsed, "version"):
        raise ParseError(
            _not_a_feed(body, content_type, reason), subject=feed_name, kind="not-a-feed"
        )
    problem = None
    if reason:
        encoding = isinstance(exc, feedparser.CharacterEncodingOverride)
        problem = f"{'wrong character encoding' if encoding else 'malformed feed'} ({reason})"
    if not entries and isinstance(exc, SAXParseException):
        raise ParseError(f"{problem}: no entries could be read", subject=feed_name)
    warning = None
    if problem:
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        warning = f"{problem}: parsed {count} anyway"
    channel = parsed.feed
    return ParsedFeed(
        title=_plain(_get(channel, "title_detail"), _get(channel, "title", "")),
        entries=tuple(entries),
        warning=warning,
        ttl_minutes=_positive_int(_get(channel, "ttl")),
        update_period=(_get(channel, "sy_updateperiod") or "").strip().lower() or None,
        update_frequency=_positive_int(_get(channel, "sy_updatefrequency")),
        skip_hours=_skip_hours(body),
        skip_days=_skip_days(body),
    )


def canonical_url(url: str) -> str:
    """The link as one story's identity: no tracking parameters, no fragment.

    Scheme and host are lower-cased, the default port dropped, an empty path becomes "/";
    the remaining query parameters keep their order and their original encoding.
    """
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    return _plain_canonical(plain) if plain else _split_canonical(url)


def entry_fingerprint(*, title: str, summary: str, link: str | None) -> str:
    """sha256 over what a reader reads of an entry: it changes iff one of these changes.

    Dates are left out on purpose: a feed that re-dates old items (or stamps every item with
    the time of the request) would otherwise have every item processed again at each poll,
    its pages fetched again, and would never look silent. Only new words are news.
    """
    # json.dumps([title, summary, link or ""]) to the byte: its list is "[", the strings as
    # its default encoder quotes them, ", " between; without the encoder's per-call setup.
    data = f"[{_json_string(title)}, {_json_string(summary)}, {_json_string(link or '')}]"
    return hashlib.sha256(data.encode()).hexdigest()


def _prepare(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """Settle the two encoding cases feedparser gets wrong before it sees the bytes.

    A byte-order mark wins (feedparser misreads UTF-16 without a declaration): the body is
    re-encoded as UTF-8 without its declared encoding. And `text/xml` without a charset
    means us-ascii by RFC 3023, which no publisher intends: the XML declaration decides.
    """
    mime, _, params = (content_type or "").partition(";")
    mime = mime.strip().lower()
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            try:
                text = body[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                break
            body = _DECL_ENCODING.sub(r"\1", text, count=1).encode("utf-8")
            return body, f"{mime or 'application/xml'}; charset=utf-8"
    if mime.startswith("text/") and "xml" in mime and "charset" not in params.lower():
        return body, "application/xml"
    return body, content_type


def _entries(
    items: Iterable[dict[str, Any]], *, feed_url: str, feed_name: str, now: datetime
) -> list[Entry]:
    seen: set[str] = set()
    out: list[Entry] = []
    for item in items:
        entry = _entry(item, feed_url=feed_url, feed_name=feed_name, now=now)
        if not (entry.title or entry.link or entry.summary):
            continue  # an item with nothing to read (what a truncated feed leaves behind)
        if entry.entry_id in seen:
            continue  # duplicate guid in one feed: the first occurrence wins
        seen.add(entry.entry_id)
        out.append(entry)
    return out


def _entry(item: dict[str, Any], *, feed_url: str, feed_name: str, now: datetime) -> Entry:
    title = _plain(_get(item, "title_detail"), _get(item, "title", ""))
    link, canonical = _link(_get(item, "link"), feed_url)
    # (FeedParserDict.get("updated_parsed") would fall back to published, with a warning)
    updated = _utc(_get(item, "updated_parsed"))
    published = _utc(_get(item, "published_parsed")) or updated
    summary = _summary(item)
    entry_id = (_get(item, "id") or "").strip() or link
    if not entry_id:
        stamp = published.isoformat() if published else ""
        basis = json.dumps([title, stamp] if title or stamp else [summary])
        entry_id = "sha256:" + hashlib.sha256(basis.encode()).hexdigest()[:32]
    return Entry(
        feed_url=feed_url,
        feed_name=feed_name,
        entry_id=entry_id,
        title=title,
        link=link,
        canonical_url=canonical,
        summary=summary,
        author=_plain(_get(item, "author_detail"), _get(item, "author", "")),
        published=min(published, now) if published else None,
        updated=min(updated, now) if updated else None,
        tags=_tags(_get(item, "tags") or ()),
        fingerprint=entry_fingerprint(title=title, summary=summary, link=link),
    )


def _link(raw: object, feed_url: str) -> tuple[str, str] | tuple[None, None]:
    """An absolute http(s) link and its canonical URL; None twice for anything else (e.g. a
    `urn:` guid feedparser used as link)."""
    link = raw.strip() if isinstance(raw, str) else ""
    if not link:
        return None, None
    plain = _PLAIN_URL.fullmatch(link)
    if plain:
        # urljoin hands such a link back unchanged, at the cost of three urlsplits; only its
        # ValueError on a malformed feed URL is kept (urlsplit caches the feed URL's parts).
        urlsplit(feed_url)
        return link, _plain_canonical(plain)
    link = urljoin(feed_url, link)
    if urlsplit(link).scheme.lower() not in _LINK_SCHEMES:
        return None, None
    return link, canonical_url(link)


def _utc(value: object) -> datetime | None:
    """feedparser's *_parsed struct_time is already UTC; None when absent or impossible."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value.tm_sec, 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _summary(item: dict[str, Any]) -> str:
    """Plain text of the longer of the entry's content and summary."""
    summary = _plain(_get(item, "summary_detail"), _get(item, "summary", ""))
    content = _get(item, "content")
    if not content:  # (most RSS items)
        return summary
    candidates = [_plain(c, _get(c, "value", "")) for c in content]
    return max([*candidates, summary], key=len)  # the first longest: content before summary


def _plain(detail: dict[str, Any] | None, fallback: object) -> str:
    value = _get(detail, "value", fallback) if detail else fallback
    text = value if isinstance(value, str) else ""
    kind = (_get(detail, "type") or "") if detail else "text/html"
    if "html" in kind:
        return _html_text(text)
    return _squeeze(text)


def _tags(tags: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    names = [_squeeze(_get(t, "term") or _get(t, "label") or "") for t in tags]
    return tuple(dict.fromkeys(filter(None, names)))


def _positive_int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def _skip_hours(body: bytes) -> tuple[int, ...]:
    """RSS <skipHours> (feedparser keeps only the last <hour>, so read the bytes)."""
    found = _SKIP_HOURS.search(body)
    hours = (int(h) for h in _HOUR.findall(found.group(1))) if found else ()
    return tuple(sorted({h for h in hours if 0 <= h <= 23}))


def _skip_days(body: bytes) -> tuple[str, ...]:
    found = _SKIP_DAYS.search(body)
    days = {d.decode().capitalize() for d in _DAY.findall(found.group(1))} if found else set()
    return tuple(d for d in _DAYS if d in days)


def _bozo_reason(exc: object) -> str | None:
    """Why feedparser flagged the document, in one line; None when it does not matter."""
    if exc is None or isinstance(exc, _HARMLESS):
        return None
    if isinstance(exc, SAXParseException):
        detail = exc.getMessage().removeprefix("not well-formed").strip(" ()")
        where = f"not well-formed XML at line {exc.getLineNumber()}"
        return f"{where}: {detail}" if detail else where
    return str(exc) or type(exc).__name__


def _not_a_feed(body: bytes, content_type: str | None, reason: str | None) -> str:
    mime = (content_type or "").split(";")[0].strip().lower() or "no content type"
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    if "html" in mime or _HTML_START.match(head):
        return f"not a feed: got an HTML page ({mime})"
    if head.lstrip().startswith((b"{", b"[")):
        return f"not a feed: got JSON ({mime}); only RSS, Atom and RDF feeds are read"
    if not head.lstrip().startswith(b"<"):
        return f"not a feed: not XML ({mime})"
    return f"not a feed: {reason or 'no RSS, Atom or RDF root element'}"


def _plain_canonical(plain: re.Match[str]) -> str:
    """canonical_url of a URL `_PLAIN_URL` matched: its parts read off the match, as urlsplit
    would give them."""
    scheme, host, port, path, query = plain.groups()
    number = int(port) if port else None
    return _canonical(
        scheme=scheme,
        host=host.lower().rstrip("."),
        port=number if number is not None and number <= 65535 else None,  # as .port raises
        userinfo=None,
        path=path or "",
        query=query or "",
    )


def _split_canonical(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return _canonical(
        scheme=parts.scheme.lower(),
        host=host,
        port=port,
        userinfo=parts.netloc.rpartition("@")[0] if parts.username is not None else None,
        path=parts.path,
        query=parts.query,
    )


def _canonical(
    *, scheme: str, host: str, port: int | None, userinfo: str | None, path: str, query: str
) -> str:
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if userinfo is not None:
        netloc = f"{userinfo}@{netloc}"
    query = "&".join([p for p in query.split("&") if p and not _is_tracking(p)])
    path = path or ("/" if netloc else "")
    if not (scheme and netloc):
        return urlunsplit((scheme, netloc, path, query, ""))
    # What urlunsplit gives here (a path after a host starts with "/"), without its argument
    # coercion, which took most of its time.
    return f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"


def _is_tracking(param: str) -> bool:
    name = unquote_plus(param.partition("=")[0]).strip().lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


_LONG_LINE = 64  # shorter text is split into words at once: that costs no more than a check
_TWO_SPACES = re.compile("  ")  # finds "  " faster than `in` does
_ASCII_SPACES = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # what str.split() splits on, but " "


def _squeeze(text: str) -> str:
    """Each line's whitespace runs made single spaces; blank lines dropped."""
    if len(text) < _LONG_LINE and text.isprintable():  # one line: no line break is printable
        return " ".join(text.split())
    # Long text is nearly always squeezed already but for its blank lines: without them, one
    # look at all of it tells so in a third of the time splitting its lines into words takes.
    joined = "\n".join(filter(None, text.split("\n")))
    if _single_spaced(joined.replace("\n", " ")):
        return joined
    lines = [
        line if len(line) >= _LONG_LINE and _single_spaced(line) else " ".join(line.split())
        for line in text.splitlines()
    ]
    return "\n".join([line for line in lines if line])


def _single_spaced(text: str) -> bool:
    """Whether `text` is `" ".join(text.split())` already: words, one space between each two."""
    if text[:1] == " " or text[-1:] == " " or _TWO_SPACES.search(text):
        return False
    if text.isascii():  # unchanged by deleting the other ASCII whitespace: there is none
        return len(text.encode().translate(None, _ASCII_SPACES)) == len(text)
    return text.isprintable()  # every whitespace character but " " is unprintable


# fmt: off
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
))
# fmt: on
_HIDDEN = frozenset({"script", "style", "template", "noscript"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, one line per block."""
    if "<" not in html and "&" not in html:
        return _squeeze(html)
    simple = _simple_html_text(html)
    if simple is not None:
        return _squeeze(simple)
    return _squeeze(_parsed_html_text(html))


def _parsed_html_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return "".join(collector.parts)


# A tag as simple as nearly every feed summary's: a name, attributes with quoted or plain
# values, maybe "/" before ">"; and a plain end tag. Groups: end tag name, start tag name, "/".
_SIMPLE_TAG = re.compile(
    r"<(?:/([a-zA-Z][a-zA-Z0-9]*)\s*"
    r"|([a-zA-Z][a-zA-Z0-9]*)"
    r"(?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`/]+))?)*\s*(/?))>"
)


def _simple_html_text(html: str) -> str | None:
    """What `_parsed_html_text` gives, for fragments made only of simple tags and text, by one
    regex split (HTMLParser costs about four times as much); None for anything else: a `<`
    that is no simple tag (comments, doctypes, odd tags, a bare `<`), or a hidden element."""
    pieces = _SIMPLE_TAG.split(html)
    parts: list[str] = []
    for index in range(0, len(pieces), 4):
        text = pieces[index]
        if "<" in text:
            return None
        parts.append(unescape(text) if "&" in text else text)
        if index + 1 == len(pieces):
            break
        end, start, closed = pieces[index + 1 : index + 4]
        name = (end or start).lower()
        if name in _HIDDEN:
            return None
        if name in _BLOCKS:  # "<br/>" is a start and an end tag, as HTMLParser reports it
            parts.append("\n\n" if closed else "\n")
    return "".join(parts)


__all__ = ["TRACKING_PARAMS", "canonical_url", "entry_fingerprint", "parse_feed"]
