"""What users look at between alerts: status, feeds, search, export and the alert outbox.

Each view reads the archive named by the config. Human output is a rich table; `--json` prints
one JSON object per line for scripts. Long work shows a progress bar only on a terminal.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from monitor.archive import Archive, MatchRow
from monitor.cli.inspect import marked
from monitor.cli.output import config_file, print_json, progress, query_is_valid
from monitor.config import Settings, load_settings, parse_duration
from monitor.models import FeedState, RuleSpec
from monitor.query import compile_rules, parse_query, prefix_clauses

UP_WITHIN = timedelta(seconds=60)  # four missed heartbeats (every 15 s) and a daemon is down
INVALID = 2
INDEXED_FIELDS = frozenset({"title", "text", "summary"})  # what the archive's index holds
# The webhook payload's fields (monitor.alerts.PAYLOAD_FIELDS, not imported: `--help` stays fast)
EXPORT_FIELDS = (
    "id", "rule", "title", "url", "feed", "published", "matched", "snippet", "detected_at",
)  # fmt: skip


@contextmanager
def _archive(args: argparse.Namespace) -> Iterator[tuple[Settings, Archive]]:
    settings = load_settings(config_file(args))
    archive = Archive.open(settings.archive.url)
    try:
        yield settings, archive
    finally:
        archive.close()


def _since(args: argparse.Namespace, now: datetime) -> datetime | None:
    return now - parse_duration(args.since) if getattr(args, "since", None) else None


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold", show_header=any(columns))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# -- status and feeds -------------------------------------------------------------------------


def _feed_health(state: FeedState | None) -> str:
    if state is None or state.last_polled_at is None:
        return "new"
    if state.disabled:
        return "disabled"
    return "failing" if state.error_count else "ok"


def status(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with _archive(args) as (settings, archive):
        beats = archive.heartbeats()
        states = {s.url: s for s in archive.feed_states()}
        counts = archive.outbox_counts()
        failed = archive.alerts(status="failed", limit=5)
        disabled = archive.disabled_channels()
    alive = [b for b in beats if now - b.beat_at <= UP_WITHIN]
    feeds = [states.get(feed.url) for feed in settings.feeds if feed.enabled]
    health = [_feed_health(state) for state in feeds]
    polled = [s.last_polled_at for s in feeds if s and s.last_polled_at]
    due = [s.next_poll_at for s in feeds if s and s.next_poll_at and not s.disabled]
    report: dict[str, Any] = {
        "daemon": "up" if alive else "down",
        "daemons": [
            {"owner": b.owner, "started_at": b.started_at, "beat_at": b.beat_at, **b.info}
            for b in alive
        ],
        "feeds": len(feeds),
        "feeds_ok": health.count("ok"),
        "feeds_failing": health.count("failing"),
        "feeds_disabled": health.count("disabled"),
        "feeds_new": health.count("new"),
        "last_poll": max(polled, default=None),
        "next_poll": min(due, default=None),
        "outbox": counts,
        "disabled_channels": disabled,
        "failed_deliveries": [
            {"id": a.id, "rule": a.rule, "channel": a.channel, "error": a.last_error}
            for a in failed
        ],
    }
    if args.json:
        print_json(report)
        return 0
    daemon = ", ".join(f"{b.owner} (beat {_when(b.beat_at)})" for b in alive) or "not running"
    rows = [
        ["daemon", "up: " + daemon if alive else "down"],
        [
            "feeds",
            f"{len(feeds)}: {report['feeds_ok']} ok, {report['feeds_failing']} failing, "
            f"{report['feeds_disabled']} disabled, {report['feeds_new']} not yet polled",
        ],
        ["last poll", _when(report["last_poll"])],
        ["next poll", _when(report["next_poll"])],
        ["outbox", ", ".join(f"{n} {status}" for status, n in counts.items())],
    ]
    rows += [[f"failed #{a.id}", f"{a.rule} -> {a.channel}: {a.last_error or '?'}"] for a in failed]
    _table("news-monitor status", ["", ""], rows)
    return 0


def feeds(args: argparse.Namespace) -> int:
    with _archive(args) as (settings, archive):
        states = {s.url: s for s in archive.feed_states()}
        entries = archive.entry_counts()
    rows: list[dict[str, Any]] = []
    for feed in settings.feeds:
        state = states.get(feed.url) or FeedState(feed.url)
        rows.append(
            {
                "name": feed.name,
                "url": state.current_url or feed.url,
                "health": "off" if not feed.enabled else _feed_health(states.get(feed.url)),
                "health_alert": state.health,  # the health alerts' view: failing, silent, ...
                "last_poll": state.last_polled_at,
                "http_status": state.last_status,
                "entries": entries.get(feed.url, 0),
                "errors": state.error_count,
                "last_error_kind": state.last_error_kind,
                "last_error": state.last_error,
                "last_error_at": state.last_error_at,
                "next_poll": state.next_poll_at,
            }
        )
    if args.json:
        for row in rows:
            print_json(row)
        return 0
    _table(
        "feeds",
        ["feed", "health", "last poll", "http", "entries", "errors", "last error", "next poll"],
        [
            [
                f"{r['name']}\n{r['url']}",
                r["health"] + (f" ({r['health_alert']})" if r["health_alert"] else ""),
                _when(r["last_poll"]),
                str(r["http_status"] or "-"),
                str(r["entries"]),
                str(r["errors"]),
                f"{r['last_error_kind']}: {r['last_error']}" if r["last_error"] else "-",
                _when(r["next_poll"]),
            ]
            for r in rows
        ],
    )
    return 0


# -- search and export ------------------------------------------------------------------------


def _search_spec(args: argparse.Namespace, settings: Settings) -> RuleSpec:
    """The query as a rule: `--rule`'s language and stemming unless given, else English."""
    language, stemming = "english", True
    for rule in settings.rules:
        if rule.name == args.rule:
            language, stemming = rule.language, rule.stemming
    return RuleSpec(
        name="search",
        query=args.query,
        language=args.language or language,
        stemming=stemming and not args.no_stemming,
    )


