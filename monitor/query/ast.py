"""The rule language's syntax tree: one frozen class per construct, printable back to text.

Pure: no imports of ours. `str(node)` gives the canonical query, and parsing it again gives an
equal node, in the way APScheduler's cron fields print back to their expression.
"""

from __future__ import annotations

from dataclasses import dataclass

# The fields a query can name, and the ones a query without a field searches.
FIELDS = ("title", "text", "summary", "author", "feed", "url", "tag", "lang")
DEFAULT_FIELDS = ("title", "summary", "text")


@dataclass(frozen=True, slots=True)
class Term:
    """A word as written: `Iraq`, `=Iraqi` (exact), `withdraw*` (prefix)."""

    word: str
    exact: bool = False
    prefix: bool = False

    @property
    def label(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{'=' if self.exact else ''}{self.word}{'*' if self.prefix else ''}"


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words adjacent and in order: `"troop withdrawal"`."""

    text: str

    @property
    def label(self) -> str:
        return self.text

    def __str__(self) -> str:
        return f'"{self.text}"'


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression on the case-folded field text: `/iraq(i|is)?/`."""

    pattern: str

    @property
    def label(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return "/" + self.pattern.replace("/", "\\/") + "/"


@dataclass(frozen=True, slots=True)
class Near:
    """All arguments within `distance` words of each other; in order when `ordered`."""

    distance: int
    args: tuple[Term | Phrase, ...]
    ordered: bool = False

    def __str__(self) -> str:
        name = "ONEAR" if self.ordered else "NEAR"
        return f"{name}/{self.distance}({', '.join(str(arg) for arg in self.args)})"


@dataclass(frozen=True, slots=True)
class Field:
    """A term, phrase or group restricted to one field: `title:Iraq`."""

    name: str
    child: Node

    def __str__(self) -> str:
        return f"{self.name}:{_wrap(self.child, (And, Or, Not))}"


@dataclass(frozen=True, slots=True)
class Not:
    """An exclusion: `NOT a`, `-a`."""

    child: Node

    def __str__(self) -> str:
        return f"NOT {_wrap(self.child, (And, Or))}"


@dataclass(frozen=True, slots=True)
class And:
    """All children: `a b`, `a AND b`."""

    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrap(child, (Or,)) for child in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    """Any child: `a OR b`."""

    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(str(child) for child in self.children)


Node = Term | Phrase | Regex | Near | Field | Not | And | Or
Leaf = Term | Phrase | Regex


def _wrap(node: Node, kinds: tuple[type, ...]) -> str:
    return f"({node})" if isinstance(node, kinds) else str(node)


def is_negative(node: Node) -> bool:
    """True when the node can match a document that contains none of its terms."""
    if isinstance(node, Not):
        return True
    if isinstance(node, Field):
        return is_negative(node.child)
    if isinstance(node, And):
        return all(is_negative(child) for child in node.children)
    if isinstance(node, Or):
        return any(is_negative(child) for child in node.children)
    return False


__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "And",
    "Field",
    "Leaf",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Regex",
    "Term",
    "is_negative",
]
