"""Tools for writing rules and reporting bugs: `parse`, `extract` and `test-rule`.

They show exactly what the pipeline sees: the same fetch, parse, extraction and matcher.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from monitor.archive import Archive
from monitor.cli.output import config_file, print_json, query_is_valid
from monitor.errors import MonitorError
from monitor.extract import extract_article
from monitor.fetch import Fetcher, FetchOptions
from monitor.models import Article, Document, Match, RuleSpec
from monitor.parse import parse_feed
from monitor.query import compile_rules

NO_MATCH = 1
INVALID = 2


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


async def _download(url: str, *, page: bool) -> tuple[bytes, str, str]:
    # The user named this URL on the command line: intranet addresses are allowed.
    async with Fetcher(FetchOptions(allow_private=True)) as fetcher:
        got = await (fetcher.fetch_page(url) if page else fetcher.fetch(url))
    return got.body, got.final_url, got.content_type


def _read(source: str, *, page: bool) -> tuple[bytes, str, str | None]:
    if _is_url(source):
        return asyncio.run(_download(source, page=page))
    path = Path(source)
    return path.read_bytes(), path.resolve().as_uri(), None


def parse(args: argparse.Namespace) -> int:
    body, url, content_type = _read(args.source, page=False)
    feed = parse_feed(
        body, feed_url=url, feed_name=url, now=datetime.now(UTC), content_type=content_type
    )
    if feed.warning:
        print(f"warning: {feed.warning}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "title": feed.title,
                "warning": feed.warning,
                "entries": [asdict(entry) for entry in feed.entries],
            }
        )
        return 0
    print(f"{feed.title} ({len(feed.entries)} entries)")
    for entry in feed.entries:
        print(f"\n- {entry.title}")
        print(f"  id:        {entry.entry_id}")
        print(f"  link:      {entry.link}")
        print(f"  canonical: {entry.canonical_url}")
        print(f"  published: {entry.published.isoformat() if entry.published else '-'}")
        if entry.author:
            print(f"  author:    {entry.author}")
        if entry.tags:
            print(f"  tags:      {', '.join(entry.tags)}")
        print(f"  summary:   {entry.summary[:300]}")
    return 0


def _article(source: str) -> Article:
    body, url, _ = _read(source, page=True)
    return extract_article(body, url=url)


def extract(args: argparse.Namespace) -> int:
    article = _article(args.source)
    if args.json:
        print_json(asdict(article))
        return 0
    print(f"title:    {article.title}")
    print(f"author:   {article.author or '-'}")
    print(f"date:     {article.date.isoformat() if article.date else '-'}")
    print(f"language: {article.language or '-'}")
    print(f"url:      {article.url or '-'}")
    print()
    print(article.text)
    return 0


def marked(match: Match, left: str = "[[", right: str = "]]") -> str:
    """The snippet with each hit wrapped in markers, for terminals and plain text."""
    out, last = [], 0
    for start, end in sorted(match.marks):
        out += [match.snippet[last:start], left, match.snippet[start:end], right]
        last = end
    out.append(match.snippet[last:])
    return "".join(out)


def test_rule(args: argparse.Namespace) -> int:
    if not query_is_valid(args.query):
        return INVALID
    spec = RuleSpec(
        name="test", query=args.query, language=args.language, stemming=not args.no_stemming
    )
    ruleset = compile_rules([spec])
    try:
        documents = list(_documents(args))
    except (MonitorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return INVALID
    fired = 0
    for label, doc in documents:
        matches = ruleset.match(doc)
        fired += bool(matches)
        if args.json:
            print_json(
                {
                    "source": label,
                    "match": bool(matches),
                    "matched": list(matches[0].matched) if matches else [],
                    "hits": [asdict(h) for h in matches[0].hits] if matches else [],
                    "snippet": matches[0].snippet if matches else "",
                    # [start, end) of each hit in the snippet, as alerts and the archive keep them
                    "marks": [list(mark) for mark in matches[0].marks] if matches else [],
                }
            )
        elif matches:
            print(f"match: {label}")
            print(f"  matched: {', '.join(f'{h.term} ({h.field})' for h in matches[0].hits)}")
            print(f"  snippet: {marked(matches[0])}")
        elif not args.archive:
            print(f"no match: {label}")
    if args.archive and not args.json:
        print(f"{fired} of {len(documents)} archived entries would have fired")
    return 0 if fired else NO_MATCH


def _documents(args: argparse.Namespace) -> list[tuple[str, Document]]:
    if args.text is not None:
        return [("text", Document(text=args.text))]
    if args.file is not None or args.url is not None:
        source = str(args.file) if args.file is not None else args.url
        article = _article(source)
        return [
            (
                source,
                Document(
                    title=article.title,
                    text=article.text,
                    author=article.author or "",
                    url=article.url or "",
                    lang=article.language or "",
                ),
            )
        ]
    return _archived(args)


def _archived(args: argparse.Namespace) -> list[tuple[str, Document]]:
    from monitor.config import load_settings, parse_duration  # noqa: PLC0415

    settings = load_settings(config_file(args))
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    archive = Archive.open(settings.archive.url)
    try:
        return [
            (f"{stored.title} <{stored.link}>", stored.document())
            for stored in archive.iter_entries(since=since)
        ]
    finally:
        archive.close()