def _found(
    args: argparse.Namespace, settings: Settings, archive: Archive
) -> Iterator[tuple[MatchRow, Any]]:
    spec = _search_spec(args, settings)
    ruleset = compile_rules([spec])
    clauses = prefix_clauses(parse_query(spec.query), INDEXED_FIELDS, spec.language)
    since = _since(args, datetime.now(UTC))
    tried: dict[int, Any] = {}  # entry id -> the matcher's verdict (several rules, one entry)
    seen: set[str] = set()
    for row, stored in archive.search_candidates(clauses, since=since, rule=args.rule):
        if row.story in seen and args.rule is None:
            continue  # one line per story, even when several rules matched it
        if stored.id not in tried:
            found = ruleset.match(stored.document())
            tried[stored.id] = found[0] if found else None
        if tried[stored.id] is not None:
            seen.add(row.story)
            yield row, tried[stored.id]


def search(args: argparse.Namespace) -> int:
    if not query_is_valid(args.query):
        return INVALID
    results = []
    with _archive(args) as (settings, archive):
        for row, match in _found(args, settings, archive):
            results.append((row, match))
            if len(results) >= args.limit:
                break
    if args.json:
        for row, match in results:
            print_json(
                {
                    **_exported(row),
                    "hits": [asdict(h) for h in match.hits],
                    "search_snippet": match.snippet,
                }
            )
        return 0 if results else 1
    if not results:
        print("no archived match found")
        return 1
    _table(
        f"{len(results)} archived match(es) for {args.query}",
        ["detected", "rule", "title", "feed", "snippet"],
        [
            [_when(r.detected_at), r.rule, f"{r.title}\n{r.url or ''}", r.feed, marked(m)]
            for r, m in results
        ],
    )
    return 0


