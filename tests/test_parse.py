"""Parsing: each feed in tests/data/parse/ beside the entries (or the error) it must give."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ParseError
from monitor.models import ParsedFeed
from monitor.parse import canonical_url, entry_fingerprint, parse_feed

DATA = Path(__file__).parent / "data" / "parse"
BASE = "http://127.0.0.1:8000"
CASES = sorted(DATA.glob("*.json"))
NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)


def _spec(stem: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / f"{stem}.json").read_text(encoding="utf-8"))
    return result


def _body(spec: dict[str, Any], stem: str) -> bytes:
    name = spec.get("feed") or next(p.name for p in DATA.glob(f"{stem}.*") if p.suffix != ".json")
    return (DATA / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


def _parse(stem: str) -> ParsedFeed:
    spec = _spec(stem)
    return parse_feed(
        _body(spec, stem),
        feed_url=spec["feed_url"],
        feed_name=stem,
        now=datetime.fromisoformat(spec["now"]),
        content_type=spec["content_type"],
    )


def _entry_view(entry: Any) -> dict[str, Any]:
    view = asdict(entry)
    for key in ("fingerprint", "feed_url", "feed_name"):
        view.pop(key)
    view["published"] = entry.published.isoformat() if entry.published else None
    view["updated"] = entry.updated.isoformat() if entry.updated else None
    view["tags"] = list(entry.tags)
    return view


@pytest.mark.parametrize("spec_path", CASES, ids=[p.stem for p in CASES])
def test_feed_gives_its_expected_entries(spec_path: Path) -> None:
    stem = spec_path.stem
    spec = _spec(stem)
    if "error" in spec:
        with pytest.raises(ParseError) as caught:
            _parse(stem)
        assert caught.value.message == spec["error"]
        assert caught.value.subject == stem
        return
    feed = _parse(stem)
    got = {
        "title": feed.title,
        "warning": feed.warning,
        "ttl_minutes": feed.ttl_minutes,
        "update_period": feed.update_period,
        "update_frequency": feed.update_frequency,
        "skip_hours": list(feed.skip_hours),
        "skip_days": list(feed.skip_days),
    }
    assert got == {key: spec[key] for key in got}
    assert [_entry_view(e) for e in feed.entries] == spec["entries"]
    for entry in feed.entries:
        assert entry.feed_url == spec["feed_url"]
        assert entry.feed_name == stem
        assert len(entry.fingerprint) == 64
        for stamp in (entry.published, entry.updated):
            assert stamp is None or stamp.utcoffset() == timedelta(0)


def test_fixture_site_feeds() -> None:
    world, wire = _parse("site.world"), _parse("site.syndication")
    assert len(world.entries) == 4
    assert len(wire.entries) == 2
    assert world.ttl_minutes == 15
    iraq = {e.canonical_url for e in (world.entries[0], wire.entries[0])}
    assert iraq == {f"{BASE}/rsn-iraq-troops.html"}
    broken = _parse("site.broken")
    assert broken.warning
    assert broken.entries
    for stem in ("site.empty", "site.not-a-feed"):
        with pytest.raises(ParseError):
            _parse(stem)


def test_each_encoding_case_reads_the_same_text() -> None:
    titles = {_parse(stem).entries[0].title for stem in ("windows-1252", "utf-16-bom")}
    assert titles == {"“Grüße” aus Köln – naïve résumé"}
    assert _parse("iso-8859-1-http-charset").entries[0].title == '"Grüße" aus Köln - naïve résumé'


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x?utm_source=rss&id=3&utm_medium=feed", "https://a.example/x?id=3"),
        (
            "HTTPS://News.Example.COM:443/Path/Case?B=2&a=1#top",
            "https://news.example.com/Path/Case?B=2&a=1",
        ),
        ("http://a.example:80", "http://a.example/"),
        ("http://a.example:8080/x", "http://a.example:8080/x"),
        ("https://a.example/x?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&igshid=5", "https://a.example/x"),
        (
            "https://a.example/x?ref_src=t&yclid=1&_hsenc=2&UTM_Campaign=z&q=a%20b",
            "https://a.example/x?q=a%20b",
        ),
        ("https://a.example/x?q=1&q=2&empty=&flag", "https://a.example/x?q=1&q=2&empty=&flag"),
        ("https://a.example/x?utm_source=a", "https://a.example/x"),
        ("https://user:pw@a.example/x", "https://user:pw@a.example/x"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("https://a.example./x", "https://a.example/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_fingerprint_changes_iff_what_a_reader_sees_changes() -> None:
    base: dict[str, Any] = {
        "title": "T",
        "summary": "S",
        "link": "https://a.example/x",
    }
    first = entry_fingerprint(**base)
    assert entry_fingerprint(**base) == first
    changes: dict[str, Any] = {
        "title": "T2",
        "summary": "S2",
        "link": "https://a.example/y",
    }
    for key, value in changes.items():
        assert entry_fingerprint(**{**base, key: value}) != first, key


def test_a_future_dated_entry_keeps_its_fingerprint_from_poll_to_poll() -> None:
    body = _body(_spec("edge-cases"), "edge-cases")
    url = "https://gazette.example/feeds/edge.rss"
    polls = [
        parse_feed(body, feed_url=url, feed_name="edge", now=NOW + timedelta(hours=h))
        for h in (0, 1)
    ]
    future = [next(e for e in p.entries if e.entry_id == "gazette-4") for p in polls]
    assert [e.published for e in future] == [NOW, NOW + timedelta(hours=1)]
    assert future[0].fingerprint == future[1].fingerprint
    assert [e.fingerprint for e in polls[0].entries] == [e.fingerprint for e in polls[1].entries]


def test_fingerprint_follows_an_edited_entry() -> None:
    body = _body(_spec("site.world"), "site.world")
    edited = body.replace(b"A sponsor pulled its funding.", b"A sponsor pulled its funding, again.")
    before = parse_feed(body, feed_url=f"{BASE}/world.rss", feed_name="w", now=NOW)
    after = parse_feed(edited, feed_url=f"{BASE}/world.rss", feed_name="w", now=NOW)
    changed = [
        a.entry_id
        for a, b in zip(before.entries, after.entries, strict=True)
        if a.fingerprint != b.fingerprint
    ]
    assert changed == ["rsn-60377"]
    assert replace(after.entries[3], fingerprint="", summary="") == replace(
        before.entries[3], fingerprint="", summary=""
    )


def test_a_naive_now_is_taken_as_utc() -> None:
    body = _body(_spec("edge-cases"), "edge-cases")
    naive = NOW.replace(tzinfo=None)
    feed = parse_feed(body, feed_url="https://gazette.example/f", feed_name="e", now=naive)
    assert next(e for e in feed.entries if e.entry_id == "gazette-4").published == NOW


def test_whitespace_only_body_is_empty() -> None:
    with pytest.raises(ParseError, match="empty response body"):
        parse_feed(b" \r\n\t", feed_url="https://a.example/f", feed_name="a", now=NOW)


def test_a_feed_without_items_is_no_error() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    feed = parse_feed(body, feed_url="https://a.example/f", feed_name="a", now=NOW)
    assert (feed.title, feed.entries, feed.warning) == ("Quiet", (), None)


def test_an_rss_feed_served_as_html_is_still_read() -> None:
    body = _body(_spec("site.world"), "site.world")
    feed = parse_feed(
        body, feed_url=f"{BASE}/world.rss", feed_name="w", now=NOW, content_type="text/html"
    )
    assert len(feed.entries) == 4


def test_relative_links_resolve_against_xml_base_then_the_feed_url() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/">
  <title>Relative</title>
  <entry><id>a</id><title>A</title><link href="posts/a.html"/></entry>
  <entry xml:base="https://other.example/news/"><id>b</id><title>B</title>
    <link href="b.html"/></entry>
  <entry><id>c</id><title>C</title><link href="/top/c.html"/></entry>
</feed>"""
    feed = parse_feed(
        body,
        feed_url="https://example.org/feeds/atom.xml",
        feed_name="relative",
        now=datetime(2024, 1, 1, tzinfo=UTC),
        content_type="application/atom+xml",
    )
    assert [entry.link for entry in feed.entries] == [
        "https://example.org/blog/posts/a.html",
        "https://other.example/news/b.html",
        "https://example.org/top/c.html",
    ]


def test_feedparser_reads_through_our_buffered_expat_driver() -> None:
    """No libxml2 driver is tried (nor used where installed): expat, text in one piece."""
    import xml.sax  # noqa: PLC0415 - only this test asks xml.sax for the driver

    import feedparser.api  # noqa: PLC0415

    assert feedparser.api.PREFERRED_XML_PARSERS == ["monitor.parse"]
    reader = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    pieces: list[str] = []

    class Text(xml.sax.ContentHandler):
        def characters(self, content: str) -> None:
            pieces.append(content)

    reader.setContentHandler(Text())
    reader.feed(b"<t>&lt;p&gt;one\n&amp; two&lt;/p&gt;</t>")
    reader.close()
    assert pieces == ["<p>one\n& two</p>"]
    body = b"<rss version='2.0'><channel><title>T</title><item><guid>g</guid>"
    body += b"<description>&lt;p&gt;a &amp;amp; b&lt;/p&gt;\n&lt;p&gt;c&lt;/p&gt;</description>"
    parsed = parse_feed(
        body + b"</item></channel></rss>", feed_url="http://x/f", feed_name="f", now=NOW
    )
    assert parsed.entries[0].summary.split() == ["a", "&", "b", "c"]
