"""Explanations shared between rules: which leaves are listed, and that sharing changes nothing.

A rule set explains each distinct list of holding leaves once per article and hands the same
explanation to every rule that fires on that list, which a generated function per rule shape
lists.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.models import Document, Hit, RuleSpec
from monitor.query import Node, compile_rules
from monitor.query.compiler import AllOf, AnyOf, Bound, NoneOf
from monitor.query.document import AnalyzedDocument
from monitor.query.parser import MAX_DEPTH
from monitor.query.snippet import _leaf
from tests.query.test_property import documents, queries, rule_specs

DOC = Document(title="Troops in Iraq", text="The troops left Iraq. The army stayed home.")
IRAQ = (Hit("iraq", "title"), Hit("iraq", "text"))
ARMY = (Hit("army", "text"),)


@pytest.mark.parametrize(
    ("query", "hits"),
    [
        # an OR lists every term that holds, and no other
        ("iraq OR navy OR army", IRAQ + ARMY),
        # an AND that fails inside an OR lists none of its terms; one that holds, all
        ("(iraq AND navy) OR army", ARMY),
        ("(iraq AND army) OR navy", IRAQ + ARMY),
        # the terms under a NOT are never listed
        ("army NOT (navy OR sport)", ARMY),
        ("army NOT (navy AND troops)", ARMY),
        ("iraq AND (army OR -troops)", IRAQ + ARMY),  # a NOT that fails under an OR that holds
    ],
)
def test_the_hits_are_the_terms_that_made_the_rule_hold(query: str, hits: tuple[Hit, ...]) -> None:
    [match] = compile_rules([RuleSpec("r", query)]).match(DOC)
    assert match.hits == hits


def test_rules_firing_on_the_same_terms_get_the_same_explanation() -> None:
    specs = [RuleSpec("a", "army"), RuleSpec("b", "army OR navy"), RuleSpec("c", "navy OR army")]
    first, second, third = compile_rules(specs).match(DOC)
    assert [first.rule, second.rule, third.rule] == ["a", "b", "c"]
    assert (first.hits, first.snippet, first.marks) == (second.hits, second.snippet, second.marks)
    assert (second.hits, second.snippet, second.marks) == (third.hits, third.snippet, third.marks)
    assert [first.snippet[b:e] for b, e in first.marks] == ["army"]


def _listed(node: Bound, doc: AnalyzedDocument, listed: list[Bound]) -> bool:
    """The reference: walk the tree, listing every leaf that holds under an OR, none of a
    failed AND's, none under a NOT."""
    if isinstance(node, AnyOf):
        held = [_listed(child, doc, listed) for child in node.children]
        return any(held)
    if isinstance(node, AllOf):
        mark = len(listed)
        if all(_listed(child, doc, listed) for child in node.children):
            return True
        del listed[mark:]
        return False
    if isinstance(node, NoneOf):
        return not _listed(node.child, doc, [])
    if _leaf(node, doc):
        listed.append(node)
        return True
    return False


# 1,000: an AND failing under an OR that holds is rare among random queries. With the AND's
# unlisting removed, 300 examples missed the bug, and 1,000 found it with 5 seeds of 5.
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), st.lists(documents, min_size=1, max_size=2))
def test_rules_explained_together_are_explained_as_each_alone_and_list_the_leaves_that_hold(
    nodes: list[Node], docs: list[Document]
) -> None:
    _, specs = rule_specs(nodes)
    together = compile_rules(specs)
    alone = [compile_rules([spec]) for spec in specs]
    bounds = {rule.spec.name: rule.bound for rule in together.rules}
    for doc in docs:
        matches = together.match(doc)
        assert matches == [m for ruleset in alone for m in ruleset.match(doc)]
        analysed = AnalyzedDocument(doc)
        for match in matches:
            listed: list[Bound] = []
            assert _listed(bounds[match.rule], analysed, listed)
            found = [(label, name) for leaf in listed for label, name, _ in _leaf(leaf, analysed)]
            assert match.hits == tuple(Hit(*hit) for hit in dict.fromkeys(found))


def test_the_deepest_rule_the_parser_takes_is_explained() -> None:
    """Generated code nests once per AND inside an OR inside an AND: the deepest query
    (`MAX_DEPTH` groups) still compiles, and one group more is the parser's error."""
    query = "army"
    for _ in range(MAX_DEPTH // 4):  # four groups a round
        query = f"(navy OR (troops AND (navy OR (troops AND {query}))))"
    doc = Document(text="army troops navy")
    [match] = compile_rules([RuleSpec("deep", query)]).match(doc)
    assert match.hits == (Hit("navy", "text"), Hit("troops", "text"), Hit("army", "text"))
    assert [match.snippet[b:e] for b, e in match.marks] == ["army", "troops", "navy"]
    with pytest.raises(ConfigError, match="nested more than"):
        compile_rules([RuleSpec("deeper", f"({query})")])
