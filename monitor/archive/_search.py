"""Full-text search over archived matches: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

Only matched entries are indexed (what users search; indexing every entry cut SQLite's
insert rate tenfold). Queries are words and "quoted phrases", all required.

The index holds `index_form` of the text, the words the rule matcher sees (folded, acronyms
and hyphenated words also joined), not the raw text, so that neither FTS5 nor PostgreSQL's
parser (hosts, e-mails, paths as one token) can hide a word the matcher would find.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.archive._engine import insert, is_postgres, prepared
from monitor.archive._read import entries_by_id, filter_matches, match_row, match_select
from monitor.archive._records import MatchRow, StoredEntry
from monitor.archive._schema import entries, matches, pg_search

_SIMPLE: sa.ColumnElement[Any] = sa.literal_column("'simple'::regconfig")
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A search as typed: loose words and quoted phrases, every one required."""

    words: tuple[str, ...]
    phrases: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> TextQuery:
        words: list[str] = []
        phrases: list[str] = []
        for phrase, word in _TOKEN.findall(text):
            if word:
                words.append(word)
            elif phrase.split():
                phrases.append(" ".join(phrase.split()))
        return cls(tuple(words), tuple(phrases))

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    def folded(self) -> TextQuery:
        """Folded like the index: a word that folds to several (`e-mail`) is a phrase."""
        words = [_plain(word) for word in self.words]
        phrases = [_plain(phrase) for phrase in self.phrases]
        return TextQuery(
            tuple(w for w in words if w and " " not in w),
            tuple(p for p in [*phrases, *(w for w in words if " " in w)] if p),
        )

    def fts5(self) -> str:
        """FTS5 syntax: every word and phrase quoted (no operators reach FTS5), ANDed."""
        quoted = ['"' + part.replace('"', '""') + '"' for part in (*self.words, *self.phrases)]
        return " AND ".join(quoted)


