"""Word prefixes a query certainly requires: how a full-text index can narrow a rule search.

Only what is certain is returned: the terms of an AND (or of a phrase or NEAR) over indexed
fields. A stemmed term gives the longest prefix it shares with every word of its stem
(`withdrawal` -> `withdraw`, `happiness` -> `happ` for `happy`, `die` -> nothing for `dying`),
so every inflection the matcher accepts passes the prefilter; anything unsure (NOT, regexes,
hyphens, dotted acronyms, short words, stemmers that rewrite more than a stem's end) adds
nothing and leaves the decision to the matcher. `prefix_clauses` also keeps what an OR
requires: one prefix of each branch.
"""

from __future__ import annotations

import os
from collections.abc import Set

from monitor.query.analysis import fold, stem
from monitor.query.ast import And, Field, Near, Node, Or, Phrase, Term

MIN_PREFIX = 3


def required_prefixes(node: Node, indexed: Set[str], language: str = "english") -> list[str]:
    """Prefixes of words every document matching `node` holds in the `indexed` fields."""
    if isinstance(node, And):
        return [p for child in node.children for p in required_prefixes(child, indexed, language)]
    if isinstance(node, Field):
        return required_prefixes(node.child, indexed, language) if node.name in indexed else []
    if isinstance(node, Near | Phrase):
        terms = node.args if isinstance(node, Near) else [Term(w) for w in node.text.split()]
        return [p for term in terms for p in required_prefixes(term, indexed, language)]
    if isinstance(node, Term):
        return _term_prefix(node, language)
    return []


MAX_CLAUSES = 16
Clauses = frozenset[frozenset[str]]  # every clause holds: a word starting with one of its prefixes


def prefix_clauses(node: Node, indexed: Set[str], language: str = "english") -> list[list[str]]:
    """What every document matching `node` holds, as clauses ANDed of prefixes ORed.

    `(derby OR goal) AND city` gives `[["cit"], ["derb", "goal"]]`; an OR of ANDs is
    distributed, keeping at most MAX_CLAUSES clauses (fewer clauses only filter less).
    """
    return sorted(sorted(clause) for clause in _clauses(node, indexed, language))


def _clauses(node: Node, indexed: Set[str], language: str) -> Clauses:
    if isinstance(node, And):
        return frozenset().union(*(_clauses(c, indexed, language) for c in node.children))
    if isinstance(node, Field):
        return _clauses(node.child, indexed, language) if node.name in indexed else frozenset()
    if isinstance(node, Or):
        alternatives = [_clauses(child, indexed, language) for child in node.children]
        if not all(alternatives):
            return frozenset()  # one branch needs nothing we can see
        product: set[frozenset[str]] = {frozenset()}
        for clauses in alternatives:
            product = {a | b for a in product for b in clauses}
            product = set(sorted(product, key=sorted)[:MAX_CLAUSES])
        return _minimal(product)
    return frozenset(frozenset([p]) for p in required_prefixes(node, indexed, language))


def _minimal(clauses: set[frozenset[str]]) -> Clauses:
    """Without the clauses another one implies (a clause holding all of a smaller one's)."""
    return frozenset(c for c in clauses if not any(o < c for o in clauses))


def _term_prefix(term: Term, language: str) -> list[str]:
    word = fold(term.word)
    if not word.isalnum() or not word.isascii():
        return []
    if not (term.exact or term.prefix):
        word = os.path.commonprefix([word, _stem_prefix(word, language)])  # noqa: RUF071
    return [word] if len(word) >= MIN_PREFIX else []


def _stem_prefix(word: str, language: str) -> str:
    """A prefix of every word the stemmer maps to `word`'s stem.

    English stems mostly are such a prefix, except for a final `i` (`happy` -> `happi`) or `e`
    (`hoping` -> `hope`) and a few irregular forms (`skies` -> `sky`). Other languages rewrite
    up to two letters at the end of a stem (French `active` -> `actif`, Dutch `maan` -> `man`).
    """
    stemmed = stem(word, language)
    if language in _ENGLISH:
        irregular = _IRREGULAR.get(stemmed)
        if irregular is not None:
            return os.path.commonprefix([stemmed, irregular])  # noqa: RUF071 - by character
        return stemmed[:-1] if stemmed.endswith(("i", "e")) else stemmed
    return stemmed[:-2] if language in _SUFFIX_ONLY else ""


_ENGLISH = frozenset({"english", "porter"})
# Stemmers checked to change at most the last two letters of a stem. Others (German `ue`,
# Dutch and Indonesian prefixes, Irish mutations, ...) give no prefix: the matcher decides.
_SUFFIX_ONLY = frozenset(
    {"catalan", "danish", "finnish", "french", "italian", "norwegian", "portuguese", "romanian"}
    | {"spanish", "swedish"}
)
# Snowball English's exceptional forms whose stem is no prefix of the word.
_IRREGULAR = {"sky": "skies", "die": "dying", "lie": "lying", "tie": "tying"}
