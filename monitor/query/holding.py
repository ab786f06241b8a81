"""Bound trees to generated functions listing which of a rule's leaves hold for an article.

Pure. A leaf is a node that AND, OR and NOT combine: a word, phrase, prefix, hyphenated
word, NEAR group, regex or URL substring. A rule's explanation depends only on its holding
leaves, so the explainer asks each rule for them and explains each distinct list once.

Explaining every rule that fires walked its tree node by node (a call, type tests and a
lookup per leaf), and most leaves walked are the words of an OR that do not occur. As for
`predicate`, rules of one shape share one generated function, in which a leaf that does not
occur is ruled out by inline set lookups; only the others reach the explainer's per-article
table. The rule's words, sets and leaf numbers are the function's argument, never its source.
Each AND nested in another indents the code once more; the parser's `MAX_DEPTH` (32 groups
and NOTs) keeps that far below the 100 levels Python compiles.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.query.compiler import AllOf, AnyOf, Bound, NoneOf
from monitor.query.document import AnalyzedDocument
from monitor.query.predicate import necessary

# Lists which leaves hold for `d`, as numbers in `Leaves`, in the order hits are listed:
# `holds` tells whether the leaf with a number holds (the explainer's table), and the third
# argument is the rule's own values (one tuple a rule, where a closure would cost 3x the memory)
Asked = Callable[[int], bool]
Holding = Callable[[AnalyzedDocument, Asked, tuple[object, ...]], list[int]]
Explaining = tuple[Holding, tuple[object, ...]]  # a rule's function and values


class Leaves:
    """Every distinct leaf of a rule set, numbered: equal leaves of two rules are one."""

    def __init__(self) -> None:
        self.nodes: list[Bound] = []
        self._numbers: dict[Bound, int] = {}

    def number(self, leaf: Bound) -> int:
        found = self._numbers.get(leaf)
        if found is None:
            found = self._numbers[leaf] = len(self.nodes)
            self.nodes.append(leaf)
        return found


def holding(node: Bound, leaves: Leaves) -> Explaining:
    """The function listing `node`'s holding leaves, and its values; their order is the
    tree's, every leaf of an OR that holds is listed, and an AND that fails lists none."""
    source = _Source(leaves)
    source.statements(node, "    ")
    body = "\n".join(source.lines)
    function = _FUNCTIONS.get(body)
    if function is None:
        names = "".join(f"p{number}, " for number in range(len(source.params)))
        code = f"def holding(d, holds, p):\n    {names}= p\n    h = []\n{body}\n    return h\n"
        namespace: dict[str, Holding] = {}
        exec(code, namespace)  # noqa: S102 - source is built from node kinds only; values are arguments
        function = _FUNCTIONS[body] = namespace["holding"]
    return function, tuple(source.params)


# one per rule shape
_FUNCTIONS: dict[str, Holding] = {}


class _Source:
    """The statements of one rule's function, and the values it is called with."""

    def __init__(self, leaves: Leaves) -> None:
        self.leaves = leaves
        self.params: list[object] = []
        self.lines: list[str] = []
        self.count = 0

    def value(self, item: object) -> str:
        self.params.append(item)
        return f"p{len(self.params) - 1}"

    def statements(self, node: Bound, pad: str) -> str:
        """Append statements computing whether `node` holds; return the variable that says so."""
        self.count += 1
        held, lines = f"v{self.count}", self.lines
        if isinstance(node, AnyOf):  # every child is asked: each that holds is listed
            children = [self.statements(child, pad) for child in node.children]
            lines.append(f"{pad}{held} = {' or '.join(children)}")
        elif isinstance(node, AllOf):  # the first that fails ends it, and unlists the others
            mark = f"m{self.count}"
            lines.append(f"{pad}{mark} = len(h)")
            for index, child in enumerate(node.children):
                inner = pad
                if index:
                    lines.append(f"{pad}if {held}:")
                    inner = pad + "    "
                lines.append(f"{inner}{held} = {self.statements(child, inner)}")
            lines.append(f"{pad}if not {held}:\n{pad}    del h[{mark}:]")
        elif isinstance(node, NoneOf):  # its leaves are never listed
            outer = f"o{self.count}"
            lines.append(f"{pad}{outer} = h\n{pad}h = []")
            negated = self.statements(node.child, pad)
            lines.append(f"{pad}h = {outer}\n{pad}{held} = not {negated}")
        else:
            number = self.value(self.leaves.number(node))
            check = necessary(node, self.params)  # a word absent: one lookup says so
            asked = f"{check} and holds({number})" if check else f"holds({number})"
            lines.append(f"{pad}{held} = {asked}")
            lines.append(f"{pad}if {held}:\n{pad}    h.append({number})")
        return held


__all__ = ["Asked", "Explaining", "Holding", "Leaves", "holding"]
