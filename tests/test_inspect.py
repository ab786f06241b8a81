"""`news-monitor test-rule`, `parse` and `extract`: what a rule writer sees, on real parts.

Texts, the fixture site's pages read from disk and over a loopback server (the real fetch and
extraction), and a replay over an archive filled by a real cycle; exit codes 0 match,
1 no match, 2 invalid query or input.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.conftest import SITE

IRAQ = '"troop withdrawal" AND Iraq'


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_rule_on_a_text_says_match_with_terms_and_marked_snippet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "The troops' withdrawal was not news; the troop withdrawal from Iraq was."
    code, out, _ = _run(capsys, "test-rule", IRAQ, "--text", text)
    assert code == 0
    assert out.splitlines() == [
        "match: text",
        "  matched: troop withdrawal (text), Iraq (text)",
        "  snippet: The [[troops' withdrawal]] was not news; the [[troop withdrawal]] from"
        " [[Iraq]] was.",
    ]


def test_rule_without_a_match_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "test-rule", IRAQ, "--text", "Troops stay in Syria")
    assert (code, out) == (1, "no match: text\n")


def test_invalid_query_exits_2_with_a_caret_under_the_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "test-rule", '"troop withdrawal") Iraq', "--text", "x")
    assert (code, out) == (2, "")
    assert "unbalanced ')' at column 19" in err
    lines = err.splitlines()
    query_line = next(i for i, line in enumerate(lines) if '"troop withdrawal") Iraq' in line)
    query_at = lines[query_line].index('"troop')
    assert lines[query_line + 1].index("^") - query_at == 18


def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "test-rule", "Iraq", "--file", str(tmp_path / "missing.html"))
    assert code == 2
    assert "missing.html" in err


def test_rule_on_a_page_file_runs_the_real_extraction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = SITE / "rsn-iraq-troops.html"
    code, out, _ = _run(capsys, "test-rule", "Iraqi AND NOT scout", "--file", str(page), "--json")
    assert code == 0
    (result,) = _json_lines(out)
    assert result["source"] == str(page)
    assert result["match"] is True
    assert result["matched"] == ["Iraqi"]
    assert {hit["field"] for hit in result["hits"]} >= {"text"}
    assert "Iraqi" in result["snippet"]
    marked = {result["snippet"][start:end] for start, end in result["marks"]}
    assert marked == {"Iraqi"}
    # boilerplate is gone: the page's navigation and footer are not the article
    code, _, _ = _run(capsys, "test-rule", "text:(subscribe OR newsletter)", "--file", str(page))
    assert code == 1


def test_rule_on_a_url_fetches_through_our_client(
    capsys: pytest.CaptureFixture[str], site_origin: str
) -> None:
    url = f"{site_origin}/scouts-fundraiser.html"
    code, out, _ = _run(capsys, "test-rule", "NEAR/3(sponsor, withdrawal)", "--url", url)
    assert code == 0
    assert out.startswith(f"match: {url}\n")
    code, _, err = _run(capsys, "test-rule", "scout", "--url", f"{site_origin}/missing.html")
    assert code == 2
    assert "404" in err


def test_rule_replayed_over_the_archive(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(filled)]
    code, out, _ = _run(capsys, *config, "test-rule", "troop*", "--archive")
    assert code == 0
    lines = out.splitlines()
    assert lines[-1] == "2 of 4 archived entries would have fired"
    fired = sorted(line for line in lines if line.startswith("match: "))
    assert [line.split(" <")[0] for line in fired] == [
        "match: Scout Troop Cancels Trip After Sponsor Withdrawal",
        "match: Trump Administration Plans to Ignore Iraqi Prime Minister's Demand to Withdraw"
        " US Troops",
    ]
    # --since counts back from now by publication date: the fixture's items of 10 Jan 2020
    hours = math.ceil(
        (datetime.now(UTC) - datetime(2020, 1, 10, tzinfo=UTC)).total_seconds() / 3600
    )
    code, out, _ = _run(capsys, *config, "test-rule", "troop*", "--archive", "--since", f"{hours}h")
    assert code == 0
    assert out.splitlines()[-1] == "1 of 3 archived entries would have fired"
    code, out, _ = _run(capsys, *config, "test-rule", "volcano", "--archive", "--json")
    assert code == 1
    assert [(r["match"], r["marks"]) for r in _json_lines(out)] == [(False, [])] * 4


def test_parse_and_extract_show_what_the_pipeline_sees(
    capsys: pytest.CaptureFixture[str], site_origin: str
) -> None:
    code, out, _ = _run(capsys, "parse", f"{site_origin}/world.rss", "--json")
    assert code == 0
    parsed = json.loads(out)
    assert len(parsed["entries"]) == 4
    assert parsed["entries"][0]["link"] == f"{site_origin}/rsn-iraq-troops.html"
    code, out, _ = _run(capsys, "extract", str(SITE / "football-derby.html"))
    assert code == 0
    assert out.startswith("title:    Late Goal Settles City Derby\n")
