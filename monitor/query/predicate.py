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
    AnyOf,
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
from monitor.query.document import DEFAULT, PREFIX, SUBSTRING, AnalyzedDocument, slot

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


def predicate(node: Bound) -> Predicate:
    """The node as one generated function of an article's word sets (and of the article, for
    the positions a phrase or NEAR needs).

    A candidate rule then costs one call with inline set lookups instead of a closure call per
    node. Rules of one shape (say `word AND word`) share one generated factory, as dataclasses
    share generated methods; the rule's words and sets are the factory's arguments, never part
    of its source, so no rule text is ever compiled as code.
    """
    params: list[object] = []
    source = _expression(node, params)
    factory = _FACTORIES.get(source)
    if factory is None:
        names = ", ".join(f"p{number}" for number in range(len(params)))
        namespace: dict[str, Callable[..., Predicate]] = {}
        exec(f"def factory({names}):\n    return lambda d: {source}\n", namespace)  # noqa: S102 - source is built from node kinds only; values are arguments
        factory = _FACTORIES[source] = namespace["factory"]
    return factory(*params)


# one per rule shape: 24 for the benchmark's 100,000 rules
_FACTORIES: dict[str, Callable[..., Predicate]] = {}


def _expression(node: Bound, params: list[object]) -> str:  # noqa: PLR0911 - one branch per node kind
    """Python source testing `node` on `d`, the analysed article (a mapping of word sets)."""

    def value(item: object) -> str:
        return _parameter(params, item)

    if isinstance(node, Word):
        where = slot(_group(node.fields), node.mode)
        return f"{value(node.key)} in d[{value(where)}]"
    if isinstance(node, Prefix):
        where = slot(_group(node.fields), PREFIX, len(node.prefix))
        return f"{value(node.prefix)} in d[{value(where)}]"
    if isinstance(node, Substring):
        return f"{value(node.needle)} in d[{value(slot('url', SUBSTRING))}]"
    if isinstance(node, Sequence | Alternatives):
        positional: Positional = node
        fields = _fields_of(node)
        where = value(lambda doc: any(occurrences(positional, doc.field(f)) for f in fields))
        return f"({_presence(node, params)} and {where}(d))"
    if isinstance(node, Pattern):
        search, fields = node.regex.search, node.fields
        return f"{value(lambda doc: any(search(doc.field(f).folded) for f in fields))}(d)"
    if isinstance(node, Proximity):
        proximity = node
        every = [_presence(arg, params) for arg in node.args]
        near_by = value(lambda doc: any(near(proximity, doc.field(f)) for f in proximity.fields))
        return f"({' and '.join(every)} and {near_by}(d))"
    if isinstance(node, NoneOf):
        return f"(not {_expression(node.child, params)})"
    children = [_expression(c, params) for c in sorted(node.children, key=_cost)]
    return "(" + (" and " if isinstance(node, AllOf) else " or ").join(children) + ")"


def _presence(node: Positional, params: list[object]) -> str:
    """A cheap necessary condition: every word of the term is somewhere in its fields.

    Set lookups, before the positions a phrase or NEAR needs: the presearch admits a rule
    for one of its words, and most candidates lack another.
    """
    if isinstance(node, Word | Prefix):
        return _expression(node, params)
    if isinstance(node, Sequence):
        words = _parameter(params, frozenset(node.keys))
        return f"{words} <= d[{_parameter(params, slot(_group(node.fields), node.mode))}]"
    return "(" + " or ".join(_presence(option, params) for option in node.options) + ")"


def necessary(node: Bound, params: list[object]) -> str | None:
    """Source of a cheap condition that a leaf cannot hold without (set lookups), or None.

    The generated code that lists a rule's holding leaves asks it first: most leaves it
    asks about are the terms of an OR that do not occur.
    """
    if isinstance(node, Substring):
        return _expression(node, params)
    if isinstance(node, Proximity):
        return " and ".join(_presence(arg, params) for arg in node.args)
    if isinstance(node, Word | Prefix | Sequence | Alternatives):
        return _presence(node, params)
    return None


def _parameter(params: list[object], item: object) -> str:
    """The name under which the generated factory receives `item`."""
    params.append(item)
    return f"p{len(params) - 1}"


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


def exact_keys(node: Bound) -> bool:
    """Whether the node holds exactly when one of its `keys` occurs (the presearch decides)."""
    if isinstance(node, Word | Prefix | Substring):
        return True
    return isinstance(node, AnyOf) and all(exact_keys(child) for child in node.children)


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


__all__ = ["Key", "Predicate", "exact_keys", "keys", "necessary", "predicate"]
