"""Query text to tokens, each with its 1-based column, for the parser and its error messages.

Pure: imports only `monitor.errors`. Operators are upper case only (`and` is a word).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from monitor.errors import RuleSyntaxError


class Kind(Enum):
    WORD = "word"
    PHRASE = "phrase"
    REGEX = "regex"
    FIELD = "field"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    MINUS = "-"
    NEAR = "NEAR"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # the word, phrase body, regex body or field name; for NEAR the distance
    column: int  # 1-based
    ordered: bool = False  # ONEAR
    exact: bool = False  # `=word`
    prefix: bool = False  # `word*`

    def describe(self) -> str:
        if self.kind in (Kind.WORD, Kind.FIELD):
            return f"'{self.text}'"
        if self.kind is Kind.PHRASE:
            return f'"{self.text}"'
        if self.kind is Kind.END:
            return "the end of the query"
        if self.kind is Kind.NEAR:
            return "'ONEAR'" if self.ordered else "'NEAR'"
        return f"'{self.kind.value}'"


_SPACE = frozenset(" \t\r\n\f\v\u00a0")
_STOP = frozenset('()"') | _SPACE
_FIELD = re.compile(r"([A-Za-z]+):")
_NEAR = re.compile(r"(O?NEAR)/(\d+)\(")
_NEAR_START = re.compile(r"O?NEAR(?=[/(]|$|\s)")
_OPERATORS = {"AND": Kind.AND, "OR": Kind.OR, "NOT": Kind.NOT}


def _error(message: str, query: str, index: int) -> RuleSyntaxError:
    return RuleSyntaxError(message, query=query, column=index + 1)


def tokenize(query: str) -> list[Token]:
    """The tokens of `query`, ending with an END token; raises RuleSyntaxError."""
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in _SPACE:
            i += 1
        elif char in "(),":
            kind = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}[char]
            tokens.append(Token(kind, char, i + 1))
            i += 1
        elif char == '"':
            i = _phrase(query, i, tokens)
        elif char == "/":
            i = _regex(query, i, tokens)
        elif char == "-":
            if i + 1 >= n or query[i + 1] in _SPACE or query[i + 1] in "),":
                raise _error("expected a term after '-'", query, i + 1)
            tokens.append(Token(Kind.MINUS, "-", i + 1))
            i += 1
        else:
            i = _word(query, i, tokens)
    tokens.append(Token(Kind.END, "", n + 1))
    return tokens


def _phrase(query: str, i: int, tokens: list[Token]) -> int:
    end = query.find('"', i + 1)
    if end < 0:
        raise _error("unterminated phrase: missing closing '\"'", query, i)
    tokens.append(Token(Kind.PHRASE, query[i + 1 : end], i + 1))
    return end + 1


def _regex(query: str, i: int, tokens: list[Token]) -> int:
    j, body = i + 1, []
    while j < len(query):
        char = query[j]
        if char == "\\" and j + 1 < len(query) and query[j + 1] == "/":
            body.append("/")
            j += 2
            continue
        if char == "/":
            tokens.append(Token(Kind.REGEX, "".join(body), i + 1))
            return j + 1
        body.append(char)
        j += 1
    raise _error("unterminated regex: missing closing '/'", query, i)


def _word(query: str, i: int, tokens: list[Token]) -> int:
    field = _FIELD.match(query, i)
    if field:
        tokens.append(Token(Kind.FIELD, field.group(1), i + 1))
        return field.end()
    near = _NEAR.match(query, i)
    if near:
        ordered = near.group(1) == "ONEAR"
        tokens.append(Token(Kind.NEAR, near.group(2), i + 1, ordered=ordered))
        return near.end() - 1  # the '(' is lexed on its own
    if _NEAR_START.match(query, i):
        raise _error("expected NEAR/<distance>(term, term, ...)", query, i)
    j = i
    while j < len(query) and query[j] not in _STOP:
        # a comma separates NEAR arguments, except inside a number such as 1,000
        if query[j] == "," and not (
            j > i and query[j - 1].isdigit() and j + 1 < len(query) and query[j + 1].isdigit()
        ):
            break
        j += 1
    text = query[i:j]
    if text in _OPERATORS:
        tokens.append(Token(_OPERATORS[text], text, i + 1))
        return j
    exact = text.startswith("=")
    if exact:
        text = text[1:]
    prefix = text.endswith("*")
    if prefix:
        text = text[:-1]
    if exact and prefix:
        raise _error("'=' (exact word) and '*' (prefix) cannot be combined", query, i)
    if "*" in text:
        raise _error("'*' is allowed only at the end of a word", query, i + query[i:j].index("*"))
    if not text:
        raise _error(f"expected a word after '{query[i:j]}'", query, i)
    tokens.append(Token(Kind.WORD, text, i + 1, exact=exact, prefix=prefix))
    return j


__all__ = ["Kind", "Token", "tokenize"]
