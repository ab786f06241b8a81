"""The views over a real archive filled by a real cycle over the fixture site.

status, feeds, search (rule language, with the full-text prefilter), export round trips through
JSON lines and CSV, alerts and alerts retry; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import PAYLOAD_FIELDS
from monitor.archive import Archive
from monitor.cli import main
from monitor.config import load_settings
from monitor.query import parse_query, prefix_clauses, required_prefixes
from tests.conftest import RULES

IRAQ = "Trump Administration Plans to Ignore Iraqi Prime Minister's Demand to Withdraw US Troops"
SCOUTS = "Scout Troop Cancels Trip After Sponsor Withdrawal"


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps cells to the terminal width; a wide one keeps each cell on one line."""
    monkeypatch.setenv("COLUMNS", "250")


def _run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    code = main(["--config", str(config), *args])
    return code, capsys.readouterr().out


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_status_and_feeds(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, filled, "status", "--json")
    assert code == 0
    [report] = _json_lines(out)
    assert report["daemon"] == "down"
    assert report["feeds"] == 2
    assert report["feeds_ok"] == 1
    assert report["feeds_failing"] == 1
    assert report["outbox"]["pending"] == 3
    code, out = _run(capsys, filled, "feeds", "--json")
    rows = {row["name"]: row for row in _json_lines(out)}
    assert rows["world"]["entries"] == 4
    assert rows["world"]["http_status"] == 200
    assert rows["world"]["errors"] == 0
    assert rows["not-a-feed"]["errors"] == 1
    assert rows["not-a-feed"]["last_error_kind"] == "not-a-feed"
    code, out = _run(capsys, filled, "feeds")
    assert code == 0
    assert "world" in out


