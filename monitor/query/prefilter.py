"""Word prefixes a query certainly requires: how a full-text index can narrow a rule search.

Only what is certain is returned: the terms of an AND (or of a phrase or NEAR) over indexed
fields. A stemmed term gives the longest prefix it shares with its stem (`withdrawal` ->
`withdraw`, `happy` -> `happ`), so every inflection the matcher accepts passes the prefilter;
anything unsure (OR, NOT, regexes, hyphens, dotted acronyms, short words) adds nothing and
leaves the decision to the matcher.
"""

from __future__ import annotations

import os
from collections.abc import Set

from monitor.query.analysis import fold, stem
from monitor.query.ast import And, Field, Near, Node, Phrase, Term

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
    return stemmed[:-2]


_ENGLISH = frozenset({"english", "porter"})
# Snowball English's exceptional forms whose stem is no prefix of the word.
_IRREGULAR = {"sky": "skies", "die": "dying", "lie": "lying", "tie": "tying"}
