"""A syntax tree bound to a rule's language: terms become stems or folded words per field.

Pure: imports only our query modules. `bind` gives the tree the matcher evaluates; the
predicates here answer "does it hold" (fast, boolean) and "where" (positions, for hits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from sys import intern
from typing import Any

import re2

from monitor.query import ast
from monitor.query.analysis import fold_case, stems, tokenize
from monitor.query.document import EXACT, FieldView, slot
from monitor.query.parser import regex_options

Span = tuple[int, int]  # start and end positions of one occurrence


@dataclass(frozen=True, slots=True)
class Word:
    fields: tuple[str, ...]
    mode: str  # EXACT or a stemmer language
    key: str
    label: str
    # under which the analysed document holds each field's word set in `mode`: a hit is
    # explained by one subscript per field
    slots: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        slots = _SLOTS.get((self.fields, self.mode))
        if slots is None:  # one tuple for all words of the same fields and mode
            slots = tuple(slot(name, self.mode) for name in self.fields)
            _SLOTS[self.fields, self.mode] = slots
        object.__setattr__(self, "slots", slots)


_SLOTS: dict[tuple[tuple[str, ...], str], tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class Prefix:
    fields: tuple[str, ...]
    prefix: str
    label: str


@dataclass(frozen=True, slots=True)
class Substring:
    """A url: term, matched as a substring of the case-folded URL."""

    needle: str
    label: str
    fields: tuple[str, ...] = ("url",)


@dataclass(frozen=True, slots=True)
class Sequence:
    """Words adjacent and in order (a phrase)."""

    fields: tuple[str, ...]
    mode: str
    keys: tuple[str, ...]
    label: str


@dataclass(frozen=True, slots=True)
class Pattern:
    fields: tuple[str, ...]
    regex: Any = field(compare=False)  # a compiled re2 pattern
    label: str = ""


@dataclass(frozen=True, slots=True)
class Proximity:
    fields: tuple[str, ...]
    args: tuple[Word | Prefix | Sequence | Alternatives, ...]
    distance: int
    ordered: bool


@dataclass(frozen=True, slots=True)
class Alternatives:
    """A hyphenated word: joined or split (`e-mail`: `email` or `e mail`)."""

    options: tuple[Word | Sequence, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Bound, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Bound, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    child: Bound


Positional = Word | Prefix | Sequence | Alternatives
Bound = Positional | Substring | Pattern | Proximity | AllOf | AnyOf | NoneOf


def bind(  # noqa: PLR0911 - one branch per node kind
    node: ast.Node, language: str | None, fields: tuple[str, ...] = ast.DEFAULT_FIELDS
) -> Bound:
    """The tree with every term analysed; `language` None means no stemming."""
    if isinstance(node, ast.Field):
        return bind(node.child, language, (node.name,))
    if isinstance(node, ast.And):
        return AllOf(tuple(bind(c, language, fields) for c in node.children))
    if isinstance(node, ast.Or):
        return AnyOf(tuple(bind(c, language, fields) for c in node.children))
    if isinstance(node, ast.Not):
        return NoneOf(bind(node.child, language, fields))
    if isinstance(node, ast.Regex):
        return Pattern(fields, re2.compile(node.pattern, regex_options()), str(node))
    if isinstance(node, ast.Near):
        args = tuple(_positional(arg, language, fields) for arg in node.args)
        return Proximity(fields, args, node.distance, node.ordered)
    if fields == ("url",):
        return Substring(
            intern(fold_case(node.word if isinstance(node, ast.Term) else node.text)), node.label
        )
    return _positional(node, language, fields)


def _positional(
    node: ast.Term | ast.Phrase, language: str | None, fields: tuple[str, ...]
) -> Positional:
    if fields == ("lang",):
        text = node.word if isinstance(node, ast.Term) else node.text
        return Word(fields, EXACT, text.strip().lower().replace("_", "-"), node.label)
    text = node.word if isinstance(node, ast.Term) else node.text
    tokens = tokenize(text)
    plain = [t.term for t in tokens if t.start == t.end]
    if isinstance(node, ast.Term) and node.prefix:
        return Prefix(fields, intern("".join(plain)), node.label)
    exact = isinstance(node, ast.Term) and node.exact
    mode = EXACT if exact or language is None else language
    keys = tuple(intern(k) for k in (plain if mode == EXACT else stems(plain, mode)))
    if len(keys) == 1:
        return Word(fields, mode, keys[0], node.label)
    sequence = Sequence(fields, mode, keys, node.label)
    joined = [t.term for t in tokens if t.start != t.end]
    if isinstance(node, ast.Term) and len(joined) == 1 and len(tokens) == len(plain) + 1:
        key = joined[0] if mode == EXACT else stems(joined, mode)[0]
        return Alternatives((Word(fields, mode, intern(key), node.label), sequence))
    return sequence


# --- where: occurrences of positional nodes in one field ---------------------------------


def occurrences(node: Positional, view: FieldView) -> list[Span]:
    """The (start, end) positions where a word, prefix, phrase or hyphenated word occurs."""
    if isinstance(node, Word):
        if node.key not in view.term_set(node.mode):  # most fields of most rules: absent
            return []
        return list(view.spans(node.mode, node.key).items())
    if isinstance(node, Prefix):
        found: list[Span] = []
        for term in view.with_prefix(node.prefix):
            found.extend(view.spans(EXACT, term).items())
        return sorted(set(found))
    if isinstance(node, Sequence):
        return _sequence(view, node.mode, node.keys)
    found = []
    for option in node.options:
        found.extend(occurrences(option, view))
    return sorted(set(found))


def _sequence(view: FieldView, mode: str, keys: tuple[str, ...]) -> list[Span]:
    if not view.term_set(mode).issuperset(keys):
        return []
    first = view.spans(mode, keys[0])
    rest = []
    for key in keys[1:]:
        spans = view.spans(mode, key)
        if not spans:
            return []
        rest.append(spans)
    found: list[Span] = []
    for start, first_end in first.items():
        end = first_end
        for spans in rest:
            following = spans.get(end + 1)
            if following is None:
                break
            end = following
        else:
            found.append((start, end))
    return found


def near(node: Proximity, view: FieldView) -> bool:
    """Whether the arguments occur within `distance` positions of each other in this field."""
    lists = [occurrences(arg, view) for arg in node.args]
    if any(not spans for spans in lists):
        return False
    if node.ordered:
        return any(_ordered_from(first, lists[1:], node.distance) for first in lists[0])
    for anchor_list in lists:
        for _, anchor_end in anchor_list:
            limit = anchor_end + node.distance
            if all(any(e >= anchor_end and s <= limit for s, e in spans) for spans in lists):
                return True
    return False


def _ordered_from(first: Span, rest: list[list[Span]], distance: int) -> bool:
    end = first[1]
    last_start = first[0]
    for spans in rest:
        nxt = min((s for s in spans if s[0] > end), default=None)
        if nxt is None:
            return False
        last_start, end = nxt
    return last_start - first[1] <= distance


__all__ = [
    "AllOf",
    "Alternatives",
    "AnyOf",
    "Bound",
    "NoneOf",
    "Pattern",
    "Positional",
    "Prefix",
    "Proximity",
    "Sequence",
    "Span",
    "Substring",
    "Word",
    "bind",
    "near",
    "occurrences",
]