def _exported(row: MatchRow) -> dict[str, Any]:
    """A match with the webhook's fields and time format (`2024-05-01T12:00:00Z`).

    The id names the match (rule:story); a webhook's names one alert of it to one channel.
    """
    return {
        "id": f"{row.rule}:{row.story}",
        "rule": row.rule,
        "title": row.title,
        "url": row.url,
        "feed": row.feed,
        "published": _iso(row.published),
        "matched": list(row.matched),
        "snippet": row.snippet,
        "detected_at": _iso(row.detected_at),
    }


def export(args: argparse.Namespace) -> int:
    with _archive(args) as (_settings, archive):
        rows = archive.matches(since=_since(args, datetime.now(UTC)), rule=args.rule)
    out: IO[str] = (
        open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        if args.output
        else sys.stdout
    )
    try:
        with progress("exporting", total=len(rows)) as advance:
            if args.format == "csv":
                writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
                writer.writeheader()
                for row in rows:
                    writer.writerow(_csv_values(_exported(row)))
                    advance()
            else:
                for row in rows:
                    out.write(json.dumps(_exported(row), ensure_ascii=False) + "\n")
                    advance()
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"{len(rows)} matches written to {args.output}", file=sys.stderr)
    return 0


def _iso(value: datetime | None) -> str | None:
    """The webhook's time format (monitor.alerts.render.iso_utc)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _csv_values(record: dict[str, Any]) -> dict[str, str]:
    """Flat text cells: matched terms joined by '; ', nothing for a missing value."""
    values: dict[str, str] = {}
    for key, value in record.items():
        if isinstance(value, list):
            values[key] = "; ".join(value)
        else:
            values[key] = "" if value is None else str(value)
    return values


# -- alerts -------------------------------------------------------------------------------------


def alerts(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with _archive(args) as (_settings, archive):
        if args.action == "retry":
            ids = [int(i) for i in args.ids] or None
            count = archive.requeue_failed(ids=ids, now=now)
            print(f"{count} failed alert(s) queued again")
            for name in archive.enable_channels():
                print(f'channel "{name}" enabled again; its held alerts go out now')
            return 0
        rows = archive.alerts(status=args.status, limit=args.limit)
    if args.json:
        for row in rows:
            print_json(asdict(row))
        return 0
    _table(
        "alerts",
        ["id", "status", "rule", "channel", "tries", "created", "title", "last error"],
        [
            [
                str(r.id),
                r.status,
                r.rule,
                r.channel,
                str(r.attempts),
                _when(r.created_at),
                r.title,
                r.last_error or "-",
            ]
            for r in rows
        ],
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Register the views on the main parser's subcommands."""
    for name, what in (("status", "is the daemon up, feed health, outbox"), ("feeds", "feeds")):
        cmd = sub.add_parser(name, help=f"show {what}")
        cmd.add_argument("--json", action="store_true")

    find = sub.add_parser("search", help="search archived matches with the rule language")
    find.add_argument("query")
    find.add_argument("--since", help="only matches newer than this (e.g. 7d)")
    find.add_argument("--rule", help="only matches of this rule")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--language", help="Snowball stemmer (default: --rule's, else english)")
    find.add_argument("--no-stemming", action="store_true")
    find.add_argument("--json", action="store_true")

    out = sub.add_parser("export", help="write archived matches as JSON lines or CSV")
    out.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    out.add_argument("--since", help="only matches newer than this (e.g. 30d)")
    out.add_argument("--rule", help="only matches of this rule")
    out.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    cmd = sub.add_parser("alerts", help="list outbox alerts; `alerts retry [ID...]` re-queues")
    cmd.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    cmd.add_argument("ids", nargs="*", metavar="ID", help="with retry: only these ids")
    cmd.add_argument("--status", choices=["pending", "held", "sent", "failed", "folded"])
    cmd.add_argument("--limit", type=int, default=50)
    cmd.add_argument("--json", action="store_true")
