"""The rule language: parse queries, compile a rule set once, match analysed articles.

Pure: no I/O; imports only `monitor.models` and `monitor.errors` of ours (plus PyStemmer and
google-re2). See `parser` for the syntax, `matcher` for the presearching rule set.
"""

from __future__ import annotations

from monitor.models import Document
from monitor.query.analysis import Token, fold, languages
from monitor.query.analysis import tokenize as analyze_text
from monitor.query.ast import (
    DEFAULT_FIELDS,
    FIELDS,
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Regex,
    Term,
)
from monitor.query.document import AnalyzedDocument
from monitor.query.matcher import CompiledRule, RuleSet, compile_rule, compile_rules
from monitor.query.parser import parse_query
from monitor.query.prefilter import prefix_clauses, required_prefixes


def analyze(doc: Document) -> AnalyzedDocument:
    """A document analysed once (tokens, positions, stems per field, lazily)."""
    return AnalyzedDocument(doc)


__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "AnalyzedDocument",
    "And",
    "CompiledRule",
    "Field",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Regex",
    "RuleSet",
    "Term",
    "Token",
    "analyze",
    "analyze_text",
    "compile_rule",
    "compile_rules",
    "fold",
    "languages",
    "parse_query",
    "prefix_clauses",
    "required_prefixes",
]
