"""The compiled, presearching rule set agrees with a naive evaluator that checks each rule alone.

The reference below shares nothing with the matcher but PyStemmer: texts are plain words
separated by spaces, so tokenizing is `split()`, and every construct is checked by brute force.
"""

from __future__ import annotations

import itertools
import re

import Stemmer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import Document, RuleSpec
from monitor.query import (
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Regex,
    Term,
    compile_rules,
    parse_query,
)
from monitor.query.ast import is_negative

VOCABULARY = [
    "troop",
    "Troops",
    "withdraw",
    "withdrawal",
    "Iraq",
    "army",
    "goal",
    "derby",
    "vote",
    "voting",
]
PREFIXES = ["withd", "tro", "vot", "der"]
FIELDS = ("title", "summary", "text")
STEM = Stemmer.Stemmer("english").stemWord

words = st.sampled_from(VOCABULARY)
terms = st.one_of(
    words.map(Term),
    words.map(lambda w: Term(w, exact=True)),
    st.sampled_from(PREFIXES).map(lambda p: Term(p, prefix=True)),
)
phrases = st.lists(words, min_size=2, max_size=3).map(lambda ws: Phrase(" ".join(ws)))
args = st.one_of(terms, phrases)
leaves = st.one_of(
    terms,
    phrases,
    st.builds(
        Near, st.integers(1, 4), st.lists(args, min_size=2, max_size=3).map(tuple), st.booleans()
    ),
    st.sampled_from(["troops? w", "ira[qk]", "^goal", "vot(e|ing)$"]).map(Regex),
)


def _extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    group = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        group.map(And),
        group.map(Or),
        inner.map(Not),
        st.tuples(st.sampled_from(FIELDS), inner).map(lambda t: Field(*t)),
    )


queries = st.recursive(leaves, _extend, max_leaves=6)
texts = st.lists(words, max_size=12).map(" ".join)
documents = st.builds(Document, title=texts, summary=texts, text=texts)


# --- the naive reference --------------------------------------------------------------


def _positions(node: Term | Phrase, tokens: list[str]) -> list[tuple[int, int]]:
    if isinstance(node, Phrase):
        parts = [STEM(w.lower()) for w in node.text.split()]
        stems = [STEM(t) for t in tokens]
        n = len(parts)
        return [(i, i + n - 1) for i in range(len(tokens) - n + 1) if stems[i : i + n] == parts]
    word = node.word.lower()
    if node.prefix:
        return [(i, i) for i, t in enumerate(tokens) if t.startswith(word)]
    if node.exact:
        return [(i, i) for i, t in enumerate(tokens) if t == word]
    return [(i, i) for i, t in enumerate(tokens) if STEM(t) == STEM(word)]


def _near(node: Near, tokens: list[str]) -> bool:
    lists = [_positions(arg, tokens) for arg in node.args]
    for choice in itertools.product(*lists):
        if node.ordered:
            if all(a[1] < b[0] for a, b in itertools.pairwise(choice)) and (
                choice[-1][0] - choice[0][1] <= node.distance
            ):
                return True
        elif max(s for s, _ in choice) - min(e for _, e in choice) <= node.distance:
            return True
    return False


def holds(node: Node, doc: Document, fields: tuple[str, ...] = FIELDS) -> bool:
    if isinstance(node, Field):
        return holds(node.child, doc, (node.name,))
    if isinstance(node, And):
        return all(holds(c, doc, fields) for c in node.children)
    if isinstance(node, Or):
        return any(holds(c, doc, fields) for c in node.children)
    if isinstance(node, Not):
        return not holds(node.child, doc, fields)
    for name in fields:
        text = getattr(doc, name).lower()
        tokens = text.split()
        if isinstance(node, Regex):
            found = re.search(node.pattern, text) is not None
        elif isinstance(node, Near):
            found = _near(node, tokens)
        else:
            found = bool(_positions(node, tokens))
        if found:
            return True
    return False


def rule_specs(nodes: list[Node]) -> tuple[list[Node], list[RuleSpec]]:
    """The generated queries a rule may be (not only exclusions), parsed back, as rules."""
    rules = [parse_query(str(node)) for node in nodes if not is_negative(node)]
    return rules, [RuleSpec(f"r{i}", str(node)) for i, node in enumerate(rules)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), st.lists(documents, min_size=1, max_size=3))
def test_compiled_rule_set_agrees_with_naive_evaluation(
    nodes: list[Node], docs: list[Document]
) -> None:
    rules, specs = rule_specs(nodes)
    ruleset = compile_rules(specs)
    for doc in docs:
        expected = [spec.name for spec, node in zip(specs, rules, strict=True) if holds(node, doc)]
        assert [m.rule for m in ruleset.match(doc)] == expected
        assert [m.rule for m in ruleset.match(doc, presearch=False)] == expected
        assert ruleset.fired(doc) == expected


@settings(max_examples=200, deadline=None)
@given(queries)
def test_printed_query_parses_to_the_same_text(node: Node) -> None:
    if is_negative(node):
        return
    text = str(node)
    assert str(parse_query(text)) == text
