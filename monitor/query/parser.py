"""Query text to a syntax tree, rejecting anything the matcher could not run, with a column.

Pure: imports only `monitor.errors` (and re2 to validate regexes). Precedence: NOT > AND > OR;
juxtaposition is AND.
"""

from __future__ import annotations

import re2

from monitor.errors import RuleSyntaxError
from monitor.query.analysis import fold
from monitor.query.analysis import tokenize as tokenize_text
from monitor.query.ast import (
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
    is_negative,
)
from monitor.query.lexer import Kind, Token, tokenize

MAX_NEAR = 1000
MIN_PREFIX = 3
MAX_DEPTH = 32  # groups and NOTs inside each other: deeper is a mistake, not a query
_ARG_STARTS = (Kind.WORD, Kind.PHRASE)
_PRIMARY_STARTS = (Kind.WORD, Kind.PHRASE, Kind.REGEX, Kind.FIELD, Kind.NEAR, Kind.LPAREN)


def regex_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


def parse_query(text: str) -> Node:
    """The syntax tree of a query; raises RuleSyntaxError(message, query=, column=)."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, message: str, column: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, query=self.query, column=column)

    def parse(self) -> Node:
        if self.peek().kind is Kind.END:
            raise self.error("empty query: expected a term, phrase or group", 1)
        node = self.parse_or()
        token = self.peek()
        if token.kind is Kind.RPAREN:
            raise self.error("unbalanced ')'", token.column)
        if token.kind is not Kind.END:
            raise self.error(f"unexpected {token.describe()}", token.column)
        if is_negative(node):
            first = self.tokens[0].column
            raise self.error(
                "a query made only of exclusions matches nearly everything: add a term to look for",
                first,
            )
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind is Kind.OR:
            operator = self.advance()
            children.append(self.parse_and(after=operator))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, after: Token | None = None) -> Node:
        children = [self.parse_unary(after)]
        while True:
            token = self.peek()
            if token.kind is Kind.AND:
                self.advance()
                children.append(self.parse_unary(token))
            elif token.kind in (*_PRIMARY_STARTS, Kind.NOT, Kind.MINUS):
                children.append(self.parse_unary(None))
            else:
                break
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self, after: Token | None) -> Node:
        token = self.peek()
        if token.kind in (Kind.NOT, Kind.MINUS):
            self.advance()
            self.enter(token)
            node = Not(self.parse_unary(token))
            self.depth -= 1
            return node
        return self.parse_primary(after)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"groups and NOTs nested more than {MAX_DEPTH} deep: simplify the query",
                token.column,
            )

    def parse_primary(self, after: Token | None) -> Node:
        token = self.peek()
        if token.kind in (Kind.AND, Kind.OR) and after is None:
            raise self.error(f"{token.describe()} needs a term before it", token.column)
        if token.kind not in _PRIMARY_STARTS:
            raise self.expected(after, token)
        self.advance()
        if token.kind is Kind.LPAREN:
            if self.peek().kind is Kind.RPAREN:
                raise self.error("empty group: expected a term inside '( )'", self.peek().column)
            self.enter(token)
            node = self.parse_or()
            self.depth -= 1
            if self.peek().kind is not Kind.RPAREN:
                if self.peek().kind is Kind.END:
                    raise self.error("unbalanced '(': missing ')'", token.column)
                raise self.error(f"unexpected {self.peek().describe()}", self.peek().column)
            self.advance()
            return node
        if token.kind is Kind.FIELD:
            return self.field(token)
        if token.kind is Kind.NEAR:
            return self.near(token)
        if token.kind is Kind.REGEX:
            return self.regex(token)
        return self.leaf(token)

    def expected(self, after: Token | None, token: Token) -> RuleSyntaxError:
        if token.kind is Kind.RPAREN and after is None:
            return self.error("unbalanced ')'", token.column)
        where = f" after {after.describe()}" if after else ""
        if after is not None and after.kind is Kind.FIELD:
            where = f" after '{after.text}:'"
        return self.error(
            f"expected a term, phrase or group{where}, found {token.describe()}", token.column
        )

    def field(self, token: Token) -> Node:
        name = token.text.lower()
        if name not in FIELDS:
            raise self.error(
                f"unknown field '{token.text}' (fields: {', '.join(FIELDS)})", token.column
            )
        return Field(name, self.parse_primary(token))

    def leaf(self, token: Token) -> Term | Phrase:
        if token.kind is Kind.PHRASE:
            if not tokenize_text(token.text):
                raise self.error("empty phrase: expected words between the quotes", token.column)
            return Phrase(token.text)
        if not tokenize_text(token.text):
            raise self.error(f"'{token.text}' has no letters or digits", token.column)
        if token.prefix:
            letters = sum(c.isalnum() for c in fold(token.text))
            if letters < MIN_PREFIX:
                raise self.error(
                    f"a prefix needs at least {MIN_PREFIX} letters before '*'", token.column
                )
        return Term(token.text, exact=token.exact, prefix=token.prefix)

    def regex(self, token: Token) -> Regex:
        if not token.text:
            raise self.error("empty regex", token.column)
        try:
            re2.compile(token.text, regex_options())
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise self.error(f"bad regex: {reason}", token.column) from None
        return Regex(token.text)

    def near(self, token: Token) -> Near:
        name = "ONEAR" if token.ordered else "NEAR"
        distance = int(token.text)
        if not 1 <= distance <= MAX_NEAR:
            raise self.error(f"{name} distance must be between 1 and {MAX_NEAR}", token.column)
        self.advance()  # the '(' the lexer saw
        args: list[Term | Phrase] = []
        while True:
            arg = self.peek()
            if arg.kind not in _ARG_STARTS:
                if arg.kind is Kind.END:
                    raise self.error(f"unbalanced '(': missing ')' after {name}", token.column)
                raise self.error(f"{name} takes only terms and phrases", arg.column)
            self.advance()
            args.append(self.leaf(arg))
            separator = self.advance()
            if separator.kind is Kind.RPAREN:
                break
            if separator.kind is not Kind.COMMA:
                if separator.kind is Kind.END:
                    raise self.error(f"unbalanced '(': missing ')' after {name}", token.column)
                raise self.error(
                    f"expected ',' or ')' in {name}, found {separator.describe()}",
                    separator.column,
                )
        if len(args) < 2:
            raise self.error(f"{name} needs at least two terms", token.column)
        return Near(distance, tuple(args), ordered=token.ordered)


__all__ = ["parse_query"]
