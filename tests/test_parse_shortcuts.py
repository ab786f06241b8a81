"""Parse shortcuts: each gives exactly what the general code it skips would give.

The plain-URL regex stands in for urljoin and urlsplit, `_single_spaced` for splitting lines
into words, the fingerprint's own JSON for json.dumps, and the two helpers we give feedparser
for its own `_urljoin` and `copy.deepcopy`; the references are the code each replaced.
"""

from __future__ import annotations

import copy
import hashlib
import json
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import feedparser.api
import feedparser.mixin
from feedparser.urls import _urljoin as feedparser_urljoin
from feedparser.util import FeedParserDict
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.parse import (
    _PLAIN_URL,
    _ContentParams,
    _is_tracking,
    _link,
    _ShallowContentCopy,
    _squeeze,
    _StrictFeedParser,
    _urljoin,
    canonical_url,
    entry_fingerprint,
)

SCHEMES = ["http", "https", "HTTP", "Https", "ftp", "urn", "javascript", ""]
SEPARATORS = ["://", ":", "//", ":///"]
HOSTS = [
    *("a.example", "News.Example.COM", "a.example.", "x_y.example", "-a", "127.0.0.1", "."),
    *("a.example:80", "a.example:443", "a.example:8080", "a.example:0080", "a.example:99999"),
    *("a.example:", "a.example:x", "u:pw@a.example", "[2001:db8::1]:80", "[::1", "é.example", ""),
]
PATHS = ["", "/", "/a/b", "/a;b", "/a;", "/ä", "/a b", "/a\tb", "/%20", "/../b", "a", "/\x00"]
QUERIES = ["", "?", "?q=1", "?utm_source=x&q=1&fbclid=2", "?&&", "?UTM_X=1", "?utm%5Fa=1", "?a=1?b"]
FRAGMENTS = ["", "#", "#top", "#a#b", "# x"]
EDGES = ["", " ", "\t", "\n", "\x00", "\xa0"]
BASES = ["https://example.org/feeds/atom.xml", "http://Example.ORG:8080/f?x=1", "", "http://[bad/"]

# http(s) URLs, where the shortcut applies or nearly does, and anything else
plain_urls = st.tuples(
    *(st.sampled_from(choices) for choices in (["http://", "https://"], HOSTS, PATHS)),
    *(st.sampled_from(choices) for choices in (QUERIES, FRAGMENTS)),
).map("".join)
other_urls = st.tuples(
    *(st.sampled_from(choices) for choices in (EDGES, SCHEMES, SEPARATORS, HOSTS, PATHS)),
    *(st.sampled_from(choices) for choices in (QUERIES, FRAGMENTS, EDGES)),
).map("".join)
urls = plain_urls | other_urls


def _outcome(function: object, *args: object) -> object:
    assert callable(function)
    try:
        return function(*args)
    except ValueError as exc:
        return ("ValueError", str(exc))


def _canonical_by_urlsplit(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username is not None:
        netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
    kept = [p for p in parts.query.split("&") if p and not _is_tracking(p)]
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, "&".join(kept), ""))


def _link_by_urljoin(raw: str, feed_url: str) -> tuple[str, str] | tuple[None, None]:
    if not raw.strip():
        return None, None
    link = urljoin(feed_url, raw.strip())
    if urlsplit(link).scheme.lower() not in {"http", "https"}:
        return None, None
    return link, _canonical_by_urlsplit(link)


@settings(max_examples=1500, deadline=None)
@given(urls, st.sampled_from(BASES))
def test_link_shortcut_agrees_with_urljoin(raw: str, feed_url: str) -> None:
    assert _outcome(_link, raw, feed_url) == _outcome(_link_by_urljoin, raw, feed_url)


@settings(max_examples=1500, deadline=None)
@given(urls)
def test_canonical_shortcut_agrees_with_urlsplit(url: str) -> None:
    assert _outcome(canonical_url, url) == _outcome(_canonical_by_urlsplit, url)


