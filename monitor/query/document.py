"""An article analysed once for every rule: tokens, positions and stems per field, built lazily.

Pure: imports only `monitor.models`. `spans(mode, term)` maps each occurrence's start position
to its end; the analysed document maps each `slot` (a field group's words in one mode) to its
word set, which the presearcher and the generated rule tests look words up in.
"""

from __future__ import annotations

from bisect import bisect_left

from monitor.models import Document
from monitor.query.analysis import (
    Extra,
    char_offsets,
    fold_case,
    single_spaced,
    stem_set,
    stems,
    terms,
)
from monitor.query.ast import DEFAULT_FIELDS

Spans = dict[int, int]  # start position -> end position of each occurrence of one term
DEFAULT = "*"  # the group name of title + summary + text
EXACT = ""  # the mode of unstemmed (folded) words
PREFIX = "*prefix"
SUBSTRING = "*sub"
_SEP = "\x1f"
# between two terms in the line `FieldView.spans` searches: no word holds a control character
_GAP = "\x00"
_SCANS = 6  # keys of one field and mode found by scanning its text, before it is mapped


def slot(group: str, mode: str, length: int = 0) -> str:
    """The key under which an `AnalyzedDocument` holds a group's words in one mode.

    A string, whose hash Python caches: generated rule tests look sets up by it directly.
    """
    return f"{group}{_SEP}{mode}{_SEP}{length}"


