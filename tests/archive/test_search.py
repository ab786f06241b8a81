"""Full-text search over archived matches: words and "phrases", all required; the index the
rule search's prefilter reads, which must hold every word the matcher would see.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from monitor.archive import SCHEMA_VERSION, Archive
from monitor.archive._search import TextQuery, index_form
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


# -- the rule search's prefilter: the index holds the matcher's words --------------------------

AWKWARD = {
    "street": "Die Straße bleibt gesperrt.",
    "nato": "N.A.T.O. leaders met.",
    "host": "The statement is on whitehouse.gov and press@acme.example today.",
    "mail": "Send an e-mail; don't wait.",
    "ligature": "The ﬁnance ministry spoke.",
}


@pytest.fixture
def awkward(archive: Archive) -> Archive:
    items = [processed(entry(key), match(), text=text) for key, text in AWKWARD.items()]
    archive.record_poll(FeedState(FEED_A), items, NOW)
    return archive


def _candidates(archive: Archive, *prefixes: str, page_size: int = 200) -> list[str]:
    found = archive.search_candidates(list(prefixes), page_size=page_size)
    return [row.title for row, _stored in found]


@pytest.mark.parametrize(
    ("prefixes", "key"),
    [
        (["strasse"], "street"),  # ß folds to ss, as in the matcher
        (["nato"], "nato"),  # a dotted acronym is one word
        (["gov"], "host"),  # PostgreSQL's parser would keep whitehouse.gov whole
        (["acme"], "host"),  # ... and an e-mail address
        (["email"], "mail"),  # a hyphenated word also joined
        (["mail"], "mail"),
        (["dont"], "mail"),  # an apostrophe joins
        (["finance", "ministry"], "ligature"),  # NFKC
    ],
)
def test_the_index_holds_what_the_matcher_reads(
    awkward: Archive, prefixes: list[str], key: str
) -> None:
    assert _candidates(awkward, *prefixes) == [f"Title {key}"]


def test_candidates_page_by_keyset_newest_first(archive: Archive) -> None:
    for n in range(5):
        item = processed(entry(str(n)), match(), text="troops")
        archive.record_poll(FeedState(FEED_A), [item], NOW + timedelta(minutes=n))
    titles = [f"Title {n}" for n in reversed(range(5))]
    assert _candidates(archive, "troop", page_size=2) == titles
    assert _candidates(archive, page_size=3) == titles


def test_an_old_index_is_rebuilt_by_the_migration(
    archive_target: tuple[str, str | None],
) -> None:
    """Archives before v7 indexed raw text: opening one indexes the matches again."""
    url, schema = archive_target
    with Archive.open(url, schema=schema) as opened:
        opened.record_poll(FeedState(FEED_A), [processed(entry("nato"), match())], NOW)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    prefix = f'"{schema}".' if schema else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"delete from {prefix}search_index"))
        conn.execute(sa.text(f"update {prefix}meta set value = '6' where key = 'schema_version'"))
    engine.dispose()
    with Archive.open(url, schema=schema) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        assert _candidates(reopened, "nato") == ["Title nato"]
        assert _candidates(reopened, "body") == ["Title nato"]


def test_index_form_is_a_superset_of_the_words() -> None:
    assert index_form("U.S.-based e-mail, Iraq's café ½").split() == (
        ["u", "s", "based", "e", "mail", "iraq", "s", "cafe", "1", "2", "us", "email", "iraqs"]
    )


def test_typed_words_are_folded_like_the_index(awkward: Archive) -> None:
    assert _titles(awkward, "straße") == ["Title street"]
    assert _titles(awkward, "STRASSE") == ["Title street"]
    assert _titles(awkward, '"e-mail" wait') == ["Title mail"]
    assert _titles(awkward, "whitehouse.gov") == ["Title host"]
