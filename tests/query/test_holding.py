"""Explanations shared between rules: which leaves are listed, and that sharing changes nothing.

A rule set explains each distinct list of holding leaves once per article and hands the same
explanation to every rule that fires on that list; the generated functions that list a rule's
leaves have a tree-walking twin for rules nested too deep for generated code.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import Document, Hit, RuleSpec
from monitor.query import Node, compile_rules, parse_query
from monitor.query import holding as holding_module
from monitor.query.ast import is_negative
from tests.query.test_property import documents, queries

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


def _rules(nodes: list[Node]) -> list[RuleSpec]:
    found = [parse_query(str(node)) for node in nodes if not is_negative(node)]
    return [RuleSpec(f"r{i}", str(node)) for i, node in enumerate(found)]


# 1,000: an AND failing under an OR that holds is rare among random queries. With the AND's
# unlisting removed, 300 examples missed the bug, and 1,000 found it with 5 seeds of 5.
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), st.lists(documents, min_size=1, max_size=2))
def test_neither_sharing_nor_the_tree_walk_changes_an_explanation(
    nodes: list[Node], docs: list[Document]
) -> None:
    """Rules explained together are explained as each alone; and walking every rule's tree
    (as for rules too deep for generated code) lists what the generated code lists."""
    specs = _rules(nodes)
    together = compile_rules(specs)
    alone = [compile_rules([spec]) for spec in specs]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(holding_module, "_DEEPEST", -1)  # every rule walked
        walked = compile_rules(specs)
    for doc in docs:
        each = [match for ruleset in alone for match in ruleset.match(doc)]
        assert together.match(doc) == each
        assert walked.match(doc) == each


def test_a_rule_nested_deeper_than_generated_code_goes_is_explained() -> None:
    query = "army"
    for depth in range(14):  # 28 groups deep: the parser takes up to 32
        query = f"(navy OR ({query} AND troops{depth % 2}))"
    query = query.replace("troops1", "troops")
    doc = Document(text="army troops troops0 navy")
    [match] = compile_rules([RuleSpec("deep", query)]).match(doc)
    assert Hit("army", "text") in match.hits
    assert Hit("navy", "text") in match.hits
    assert [match.snippet[b:e] for b, e in match.marks][:1] == ["army"]
