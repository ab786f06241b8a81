"""Bound trees to fast boolean closures, and the presearch keys a rule cannot match without.

Pure. A rule's keys are alternatives: a document that contains none of them cannot match, so
the rule set indexes rules by key and evaluates only those whose keys occur (as Luwak does).
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.query.ast import DEFAULT_FIELDS
from monitor.query.compiler import (
    AllOf,
    Alternatives,
    Bound,
    NoneOf,
    Pattern,
    Positional,
    Prefix,
    Proximity,
    Sequence,
    Substring,
    Word,
    near,
    occurrences,
)
from monitor.query.document import DEFAULT, PREFIX, SUBSTRING, AnalyzedDocument

Predicate = Callable[[AnalyzedDocument], bool]
Key = tuple[str, str, str]  # (group, mode, term)

# Words so common that a rule indexed by them would be evaluated for nearly every article.
_COMMON = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "a",
        "in",
        "is",
        "it",
        "that",
        "for",
        "on",
        "was",
        "with",
        "as",
        "by",
        "at",
        "be",
        "this",
        "are",
        "from",
        "or",
        "an",
        "have",
        "has",
        "had",
        "not",
        "but",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "his",
        "her",
        "their",
        "its",
        "were",
        "been",
        "will",
        "would",
        "said",
        "say",
        "says",
        "which",
        "who",
        "one",
        "new",
        "more",
        "all",
        "about",
        "after",
        "also",
        "than",
        "up",
        "out",
        "over",
        "into",
        "two",
        "year",
    ]
)


def _group(fields: tuple[str, ...]) -> str:
    return DEFAULT if fields == DEFAULT_FIELDS else fields[0]


def predicate(node: Bound) -> Predicate:  # noqa: PLR0911 - one branch per node kind
    """A closure answering whether the node holds for an analysed document."""
    if isinstance(node, Word):
        group, mode, key = _group(node.fields), node.mode, node.key
        return lambda doc: key in doc.terms(group, mode)
    if isinstance(node, Prefix):
        group, prefix, length = _group(node.fields), node.prefix, len(node.prefix)
        return lambda doc: prefix in doc.prefixes(group, length)
    if isinstance(node, Substring):
        needle = node.needle
        return lambda doc: needle in doc.field("url").folded
    if isinstance(node, Sequence | Alternatives):
        positional: Positional = node
        fields = _fields_of(node)
        present = _presence(node)
        return lambda doc: (
            present(doc) and any(occurrences(positional, doc.field(f)) for f in fields)
        )
    if isinstance(node, Pattern):
        search, fields = node.regex.search, node.fields
        return lambda doc: any(search(doc.field(f).folded) for f in fields)
    if isinstance(node, Proximity):
        proximity = node
        every = [_presence(arg) for arg in node.args]
        return lambda doc: (
            all(present(doc) for present in every)
            and any(near(proximity, doc.field(f)) for f in proximity.fields)
        )
    if isinstance(node, NoneOf):
        inner = predicate(node.child)
        return lambda doc: not inner(doc)
    children = [predicate(c) for c in sorted(node.children, key=_cost)]
    if isinstance(node, AllOf):
        if len(children) == 2:
            left, right = children
            return lambda doc: left(doc) and right(doc)
        return lambda doc: all(c(doc) for c in children)
    return lambda doc: any(c(doc) for c in children)


def _presence(node: Positional) -> Predicate:
    """A cheap necessary condition: every word of the term is somewhere in its fields.

    Set lookups, before the positions a phrase or NEAR needs: the presearch admits a rule
    for one of its words, and most candidates lack another.
    """
    if isinstance(node, Word | Prefix):
        return predicate(node)
    if isinstance(node, Sequence):
        group, mode, words = _group(node.fields), node.mode, frozenset(node.keys)
        return lambda doc: words <= doc.terms(group, mode)
    options = [_presence(option) for option in node.options]
    return lambda doc: any(present(doc) for present in options)


def _fields_of(node: Sequence | Alternatives) -> tuple[str, ...]:
    return node.fields if isinstance(node, Sequence) else node.options[0].fields


def _cost(node: Bound) -> int:
    if isinstance(node, Word | Prefix | Substring):
        return 1
    if isinstance(node, Sequence | Alternatives | NoneOf):
        return 2 if not isinstance(node, NoneOf) else _cost(node.child) + 1
    if isinstance(node, Proximity):
        return 4
    if isinstance(node, Pattern):
        return 8
    return max(_cost(c) for c in node.children) + 1


def keys(node: Bound) -> set[Key] | None:  # noqa: PLR0911 - one branch per node kind
    """Terms of which a matching document holds at least one, or None if there is no such set."""
    if isinstance(node, Word):
        return {(_group(node.fields), node.mode, node.key)}
    if isinstance(node, Prefix):
        return {(_group(node.fields), PREFIX, node.prefix)}
    if isinstance(node, Substring):
        return {("url", SUBSTRING, node.needle)}
    if isinstance(node, Sequence):
        best = max(node.keys, key=_quality)
        return {(_group(node.fields), node.mode, best)}
    if isinstance(node, Alternatives):
        return _union([keys(option) for option in node.options])
    if isinstance(node, Pattern | NoneOf):
        return None
    if isinstance(node, Proximity):
        return _best([keys(arg) for arg in node.args])
    if isinstance(node, AllOf):
        return _best([keys(child) for child in node.children])
    return _union([keys(child) for child in node.children])


def _union(sets: list[set[Key] | None]) -> set[Key] | None:
    union: set[Key] = set()
    for found in sets:
        if found is None:
            return None
        union |= found
    return union


def _best(sets: list[set[Key] | None]) -> set[Key] | None:
    usable = [s for s in sets if s is not None]
    if not usable:
        return None
    return min(usable, key=lambda s: sum(_key_cost(k) for k in s))


def _quality(term: str) -> float:
    return -100.0 if term in _COMMON else float(len(term))


def _key_cost(key: Key) -> float:
    _, mode, term = key
    if term in _COMMON:
        return 100.0
    cost = 1.0 + 8.0 / max(len(term), 1)
    if mode == PREFIX:
        cost *= 3
    return cost


__all__ = ["Key", "Predicate", "keys", "predicate"]
