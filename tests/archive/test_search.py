"""Full-text search over archived matches: words and "phrases", all required."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitor.archive import Archive
from monitor.archive._search import TextQuery
from monitor.models import FeedState
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, entry, match, processed

TEXTS = {
    "1": "Troop withdrawal from Iraq begins as the last convoy leaves Basra.",
    "2": "Parliament debates the withdrawal of troops; no date is set.",
    "3": "A café in Zürich wins the regional football derby sponsorship.",
}


@pytest.fixture
def filled(archive: Archive) -> Archive:
    items = [
        processed(
            entry(key, title=f"Story {key}"), match("iraq" if key != "3" else "sport"), text=text
        )
        for key, text in TEXTS.items()
    ]
    items.append(processed(entry("unmatched"), text="troop withdrawal never matched"))
    archive.record_poll(FeedState(FEED_A), items, NOW)
    return archive


def _titles(
    archive: Archive, query: str, *, since: datetime | None = None, rule: str | None = None
) -> list[str]:
    return sorted(row.title for row in archive.search(query, since=since, rule=rule))


def test_words_are_all_required_in_any_order(filled: Archive) -> None:
    assert _titles(filled, "withdrawal") == ["Story 1", "Story 2"]
    assert _titles(filled, "Iraq withdrawal") == ["Story 1"]
    assert _titles(filled, "withdrawal nowhere") == []


def test_phrases_need_adjacent_words(filled: Archive) -> None:
    assert _titles(filled, '"troop withdrawal"') == ["Story 1"]
    assert _titles(filled, '"withdrawal troop"') == []
    assert _titles(filled, '"last convoy" basra') == ["Story 1"]


def test_title_is_searched_too_and_case_is_ignored(filled: Archive) -> None:
    assert _titles(filled, "STORY derby") == ["Story 3"]


def test_only_matched_entries_are_found(filled: Archive) -> None:
    assert "Title unmatched" not in _titles(filled, "troop withdrawal")


def test_operators_and_quotes_are_plain_text(filled: Archive) -> None:
    assert _titles(filled, 'withdrawal OR NOT "unterminated') == []
    assert _titles(filled, "  ") == []
    assert _titles(filled, 'troops; "') == ["Story 2"]


def test_search_filters_by_rule_time_and_limit(filled: Archive) -> None:
    assert _titles(filled, "withdrawal", rule="sport") == []
    assert _titles(filled, "withdrawal", since=NOW + timedelta(seconds=1)) == []
    assert len(filled.search("withdrawal", limit=1)) == 1


def test_text_query_parses_words_and_phrases() -> None:
    query = TextQuery.parse('iraq  "troop   withdrawal" -x "open')
    assert query.words == ("iraq", "-x")
    assert query.phrases == ("troop withdrawal", "open")
    assert query.fts5() == '"iraq" AND "-x" AND "troop withdrawal" AND "open"'