def test_status_sees_a_daemon_by_its_heartbeat(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(filled)
    with Archive.open(settings.archive.url) as archive:
        archive.heartbeat("host:1", datetime.now(UTC), {"feeds": 2, "rules": 3})
    _code, out = _run(capsys, filled, "status", "--json")
    [report] = _json_lines(out)
    assert report["daemon"] == "up"
    assert report["daemons"][0]["owner"] == "host:1"
    _code, out = _run(capsys, filled, "status")
    assert "up: host:1" in out


DERBY = "Late Goal Settles City Derby"
SEARCHES = [
    ("iraq", {IRAQ}),
    ('"troop withdrawal"', {IRAQ}),
    ("withdrawing", {IRAQ, SCOUTS}),  # stemmed: withdrawal, Withdraw
    ('"withdrawal troop"', set()),  # a phrase keeps its order
    ("goal AND derby", {DERBY}),
    ("cities", {DERBY}),  # stem citi: the index needs "cit"
    ("derby OR scouts", {DERBY, SCOUTS}),  # (derb OR scout)
    ("(withdrawal OR goal) NOT iraq", {DERBY, SCOUTS}),
    ("title:scout", {SCOUTS}),
    ("NEAR/3(sponsor, withdrawal)", {SCOUTS}),
    ("troop NOT iraq", {SCOUTS}),
    ("penguin", set()),
]


def test_search_with_the_rule_language(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One archive, many queries (a cycle per query would make this file slow)."""
    for query, titles in SEARCHES:
        code, out = _run(capsys, filled, "search", query, "--json")
        assert (query, code) == (query, 0 if titles else 1)
        assert (query, {row["title"] for row in _json_lines(out)}) == (query, titles)


def test_search_filters_and_rejects_bad_queries(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, filled, "search", "troop", "--rule", "scouts", "--json")
    assert [row["rule"] for row in _json_lines(out)] == ["scouts"]
    code, out = _run(capsys, filled, "search", "troop", "--since", "1h", "--json")
    assert code == 0
    assert {row["title"] for row in _json_lines(out)} == {IRAQ, SCOUTS}
    assert main(["--config", str(filled), "search", "(iraq"]) == 2
    assert "column" in capsys.readouterr().err
    code, out = _run(capsys, filled, "search", "troop")
    assert "Scout Troop" in out


def test_search_stems_like_the_rule_or_as_told(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, filled, "search", "cities", "--no-stemming")[0] == 1
    code, _out = _run(capsys, filled, "search", "derby", "--rule", "derby", "--language", "german")
    assert code == 0
    assert main(["--config", str(filled), "search", "derby", "--language", "klingon"]) == 2
    assert "unknown language" in capsys.readouterr().err


def test_prefixes_cover_every_inflection() -> None:
    prefixes = required_prefixes(parse_query('"troop withdrawal" AND title:Iraq'), {"title"})
    assert prefixes == ["troop", "withdraw", "iraq"]
    assert required_prefixes(parse_query("iraq OR syria"), {"text"}) == []
    assert required_prefixes(parse_query("url:gov AND happy"), {"text"}) == ["happ"]
    # Stems ending in i or e come from words without them (happy, hoping); irregular forms.
    assert required_prefixes(parse_query("happiness hope"), {"text"}) == ["happ", "hop"]
    assert required_prefixes(parse_query("die AND sky AND skies"), {"text"}) == []
    assert required_prefixes(parse_query("active"), {"text"}, "french") == ["act"]
    assert prefix_clauses(parse_query("(derby OR goal) AND city NOT iraq"), {"text"}) == [
        ["cit"],
        ["derb", "goal"],
    ]
    assert prefix_clauses(parse_query("(iraq AND syria) OR iran"), {"text"}) == [
        ["iran", "iraq"],
        ["iran", "syria"],
    ]
    assert prefix_clauses(parse_query("iraq OR url:gov"), {"text"}) == []
    assert prefix_clauses(parse_query("title:(iraq OR iran)"), {"title"}) == [["iran", "iraq"]]
    # German rewrites inside a stem (ue): a stemmed word gives nothing there, an exact one does.
    assert required_prefixes(parse_query("Häuser AND =bund"), {"text"}, "german") == ["bund"]


def test_export_round_trips(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, filled, "export", "--format", "jsonl")
    assert code == 0
    records = _json_lines(out)
    assert {r["rule"] for r in records} == set(RULES)
    for record in records:
        assert tuple(record) == PAYLOAD_FIELDS  # what a webhook receives, in its order
        assert record["detected_at"].endswith("Z")
        datetime.fromisoformat(record["detected_at"])
    target = tmp_path / "matches.csv"
    assert (
        main(["--config", str(filled), "export", "--format", "csv", "--output", str(target)]) == 0
    )
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["title"], r["url"]) for r in rows] == [
        (r["id"], r["title"], r["url"]) for r in records
    ]
    assert [r["matched"].split("; ") for r in rows] == [r["matched"] for r in records]
    code, out = _run(capsys, filled, "export", "--rule", "derby")
    assert [r["rule"] for r in _json_lines(out)] == ["derby"]


def test_alerts_and_retry(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(filled)
    now = datetime.now(UTC)
    with Archive.open(settings.archive.url) as archive:
        [first, *_] = archive.claim_due_alerts(now, owner="test")
        archive.mark_failed(first.outbox_id, error="HTTP 404 from receiver", now=now)
    _code, out = _run(capsys, filled, "alerts", "--status", "failed", "--json")
    [failed] = _json_lines(out)
    assert failed["last_error"] == "HTTP 404 from receiver"
    _code, out = _run(capsys, filled, "alerts")
    assert "HTTP 404 from receiver" in out
    assert _run(capsys, filled, "alerts", "retry", str(failed["id"])) == (
        0,
        "1 failed alert(s) queued again\n",
    )
    _code, out = _run(capsys, filled, "alerts", "--status", "failed", "--json")
    assert _json_lines(out) == []


@pytest.mark.parametrize("archive_target", ["sqlite"], indirect=True)  # the bar is not SQL
def test_progress_bar_only_on_a_terminal(filled: Path) -> None:
    """Export to a file: a bar on a terminal's stderr, nothing but the summary otherwise."""
    command = [sys.executable, "-m", "monitor", "--config", str(filled), "export"]
    quiet = subprocess.run(
        [*command, "--output", str(filled.parent / "a.jsonl")], capture_output=True, check=True
    )
    assert b"exporting" not in quiet.stderr
    controller, terminal = pty.openpty()
    try:
        subprocess.run(
            [*command, "--output", str(filled.parent / "b.jsonl")],
            stderr=terminal,
            stdout=subprocess.DEVNULL,
            check=True,
            timeout=60,
        )
        shown = os.read(controller, 65536)
    finally:
        os.close(controller)
        os.close(terminal)
    assert b"exporting" in shown
    assert (filled.parent / "a.jsonl").read_bytes() == (filled.parent / "b.jsonl").read_bytes()
