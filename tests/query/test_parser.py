"""The rule language's syntax: canonical printing and the exact wording of every error."""

from __future__ import annotations

import pytest

from monitor.errors import ConfigError, RuleSyntaxError
from monitor.models import RuleSpec
from monitor.query import And, Field, Near, Not, Or, Phrase, Regex, Term, compile_rules, parse_query

TREES = [
    ("Iraq", Term("Iraq")),
    ("troop withdrawal", And((Term("troop"), Term("withdrawal")))),
    ("a AND b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
    ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),
    ("(a OR b) c", And((Or((Term("a"), Term("b"))), Term("c")))),
    ("-a b", And((Not(Term("a")), Term("b")))),
    ("b NOT a", And((Term("b"), Not(Term("a"))))),
    ('"troop withdrawal"', Phrase("troop withdrawal")),
    ("withdraw*", Term("withdraw", prefix=True)),
    ("=Iraqi", Term("Iraqi", exact=True)),
    ("e-mail", Term("e-mail")),
    ("and", Term("and")),
    ("1,000", Term("1,000")),
    ("/ira[qk]/", Regex("ira[qk]")),
    ("NEAR/5(troops, withdraw)", Near(5, (Term("troops"), Term("withdraw")))),
    ('ONEAR/2(a, "b c")', Near(2, (Term("a"), Phrase("b c")), ordered=True)),
    ("title:Iraq", Field("title", Term("Iraq"))),
    ('author:"Shesgreen"', Field("author", Phrase("Shesgreen"))),
    ("url:.gov", Field("url", Term(".gov"))),
    ("title:(a OR b)", Field("title", Or((Term("a"), Term("b"))))),
]


@pytest.mark.parametrize(("query", "tree"), TREES, ids=[q for q, _ in TREES])
def test_parse_and_print_back(query: str, tree: object) -> None:
    node = parse_query(query)
    assert node == tree
    assert parse_query(str(node)) == node


def test_canonical_text() -> None:
    assert str(parse_query("(derby OR goal) -Iraq")) == "(derby OR goal) AND NOT Iraq"
    assert str(parse_query("title:( a  b )")) == "title:(a AND b)"


TOO_DEEP = "groups and NOTs nested more than 32 deep: simplify the query"
ERRORS = [
    # query                     message                                                  column
    ('"troop withdrawal") Iraq', "unbalanced ')'", 19),
    ("(Iraq OR Syria", "unbalanced '(': missing ')'", 1),
    ("Iraq OR (Syria", "unbalanced '(': missing ')'", 9),
    ('Iraq "troop withdrawal', "unterminated phrase: missing closing '\"'", 6),
    ("Iraq AND", "expected a term, phrase or group after 'AND', found the end of the query", 9),
    ("Iraq OR OR Syria", "expected a term, phrase or group after 'OR', found 'OR'", 9),
    ("AND Iraq", "'AND' needs a term before it", 1),
    ("Iraq NOT", "expected a term, phrase or group after 'NOT', found the end of the query", 9),
    ("Iraq - Syria", "expected a term after '-'", 7),
    ("", "empty query: expected a term, phrase or group", 1),
    ("   ", "empty query: expected a term, phrase or group", 1),
    ("()", "empty group: expected a term inside '( )'", 2),
    (
        "NOT Iraq",
        "a query made only of exclusions matches nearly everything: add a term to look for",
        1,
    ),
    (
        "-Iraq -Syria",
        "a query made only of exclusions matches nearly everything: add a term to look for",
        1,
    ),
    ("NEAR/x(troops, withdraw)", "expected NEAR/<distance>(term, term, ...)", 1),
    ("Iraq NEAR troops", "expected NEAR/<distance>(term, term, ...)", 6),
    ("NEAR/5(troops)", "NEAR needs at least two terms", 1),
    ("NEAR/0(a, b)", "NEAR distance must be between 1 and 1000", 1),
    ("NEAR/5(a AND b)", "expected ',' or ')' in NEAR, found 'AND'", 10),
    ("NEAR/5(a, (b))", "NEAR takes only terms and phrases", 11),
    ("NEAR/5(a, b", "unbalanced '(': missing ')' after NEAR", 1),
    (
        "body:Iraq",
        "unknown field 'body' (fields: title, text, summary, author, feed, url, tag, lang)",
        1,
    ),
    ("title:", "expected a term, phrase or group after 'title:', found the end of the query", 7),
    ("Iraq wi*", "a prefix needs at least 3 letters before '*'", 6),
    ("wi*th", "'*' is allowed only at the end of a word", 3),
    ("=with*", "'=' (exact word) and '*' (prefix) cannot be combined", 1),
    ("Iraq /ira(q/", "bad regex: missing ): ira(q", 6),
    ("Iraq /ira", "unterminated regex: missing closing '/'", 6),
    ("Iraq //", "empty regex", 6),
    ("Iraq &", "'&' has no letters or digits", 6),
    ('Iraq ""', "empty phrase: expected words between the quotes", 6),
    ("Iraq, Syria", "unexpected ','", 5),
    ("(" * 33 + "Iraq" + ")" * 33, TOO_DEEP, 33),
    ("a " + "NOT " * 33 + "b", TOO_DEEP, 131),
]


@pytest.mark.parametrize(("query", "message", "column"), ERRORS, ids=[q for q, _, _ in ERRORS])
def test_syntax_error_wording_and_column(query: str, message: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_query(query)
    assert (caught.value.reason, caught.value.column) == (message, column)
    assert str(caught.value) == f"{message} at column {column}"


def test_nesting_up_to_the_limit_is_a_query() -> None:
    assert str(parse_query("(" * 32 + "Iraq" + ")" * 32)) == "Iraq"
    assert str(parse_query("a " + "NOT " * 32 + "b")).startswith("a AND NOT NOT")


def test_pointer_draws_a_caret_under_the_column() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_query('"troop withdrawal") Iraq')
    assert caught.value.pointer() == '  "troop withdrawal") Iraq\n                    ^'


def test_compile_rules_reports_every_bad_rule_one_line_each() -> None:
    specs = [
        RuleSpec("ok", "Iraq"),
        RuleSpec("iraq", '"troop withdrawal") Iraq'),
        RuleSpec("sport", "-football"),
        RuleSpec("klingon", "Qapla", language="klingon"),
        RuleSpec("field", "body:x"),
    ]
    with pytest.raises(ConfigError) as caught:
        compile_rules(specs)
    problems = caught.value.problems
    assert problems[0] == "rule \"iraq\": unbalanced ')' at column 19"
    assert problems[1].startswith('rule "sport": a query made only of exclusions')
    assert problems[2].startswith("rule \"klingon\": unknown language 'klingon' (one of: arabic,")
    assert problems[3].startswith("rule \"field\": unknown field 'body'")
    assert len(problems) == 4


def test_unknown_language_is_fine_without_stemming() -> None:
    ruleset = compile_rules([RuleSpec("x", "Qapla", language="klingon", stemming=False)])
    assert ruleset.names == ("x",)