class FieldView:
    """One field of one document: its terms (position = index), term sets and spans, lazily."""

    __slots__ = (
        "_begins",
        "_folded",
        "_postings",
        "_sets",
        "_single",
        "_sorted",
        "_starts",
        "_stops",
        "_terms",
        "_values",
        "extras",
        "name",
        "plain",
        "text",
    )

    def __init__(self, name: str, values: list[str]) -> None:
        self.name = name
        self.text = ", ".join(values) if name == "tag" else "".join(values)
        self.plain: list[str] = []
        self.extras: list[Extra] = []
        self._values = values
        self._starts: list[int] = []  # the position of each value's first term
        self._postings: dict[str, dict[str, Spans]] = {}  # mode -> term -> spans, as asked
        self._terms: dict[str, _Terms] = {}  # per mode, once a span is asked for
        self._sets: dict[str, set[str]] = {}
        self._folded: str | None = None
        self._single: bool | None = None
        self._sorted: list[str] | None = None
        self._begins: list[int] = []  # character offsets per position, once a snippet asks
        self._stops: list[int] = []
        if name == "lang":
            code = values[0].strip().lower().replace("_", "-") if values else ""
            self.plain = list(dict.fromkeys(f for f in (code, code.split("-")[0]) if f))
            return
        for value in values:
            if self.plain:
                self.plain.append("")  # a gap: no phrase spans two values (tags)
            self._starts.append(len(self.plain))
            terms(value, self.plain, self.extras)

    def term_set(self, mode: str) -> set[str]:
        """The distinct words (EXACT) or stems (a language) of the field."""
        found = self._sets.get(mode)
        if found is None:
            if mode == EXACT or self.name == "lang":
                found = set(self.plain)
                if self.extras:
                    found.update(term for term, _, _ in self.extras)
                found.discard("")
            else:
                found = stem_set(self.term_set(EXACT), mode)
            self._sets[mode] = found
        return found

    def spans(self, mode: str, key: str) -> Spans:
        """{start: end} of each occurrence of `key` (a word, or a stem in `mode`'s language)."""
        known = self._postings.get(mode)
        if known is None:
            known = self._postings[mode] = {}
        found = known.get(key)
        if found is None:
            found = {}
            if key in self.term_set(mode):
                searched = self._terms.get(mode) or self._keys(mode)
                searched.find(key, found)
                for term, (_, start, end) in zip(searched.joined, self.extras, strict=True):
                    if term == key:
                        found.setdefault(start, end)
            known[key] = found
        return found

    def _keys(self, mode: str) -> _Terms:
        keys, joined = self.plain, [term for term, _, _ in self.extras]
        if mode != EXACT and self.name != "lang":
            keys, joined = stems(keys, mode), stems(joined, mode)
        # a language code is the feed's text: the tokenizer keeps every other term to letters,
        # digits and marks
        searchable = self.name != "lang" or not any(_GAP in key for key in keys)
        found = self._terms[mode] = _Terms(keys, joined, searchable=searchable)
        return found

    def with_prefix(self, prefix: str) -> list[str]:
        """The distinct folded words of the field that start with `prefix`."""
        if self._sorted is None:
            self._sorted = sorted(self.term_set(EXACT))
        words = self._sorted
        found = []
        for index in range(bisect_left(words, prefix), len(words)):
            if not words[index].startswith(prefix):
                break
            found.append(words[index])
        return found

    @property
    def folded(self) -> str:
        """The case-folded text, for regexes and URL substrings."""
        if self._folded is None:
            self._folded = fold_case(self.text)
        return self._folded

    @property
    def single_spaced(self) -> bool:
        """Whether the text's only whitespace is single spaces (no snippet of it collapses any)."""
        if self._single is None:
            self._single = single_spaced(self.text)
        return self._single

    def char_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Character offsets [begin, stop) of positions start..end."""
        begins, stops = self._begins, self._stops
        if not begins and self.plain:
            offset = 0
            for value, position in zip(self._values, self._starts, strict=False):
                while len(begins) < position:  # the gap between two values (tags)
                    begins.append(-1)
                    stops.append(-1)
                char_offsets(value, offset, begins, stops)
                offset += len(value) + 2
        if end >= len(begins) or begins[start] < 0 or stops[end] < 0:
            return None
        return begins[start], stops[end]


class _Terms:
    """A field's term at each position in one mode (folded words or stems), searched per key.

    A rule set asks about a few words of each article, and most articles have none of them:
    the first few keys are found in the terms joined into one line, with str.find and the
    position counted with str.count (C scans of characters: list.index compared every term
    as an object, 8x slower). Past `_SCANS` keys (an article many rules fire on, explained
    hit by hit) one pass of C maps every term to its first and last position instead.
    """

    __slots__ = ("first", "joined", "keys", "last", "line", "scans")

    def __init__(self, keys: list[str], joined: list[str], *, searchable: bool) -> None:
        self.keys = keys
        self.joined = joined  # each joined (hyphenated) word's term
        # each term after a `_GAP`; "" if a term may hold one (`searchable` False)
        self.line = _GAP.join(["", *keys, ""]) if searchable else ""
        self.scans = 0
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}

    def find(self, key: str, found: Spans) -> None:
        """Add the position of each plain occurrence of `key`, in order."""
        if self.scans < _SCANS and self.line:
            self.scans += 1
            line, needle = self.line, f"{_GAP}{key}{_GAP}"
            at = line.find(needle)
            position = counted = 0
            while at >= 0:
                position += line.count(_GAP, counted, at)
                counted = at
                found[position] = position
                at = line.find(needle, at + len(needle) - 1)
            return
        keys = self.keys
        if not self.first:
            self.first = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
            self.last = dict(zip(keys, range(len(keys)), strict=True))
        position = self.first.get(key, -1)
        if position < 0:  # only a joined word
            return
        found[position] = position
        last = self.last[key]
        while position < last:
            position = keys.index(key, position + 1, last + 1)
            found[position] = position


class AnalyzedDocument(dict[str, "set[str] | str"]):
    """A Document with its fields analysed on first use and term sets cached per (group, mode).

    It is itself the mapping of its word sets by `slot`, each built on first lookup (the URL
    substring slot holds the folded URL): generated rule tests look a set up with one
    subscript, and no helper object refers back to the document, whose analysis is then
    freed as soon as the matcher is done with it rather than by the cycle collector.
    """

    __slots__ = ("_fields", "doc")

    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        self._fields: dict[str, FieldView] = {}

    def __missing__(self, key: str) -> set[str] | str:
        group, mode, length = key.split(_SEP)
        found: set[str] | str
        if mode == PREFIX:  # one set per prefix length the rules use, not every prefix
            size = int(length)
            found = {word[:size] for word in self.terms(group, EXACT) if len(word) >= size}
        elif mode == SUBSTRING:
            found = self.field("url").folded
        elif group == DEFAULT:
            found = set().union(*(self.field(name).term_set(mode) for name in DEFAULT_FIELDS))
        else:
            found = self.field(group).term_set(mode)
        self[key] = found
        return found

    def field(self, name: str) -> FieldView:
        view = self._fields.get(name)  # not try/except: every field misses once per article
        if view is None:
            view = self._fields[name] = FieldView(name, _values(self.doc, name))
        return view

    def terms(self, group: str, mode: str) -> set[str]:
        """The words (or stems) of a field, or of title + summary + text for DEFAULT."""
        found = self[slot(group, mode)]
        assert isinstance(found, set)  # only the URL substring slot holds a str
        return found

    def prefixes(self, group: str, length: int) -> set[str]:
        """The first `length` characters of every word of the group that long or longer."""
        found = self[slot(group, PREFIX, length)]
        assert isinstance(found, set)  # only the URL substring slot holds a str
        return found


def _values(doc: Document, name: str) -> list[str]:
    if name == "tag":
        return list(doc.tags)
    value: str = getattr(doc, name)
    return [value] if value else []


__all__ = [
    "DEFAULT",
    "EXACT",
    "PREFIX",
    "SUBSTRING",
    "AnalyzedDocument",
    "FieldView",
    "Spans",
    "slot",
]