def test_the_common_link_takes_the_shortcut() -> None:
    link = "https://News.example.com:8443/a/b.html?id=3&utm_source=rss#top"
    assert _PLAIN_URL.fullmatch(link)
    assert _link(link, "http://other.example/feed")[0] == link
    assert canonical_url(link) == "https://news.example.com:8443/a/b.html?id=3"


# Every kind of whitespace and line break, printable and unprintable neighbours, and words
# long enough to make a line take the no-split path.
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0"]
OTHERS = ["\u2028", "\u3000", "\u200b", "\x01", "a", "word", "é", "x" * 70, "Iraq troops", "\n\n"]
texts = st.lists(st.sampled_from(SPACES + OTHERS), max_size=20).map("".join)


def _squeeze_by_words(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_squeeze_agrees_with_splitting_every_line(text: str) -> None:
    assert _squeeze(text) == _squeeze_by_words(text)


any_text = st.text(st.characters(blacklist_categories=()))  # surrogates and controls too


@settings(max_examples=1000, deadline=None)
@given(any_text, any_text, st.none() | any_text)
def test_fingerprint_hashes_what_json_dumps_gives(
    title: str, summary: str, link: str | None
) -> None:
    data = json.dumps([title, summary, link or ""]).encode()
    expected = hashlib.sha256(data).hexdigest()
    assert entry_fingerprint(title=title, summary=summary, link=link) == expected


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["", *BASES]), urls)
def test_feedparser_urljoin_shortcut_agrees_with_feedparsers_own(base: str, uri: str) -> None:
    assert feedparser.mixin._urljoin is _urljoin  # feedparser's parses run through it
    assert _urljoin(base, uri) == feedparser_urljoin(base, uri)


def test_content_parameters_are_copied_not_shared() -> None:
    assert feedparser.mixin.copy is _ShallowContentCopy
    params = FeedParserDict({"type": "text/html", "language": None, "base": "http://x/"})
    copied = _ShallowContentCopy.deepcopy(params)
    assert type(copied) is FeedParserDict
    assert copied == copy.deepcopy(params)
    assert copied is not params
    nested = FeedParserDict({"type": "text/html", "list": ["a"]})  # not ours to shortcut
    deep = _ShallowContentCopy.deepcopy(nested)
    assert deep == nested
    assert deep["list"] is not nested["list"]
    body = b"""<rss version="2.0"><channel><title>T</title>
        <item><title>a</title><description>one</description></item>
        <item><title>b</title><description>two</description></item></channel></rss>"""
    first, second = feedparser.parse(body, response_headers={}).entries
    assert first.summary_detail == {**second.summary_detail, "value": "one"}
    assert first.summary_detail is not second.summary_detail
    assert first.title_detail["value"] == "a"
    assert second.title_detail["value"] == "b"


@given(st.dictionaries(st.sampled_from(["type", "base64", "mode", "language"]), any_text))
def test_content_parameters_get_what_feedparsers_dict_gets(items: dict[str, str]) -> None:
    # the keys feedparser reads its content parameters by: no alias, no computed value
    for key in ("type", "base64"):
        assert _ContentParams(items).get(key, 0) == FeedParserDict(items).get(key, 0)
        assert key not in FeedParserDict.keymap


def test_feedparser_reads_with_our_strict_parser_and_hands_out_its_own_dicts() -> None:
    assert feedparser.api.StrictFeedParser is _StrictFeedParser
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">&lt;b&gt;T</title>
        <entry><id>1</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div>
        </content><summary>s</summary></entry></feed>"""
    parsed = feedparser.parse(body, response_headers={})
    (entry,) = parsed.entries
    details = [parsed.feed.title_detail, entry.summary_detail, *entry.content]
    assert [type(detail) for detail in details] == [FeedParserDict] * 3
    assert [detail["type"] for detail in details] == [
        "text/html",
        "text/plain",
        "application/xhtml+xml",
    ]
