"""End to end: the fixture site over real HTTP, a real SMTP server and a real webhook receiver.

Every row of the fixture table (tests/data/site is the repo's copy of the shared site) is
checked on the alerts both channels received; a second cycle sends nothing; the broken feeds
each log one clear problem while the others proceed. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from monitor import pipeline
from monitor.config import load_settings
from monitor.demo.receiver import Receiver, receive_webhooks
from monitor.models import RuleSpec
from monitor.query import compile_rules
from monitor.runtime import open_runtime
from tests.alerts.support import free_port
from tests.conftest import archive_url

# rule name -> (query, article pages that must alert; every other page must not)
TABLE: dict[str, tuple[str, set[str]]] = {
    "phrase": ('"troop withdrawal"', {"rsn-iraq-troops.html"}),
    "iraq": ("Iraq", {"rsn-iraq-troops.html"}),
    "phrase-and-iraq": ('"troop withdrawal" AND Iraq', {"rsn-iraq-troops.html"}),
    "both-words": ("troop AND withdrawal", {"rsn-iraq-troops.html", "scouts-fundraiser.html"}),
    "derby": ("(derby OR goal) NOT Iraq", {"football-derby.html"}),
}
FEEDS = {
    "world": "world.rss",
    "wire": "syndication.atom",
    "broken": "broken.rss",
    "empty": "empty.xml",
    "not-a-feed": "not-a-feed.html",
}
BROKEN = {"broken", "empty", "not-a-feed"}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mailbox, int]]:
    mailbox = _Mailbox()
    port = free_port()  # aiosmtpd cannot start on port 0: it probes the port it was given
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with receive_webhooks() as receiver:
        yield receiver


def _config(tmp_path: Path, origin: str, archive_url: str, smtp_port: int, hook: str) -> Path:
    parts = [f'[archive]\nurl = "{archive_url}"\n[fetch]\nallow_private = true\n']
    for name, path in FEEDS.items():
        parts.append(f'[[feeds]]\nname = "{name}"\nurl = "{origin}/{path}"\n')
    for name, (query, _) in TABLE.items():
        parts.append(
            f'[[rules]]\nname = "{name}"\nquery = \'{query}\'\nchannels = ["desk", "mail"]\n'
        )
    parts.append(
        f'[channels.desk]\ntype = "webhook"\nurl = "{hook}"\nsecret = "${{HOOK_SECRET}}"\n'
    )
    parts.append(
        '[channels.mail]\ntype = "email"\nsmtp_host = "127.0.0.1"\n'
        f'smtp_port = {smtp_port}\nsecurity = "none"\nfrom = "monitor@example.org"\n'
        'to = ["desk@example.org"]\n'
    )
    path = tmp_path / "monitor.toml"
    path.write_text("\n".join(parts))
    return path


def _page(url: str) -> str:
    return url.split("?", maxsplit=1)[0].rsplit("/", 1)[-1]


def test_fixture_table_end_to_end(
    tmp_path: Path,
    site_origin: str,
    archive_target: tuple[str, str | None],
    smtp: tuple[_Mailbox, int],
    webhook: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox, smtp_port = smtp
    config = _config(tmp_path, site_origin, archive_url(archive_target), smtp_port, webhook.url)
    settings = load_settings(config, environ={"HOOK_SECRET": "s3cret"})

    first_cycle_records: list[logging.LogRecord] = []

    async def cycles() -> list[list[Any]]:
        out = []
        async with open_runtime(settings, workers=False) as runtime:
            for n in range(2):
                results = await runtime.run_cycle(now=NOW + timedelta(hours=n))
                report = await runtime.deliver(now=NOW + timedelta(hours=n))
                out.append([results, report])
                if n == 0:
                    first_cycle_records.extend(caplog.records)
        return out

    with caplog.at_level(logging.INFO, logger="monitor"):
        (first, first_report), (second, second_report) = asyncio.run(cycles())

    # Each webhook alert: which page, which rule. Every row of the table holds.
    hooks = [got.json() for got in webhook.received]
    fired = {(alert["rule"], _page(alert["url"])) for alert in hooks}
    for rule, (_, pages) in TABLE.items():
        assert {page for r, page in fired if r == rule} == pages, rule
    # Once per (rule, story, channel) although two feeds carry the Iraq story and the derby.
    assert len(hooks) == len(fired) == sum(len(pages) for _, pages in TABLE.values())
    assert len({got.headers["webhook-id"] for got in webhook.received}) == len(hooks)
    # The same alerts went out by email.
    subjects = sorted(str(message["subject"]).strip() for message in mailbox.messages)
    assert len(subjects) == len(hooks)
    assert [s for s in subjects if not s.startswith("[news-monitor] ")] == []
    assert sum("phrase-and-iraq:" in s for s in subjects) == 1
    assert first_report.sent == 2 * len(hooks)

    # The second cycle over unchanged feeds alerts on nothing.
    assert all(r.new_alerts == 0 for r in second)
    assert second_report.sent == 0
    assert len(webhook.received) == len(hooks)

    # The broken feeds each fail (or warn) clearly; the good ones were processed.
    outcome = {r.feed: r for r in first}
    assert outcome["world"].outcome == "ok"
    assert outcome["world"].entries == 4
    assert outcome["wire"].outcome == "ok"
    assert outcome["wire"].entries == 2
    assert outcome["broken"].outcome == "ok"
    assert outcome["broken"].warning
    assert outcome["empty"].outcome == "error"
    assert "empty" in (outcome["empty"].error or "")
    assert outcome["not-a-feed"].outcome == "error"
    for feed in BROKEN:
        problems = [
            rec
            for rec in first_cycle_records
            if rec.levelno >= logging.WARNING
            and getattr(rec, "nm_fields", {}).get("feed") == feed
            and rec.getMessage() != "article unavailable, matching the feed's summary instead"
        ]
        assert len(problems) == 1, (feed, [p.getMessage() for p in problems])


@pytest.mark.parametrize("limit", [20_000, 0], ids=["rules-in-workers", "rules-too-many"])
def test_feeds_without_articles_match_the_same_in_the_worker_pool(
    tmp_path: Path, site_origin: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """With a pool, a feed read without its articles is parsed and matched in a worker; the
    rules fire on the same entries, with the same why, as when the poller matches inline."""

    def config(name: str) -> Path:
        parts = [
            f'[archive]\nurl = "sqlite:///{tmp_path / name}.db"\n[fetch]\nallow_private = true\n'
        ]
        for feed, path in FEEDS.items():
            if feed == "wire":  # its stories are world's: which feed's match is kept is a race
                continue
            parts.append(
                f'[[feeds]]\nname = "{feed}"\nurl = "{site_origin}/{path}"\nfull_text = false\n'
            )
        for rule, (query, _) in TABLE.items():
            parts.append(f"[[rules]]\nname = \"{rule}\"\nquery = '{query}'\nchannels = []\n")
        path = tmp_path / f"{name}.toml"
        path.write_text("\n".join(parts))
        return path

    async def matched(workers: bool) -> set[tuple[str, str, str, str]]:
        settings = load_settings(config(f"workers-{workers}"), environ={})
        async with open_runtime(settings, workers=workers) as runtime:
            if workers:
                assert runtime.pipeline.pool is not None
            results = await runtime.run_cycle(now=NOW)
            assert sum(r.new_matches for r in results) > 0
            rows = await asyncio.to_thread(runtime.archive.matches)
            if workers:
                assert runtime.pipeline.pool is not None
                assert runtime.pipeline.pool.pids
                shipped = runtime.pipeline.pool._rules[1]
                assert (shipped is not None) == (limit > 0)
        return {(row.rule, row.title, row.snippet, repr((row.hits, row.marks))) for row in rows}

    monkeypatch.setattr(pipeline, "WORKER_RULES_LIMIT", limit)
    inline, pooled = asyncio.run(matched(False)), asyncio.run(matched(True))
    assert inline
    assert pooled == inline


def test_a_summary_is_archived_once_and_replays_as_it_matched(
    tmp_path: Path, site_origin: str
) -> None:
    """Read without its article, an entry's text is its summary: archived once (in `summary`,
    `text` left empty), and the archived entry reads to the rules exactly as the live one did,
    so that `test-rule --archive` fires where the live poll fired."""
    rules = {"in-summary": "summary:Iraq", "in-text": "text:Iraq", "anywhere": "Iraq"}
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[archive]\nurl = "sqlite:///{tmp_path / "a.db"}"\n[fetch]\nallow_private = true\n'
        f'[[feeds]]\nname = "world"\nurl = "{site_origin}/world.rss"\nfull_text = false\n'
        + "".join(
            f"[[rules]]\nname = \"{n}\"\nquery = '{q}'\nchannels = []\n" for n, q in rules.items()
        )
    )

    async def cycle() -> tuple[set[str], list[Any]]:
        async with open_runtime(load_settings(config, environ={}), workers=False) as runtime:
            await runtime.run_cycle(now=NOW)
            rows = await asyncio.to_thread(runtime.archive.matches)
            return {row.rule for row in rows}, list(runtime.archive.iter_entries())

    live, stored = asyncio.run(cycle())
    assert live == {"in-summary", "anywhere"}
    assert all(entry.text == "" and entry.summary for entry in stored)
    ruleset = compile_rules([RuleSpec(name, query) for name, query in rules.items()])
    replayed = {name for entry in stored for name in ruleset.fired(entry.document())}
    assert replayed == live


_SPACES = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000"


@given(st.text(alphabet=st.sampled_from([*_SPACES, "a", "B", "\u00c9", "\u00df", ".", "1"])))
def test_content_fingerprint_normalises_like_split_and_casefold(text: str) -> None:
    """The ASCII fast path and the general one agree with the definition on every text."""
    normal = " ".join(text.split()).casefold()
    assert pipeline.content_fingerprint(text) == hashlib.sha256(normal.encode()).hexdigest()
    assert pipeline.content_fingerprint(f"  {text.upper()}\n\n") == pipeline.content_fingerprint(
        text.upper()
    )
