"""Seen entries and record_poll: one transaction, one story across feeds and URLs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from monitor.archive import Archive, PollRecord, alert_key
from monitor.models import Article, FeedState, Hit
from tests.archive.conftest import NOW
from tests.archive.support import FEED_A, FEED_B, entry, match, processed


def test_unseen_reports_new_and_changed_entries_across_restarts(
    archive_target: tuple[str, str | None],
) -> None:
    url, schema = archive_target
    one, two = entry("1"), entry("2")
    with Archive.open(url, schema=schema) as archive:
        assert archive.unseen(FEED_A, [one, two]) == [one, two]
        archive.record_poll(FeedState(FEED_A), [processed(one), processed(two)], NOW)
        assert archive.unseen(FEED_A, [one, two]) == []
    with Archive.open(url, schema=schema) as archive:
        changed = replace(two, fingerprint="fp-2-edited")
        three = entry("3")
        assert archive.unseen(FEED_A, [one, changed, three]) == [changed, three]
        # The same entry id under another feed is another entry.
        assert archive.unseen(FEED_B, [one]) == [one]
        assert archive.unseen(FEED_A, []) == []


def test_record_poll_stores_entries_matches_outbox_and_state(archive: Archive) -> None:
    hit = match("iraq", "troops", "withdrawal")
    item = entry("1", tags=("world", "mideast"), published=NOW - timedelta(hours=2))
    article = Article(url=None, title="t", text="body", author="Jane Roe", language="en")
    state = FeedState(FEED_A, etag='"v2"', last_polled_at=NOW)
    record = archive.record_poll(
        state, [processed(item, hit, text="body", article=article), processed(entry("2"))], NOW
    )
    assert record == PollRecord(new_entries=2, new_matches=1, new_alerts=2)
    assert archive.feed_state(FEED_A) == state

    [row] = archive.matches()
    assert (row.rule, row.title, row.feed, row.snippet) == ("iraq", item.title, "A", hit.snippet)
    assert row.url == item.link
    assert row.published == item.published
    assert row.detected_at == NOW
    assert row.hits == (Hit("troops", "text"), Hit("withdrawal", "text"))
    assert row.matched == ("troops", "withdrawal")
    assert row.marks == hit.marks

    stored = {e.title: e for e in archive.iter_entries()}
    first = stored[item.title]
    assert (first.tags, first.author, first.lang, first.text) == (
        ("world", "mideast"),
        "Jane Roe",
        "en",
        "body",
    )
    undated = stored["Title 2"]
    assert undated.published == NOW  # first seen
    assert undated.document().feed == "A a.example"
    assert archive.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0}


def test_rerecording_creates_no_new_match_or_alert(archive: Archive) -> None:
    item = processed(entry("1"), match())
    archive.record_poll(FeedState(FEED_A), [item], NOW)
    later = NOW + timedelta(hours=1)
    edited = replace(item, entry=replace(item.entry, fingerprint="edited"))
    record = archive.record_poll(FeedState(FEED_A), [edited], later)
    assert record == PollRecord(new_entries=0, new_matches=0, new_alerts=0)
    assert archive.unseen(FEED_A, [edited.entry]) == []
    [stored] = archive.iter_entries()
    assert stored.published == NOW  # an undated entry keeps its first-seen time


def test_same_canonical_url_through_another_feed_is_the_same_story(archive: Archive) -> None:
    archive.record_poll(FeedState(FEED_A), [processed(entry("a-1"), match())], NOW)
    syndicated = entry(
        "b-77",
        feed_url=FEED_B,
        feed_name="B",
        canonical_url="https://news.example/a-1",
        link="https://news.example/a-1?ref=b",
    )
    # Different text (no full text for B), same canonical URL.
    record = archive.record_poll(
        FeedState(FEED_B), [processed(syndicated, match(), content="other")], NOW
    )
    assert record == PollRecord(new_entries=1, new_matches=0, new_alerts=0)
    assert len(archive.matches()) == 1
    assert archive.outbox_counts()["pending"] == 2


def test_same_content_under_another_url_is_the_same_story(archive: Archive) -> None:
    archive.record_poll(FeedState(FEED_A), [processed(entry("1"), match(), content="same")], NOW)
    moved = entry("2", feed_url=FEED_B, canonical_url="https://mirror.example/story")
    record = archive.record_poll(
        FeedState(FEED_B), [processed(moved, match(), content="same")], NOW
    )
    assert record.new_matches == 0
    # ... and that URL now leads to the story too, even with new content.
    third = entry("3", canonical_url="https://mirror.example/story")
    record = archive.record_poll(
        FeedState(FEED_A), [processed(third, match(), content="rewritten")], NOW
    )
    assert record == PollRecord(new_entries=1, new_matches=0, new_alerts=0)


def test_a_poll_of_more_entries_than_one_lookup_takes(archive: Archive) -> None:
    """Lookups go in chunks of 512 ids or keys: a poll of 1100 entries spans three."""
    items = [processed(entry(str(i)), *([match()] if i % 100 == 7 else [])) for i in range(1100)]
    record = archive.record_poll(FeedState(FEED_A), items, NOW)
    assert record == PollRecord(new_entries=1100, new_matches=11, new_alerts=22)
    batch = [item.entry for item in items]
    changed = [replace(batch[i], fingerprint="edited") for i in (3, 700, 1099)]
    assert archive.unseen(FEED_A, [*batch, *changed]) == changed
    again = archive.record_poll(FeedState(FEED_A), [replace(items[707], matches=())], NOW)
    assert again == PollRecord(new_entries=0, new_matches=0, new_alerts=0)
    titles = sorted(f"Title {i}" for i in range(7, 1100, 100))
    assert sorted(row.title for row in archive.matches()) == titles


def test_a_new_rule_on_a_known_story_alerts_once(archive: Archive) -> None:
    archive.record_poll(FeedState(FEED_A), [processed(entry("1"), match("iraq"))], NOW)
    again = processed(entry("1", fingerprint="v2"), match("iraq"), match("syria"))
    record = archive.record_poll(FeedState(FEED_A), [again], NOW)
    assert record == PollRecord(new_entries=0, new_matches=1, new_alerts=2)
    assert sorted(row.rule for row in archive.matches()) == ["iraq", "syria"]


def test_different_stories_alert_separately(archive: Archive) -> None:
    record = archive.record_poll(
        FeedState(FEED_A),
        [
            processed(entry("1"), match(), channels={"iraq": ("mail",)}),
            processed(entry("2"), match(), channels={"iraq": ("mail", "mail")}),
        ],
        NOW,
    )
    assert record == PollRecord(new_entries=2, new_matches=2, new_alerts=2)
    keys = {row.key for row in archive.alerts()}
    assert len(keys) == 2


def test_record_poll_is_atomic(archive: Archive) -> None:
    archive.save_feed_state(FeedState(FEED_A, etag='"old"'))
    good = processed(entry("1"), match())
    broken = processed(replace(entry("2"), title=None), match("syria"))  # type: ignore[arg-type]
    with pytest.raises(sa.exc.IntegrityError):
        archive.record_poll(FeedState(FEED_A, etag='"new"'), [good, broken], NOW)
    state = archive.feed_state(FEED_A)
    assert state is not None
    assert state.etag == '"old"'
    assert list(archive.iter_entries()) == []
    assert archive.matches() == []
    assert archive.outbox_counts() == {"pending": 0, "sent": 0, "failed": 0}
    assert archive.unseen(FEED_A, [good.entry]) == [good.entry]


def test_alert_key_is_stable_per_rule_story_channel(archive: Archive) -> None:
    archive.record_poll(FeedState(FEED_A), [processed(entry("1"), match())], NOW)
    [row] = archive.matches()
    assert {a.key for a in archive.alerts()} == {
        alert_key("iraq", row.story, "mail"),
        alert_key("iraq", row.story, "hook"),
    }


def test_matches_filters_by_time_and_rule(archive: Archive) -> None:
    archive.record_poll(FeedState(FEED_A), [processed(entry("1"), match("iraq"))], NOW)
    later = NOW + timedelta(days=1)
    archive.record_poll(FeedState(FEED_A), [processed(entry("2"), match("syria"))], later)
    assert [m.rule for m in archive.matches()] == ["syria", "iraq"]
    assert [m.rule for m in archive.matches(since=later)] == ["syria"]
    assert [m.rule for m in archive.matches(rule="iraq")] == ["iraq"]
    assert len(archive.matches(limit=1)) == 1


def test_iter_entries_pages_and_filters(archive: Archive) -> None:
    archive.entry_page_size = 2
    items = [processed(entry(str(n), published=NOW + timedelta(minutes=n))) for n in range(7)]
    archive.record_poll(FeedState(FEED_A), items, NOW)
    assert [e.title for e in archive.iter_entries()] == [f"Title {n}" for n in range(7)]
    recent = list(archive.iter_entries(since=NOW + timedelta(minutes=4)))
    assert [e.title for e in recent] == ["Title 4", "Title 5", "Title 6"]


def test_prune_clears_old_unmatched_text_only(archive: Archive) -> None:
    archive.record_poll(
        FeedState(FEED_A), [processed(entry("old")), processed(entry("hit"), match())], NOW
    )
    later = NOW + timedelta(days=30)
    archive.record_poll(FeedState(FEED_A), [processed(entry("new"))], later)
    assert archive.prune(NOW + timedelta(days=1)) == 1
    texts = {e.title: e.text for e in archive.iter_entries()}
    assert texts == {"Title old": "", "Title hit": "Body of hit", "Title new": "Body of new"}
    # Pruned entries are still known: not processed again.
    assert archive.unseen(FEED_A, [entry("old")]) == []
    assert archive.prune(NOW + timedelta(days=1)) == 0


def test_prune_clears_a_summary_without_text_and_keeps_matches_searchable(
    archive: Archive,
) -> None:
    """An entry whose page gave no text still had its feed summary: pruned too."""
    bare = replace(processed(entry("bare")), text="")
    archive.record_poll(FeedState(FEED_A), [bare, processed(entry("hit"), match())], NOW)
    assert archive.prune(NOW + timedelta(days=1)) == 1
    stored = {e.title: (e.text, e.summary) for e in archive.iter_entries()}
    assert stored == {"Title bare": ("", ""), "Title hit": ("Body of hit", "Summary of hit")}
    assert [row.title for row, _ in archive.search_candidates(["summary"])] == ["Title hit"]
