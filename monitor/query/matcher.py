"""The whole rule set compiled once into one matcher with a presearch index (as Luwak does).

Pure: imports only `monitor.models`, `monitor.errors` and our query modules. An article is
analysed once; only rules whose index keys occur in it, plus the few that have no keys
(regex-only), are evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as Specs
from dataclasses import dataclass

from monitor.errors import ConfigError, RuleSyntaxError
from monitor.models import Document, Match, RuleSpec
from monitor.query.analysis import languages
from monitor.query.ast import Node
from monitor.query.compiler import Bound, bind
from monitor.query.document import PREFIX, SUBSTRING, AnalyzedDocument, slot
from monitor.query.holding import Leaves, holding
from monitor.query.parser import parse_query
from monitor.query.predicate import Predicate, exact_keys, keys, predicate
from monitor.query.snippet import Explainer

_URL = slot("url", SUBSTRING)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule, parsed, bound to its language, with its boolean closure."""

    spec: RuleSpec
    node: Node
    bound: Bound
    test: Predicate

    def applies_to(self, doc: Document) -> bool:
        """The rule's feed restrictions (`feeds`, `feed_tags`) allow this document."""
        spec = self.spec
        if spec.feeds and doc.feed_name not in spec.feeds:
            return False
        return not spec.feed_tags or not set(spec.feed_tags).isdisjoint(doc.feed_tags)


class RuleSet:
    """Compiled rules; `match(doc)` returns one Match per rule that fires, in rule order."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        index: dict[str, dict[str, list[int]]] = {}
        always: list[int] = []
        decided: list[int] = []
        for number, rule in enumerate(self.rules):
            found = keys(rule.bound)
            if found is None:
                always.append(number)
                continue
            for group, mode, term in found:
                length = len(term) if mode == PREFIX else 0
                index.setdefault(slot(group, mode, length), {}).setdefault(term, []).append(number)
            if exact_keys(rule.bound) and not (rule.spec.feeds or rule.spec.feed_tags):
                decided.append(number)
        # one probe per (field group, mode, prefix length): what an article is looked up in
        self._probes = tuple((where, where == _URL, table) for where, table in index.items())
        self._always = frozenset(always)
        # rules that hold exactly when one of their keys occurs: no test to run
        self._decided = frozenset(decided)
        self._tests = tuple(rule.test for rule in self.rules)
        self._names = tuple(rule.spec.name for rule in self.rules)
        # what explains a firing rule: its holding leaves, numbered across the set (the
        # numbering's index is needed only here)
        leaves = Leaves()
        self._explaining = tuple(holding(rule.bound, leaves) for rule in self.rules)
        self._leaves = tuple(leaves.nodes)
        # most rules watch every feed: skip the feed check for them
        self._open_to_all = [not (r.spec.feeds or r.spec.feed_tags) for r in self.rules]

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def unindexed(self) -> int:
        """How many rules are evaluated for every document (they have no presearch key)."""
        return len(self._always)

    def candidates(self, doc: AnalyzedDocument) -> list[int]:
        """Numbers of the rules that may match: presearch hits plus the unindexed rules."""
        return sorted(self._presearch(doc))

    def _presearch(self, doc: AnalyzedDocument) -> set[int]:
        found: set[int] = set(self._always)
        for where, substring, table in self._probes:
            if substring:
                url = doc[where]
                common: Iterable[str] = [needle for needle in table if needle in url]
            else:
                common = table.keys() & doc[where]
            for term in common:
                found.update(table[term])
        return found

    def match(self, doc: Document, *, presearch: bool = True) -> list[Match]:
        """The rules that fire on `doc`, each with hits and a marked snippet.

        `presearch=False` evaluates every rule one by one (the benchmark's baseline).
        """
        analysed = AnalyzedDocument(doc)
        explain = Explainer(analysed, self._leaves).explain
        names, explaining = self._names, self._explaining
        return [
            Match(names[number], *explain(explaining[number]))
            for number in self._firing(analysed, presearch)
        ]

    def fired(self, doc: Document, *, presearch: bool = True) -> list[str]:
        """The names of the rules that fire on `doc`, without the why (`match` explains)."""
        analysed = AnalyzedDocument(doc)
        names = self._names
        return [names[number] for number in self._firing(analysed, presearch)]

    def _firing(self, analysed: AnalyzedDocument, presearch: bool) -> list[int]:
        doc = analysed.doc
        rules, open_to_all, tests = self.rules, self._open_to_all, self._tests
        if presearch:
            found = self._presearch(analysed)
            fired = found & self._decided
            numbers: Iterable[int] = found - fired
        else:
            fired, numbers = set(), range(len(rules))
        fired.update(
            number
            for number in numbers
            if (open_to_all[number] or rules[number].applies_to(doc)) and tests[number](analysed)
        )
        return sorted(fired)


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """One rule; raises RuleSyntaxError naming the rule, or ConfigError for a bad language."""
    if spec.stemming and spec.language not in languages():
        raise ConfigError(
            f"unknown language '{spec.language}' (one of: {', '.join(languages())})",
            subject=f'rule "{spec.name}"',
        )
    try:
        node = parse_query(spec.query)
    except RuleSyntaxError as exc:
        raise exc.with_rule(spec.name) from None
    bound = bind(node, spec.language if spec.stemming else None)
    return CompiledRule(spec, node, bound, predicate(bound))


def compile_rules(specs: Specs[RuleSpec]) -> RuleSet:
    """All rules in one matcher; every invalid rule is reported, one line each, in one error."""
    compiled: list[CompiledRule] = []
    problems: list[str] = []
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            problems.append(f'rule "{spec.name}": duplicate rule name')
            continue
        seen.add(spec.name)
        try:
            compiled.append(compile_rule(spec))
        except ConfigError as exc:
            problems.append(str(exc))
            errors.append(exc)
    if problems:
        count = len(problems)
        message = problems[0] if count == 1 else f"{count} invalid rules: {'; '.join(problems)}"
        raise ConfigError(message, problems=problems)
    return RuleSet(compiled)


__all__ = ["CompiledRule", "RuleSet", "compile_rule", "compile_rules"]