_JOINED = re.compile(r"[^\W_]+(?:[.'\u2019-][^\W_]+)+")  # U.S, e-mail, don't, whitehouse.gov
_NOT_WORD = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """NFKC, case folding and accent removal: the matcher's folding (monitor.query.analysis)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _plain(text: str) -> str:
    """Folded words of `text` separated by single spaces (what the index holds)."""
    return " ".join(_NOT_WORD.sub(" ", _fold(text)).split())


def index_form(text: str) -> str:
    """Folded words separated by spaces, the joined form of `U.S.`, `e-mail`, `don't` last.

    A superset of the matcher's terms, so that a prefix the matcher's term starts with is found.
    Plain words take a fast path: it runs on every matched entry as it is recorded.
    """
    words: list[str] = []
    joined: list[str] = []
    for raw in text.split():
        if raw.isalnum():
            words.append(raw)
            continue
        words.append(_NOT_WORD.sub(" ", raw))
        joined.extend(_NOT_WORD.sub("", part) for part in _JOINED.findall(raw))
    plain = _fold(" ".join([*words, *joined]))
    return plain if plain.isascii() else _NOT_WORD.sub(" ", plain)


def _pg_index(conn: sa.Connection) -> tuple[sa.ClauseElement, list[str]]:
    """Upsert of an entry's document (built once: an upsert's `excluded` costs most)."""
    document = sa.func.to_tsvector(_SIMPLE, sa.bindparam("document", type_=sa.String))
    stmt = insert(conn, pg_search).values(
        entry=sa.bindparam("entry", type_=sa.Integer), document=document
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[pg_search.c.entry], set_={"document": stmt.excluded.document}
    )
    return upsert, ["entry", "document"]


def index_entry(conn: sa.Connection, entry_row: int, title: str, text: str) -> None:
    """(Re)index one matched entry."""
    title, text = index_form(title), index_form(text)
    if is_postgres(conn):
        prepared(conn, "pg_search", lambda: _pg_index(conn)).execute(
            conn, (entry_row, title + " " + text)
        )
        return
    conn.exec_driver_sql("DELETE FROM search_index WHERE rowid = ?", (entry_row,))
    conn.exec_driver_sql(
        "INSERT INTO search_index (rowid, title, text) VALUES (?, ?, ?)",
        (entry_row, title, text),
    )


def reindex(conn: sa.Connection) -> int:
    """Index every matched entry again (a migration: the indexed form changed)."""
    if is_postgres(conn):
        conn.execute(pg_search.delete())
    else:
        conn.exec_driver_sql("DELETE FROM search_index")
    matched = sa.select(matches.c.entry).distinct().scalar_subquery()
    query = sa.select(entries.c.id, entries.c.title, entries.c.text, entries.c.summary).where(
        entries.c.id.in_(matched)
    )
    count = 0
    for row in conn.execute(query).all():
        index_entry(conn, row.id, row.title or "", f"{row.text or ''}\n{row.summary or ''}")
        count += 1
    return count


def _matching_entries(conn: sa.Connection, query: TextQuery) -> sa.Select[Any]:
    if is_postgres(conn):
        parts = [sa.func.plainto_tsquery(_SIMPLE, word) for word in query.words]
        parts += [sa.func.phraseto_tsquery(_SIMPLE, phrase) for phrase in query.phrases]
        tsquery: sa.ColumnElement[Any] = parts[0]
        for part in parts[1:]:
            tsquery = tsquery.op("&&")(part)
        return sa.select(pg_search.c.entry).where(pg_search.c.document.op("@@")(tsquery))
    found = sa.text("SELECT rowid FROM search_index WHERE search_index MATCH :q")
    sub = found.bindparams(q=query.fts5()).columns(sa.column("rowid", sa.Integer)).subquery()
    return sa.select(sub.c.rowid)


Clause = str | Sequence[str]  # a prefix, or prefixes of which one suffices


def _prefix_filter(conn: sa.Connection, clauses: Sequence[Sequence[str]]) -> sa.Select[Any]:
    """Entries holding, for each clause, a word starting with one of its prefixes."""
    if is_postgres(conn):
        tsquery = sa.func.to_tsquery(
            _SIMPLE, " & ".join("(" + " | ".join(f"{p}:*" for p in c) + ")" for c in clauses)
        )
        return sa.select(pg_search.c.entry).where(pg_search.c.document.op("@@")(tsquery))
    fts = " AND ".join("(" + " OR ".join(f'"{p}"*' for p in c) + ")" for c in clauses)
    found = sa.text("SELECT rowid FROM search_index WHERE search_index MATCH :q")
    sub = found.bindparams(q=fts).columns(sa.column("rowid", sa.Integer)).subquery()
    return sa.select(sub.c.rowid)


def candidate_page(
    conn: sa.Connection,
    clauses: Sequence[Clause],
    *,
    since: datetime | None,
    rule: str | None,
    after: tuple[datetime, int] | None,
    size: int,
) -> list[tuple[MatchRow, StoredEntry]]:
    """One page of matches, newest first, whose entry has a word for every prefix clause.

    A prefilter for the rule language: the caller confirms each with the real matcher.
    `after` is the (detected_at, id) of the previous page's last row: a keyset, so matches
    recorded meanwhile shift nothing.
    """
    groups = [[clause] if isinstance(clause, str) else list(clause) for clause in clauses]
    if any(not group for group in groups):
        raise ValueError("an empty prefix clause matches nothing")
    if any(not p.isalnum() for group in groups for p in group):
        raise ValueError("search prefixes are letters and digits only")
    select = match_select()
    if groups:
        select = select.where(matches.c.entry.in_(_prefix_filter(conn, groups)))
    if after is not None:
        select = select.where(sa.tuple_(matches.c.detected_at, matches.c.id) < after)
    select = filter_matches(select, since=since, rule=rule, limit=size)
    rows = list(conn.execute(select))
    stored = entries_by_id(conn, [row.entry for row in rows])
    return [(match_row(row), stored[row.entry]) for row in rows]


def search(
    conn: sa.Connection,
    text_query: str,
    *,
    since: datetime | None = None,
    rule: str | None = None,
    limit: int = 50,
) -> list[MatchRow]:
    """Archived matches whose entry contains every word and phrase, newest first."""
    query = TextQuery.parse(text_query).folded()
    if not query:
        return []
    select = match_select().where(matches.c.entry.in_(_matching_entries(conn, query)))
    select = filter_matches(select, since=since, rule=rule, limit=limit)
    return [match_row(row) for row in conn.execute(select)]
