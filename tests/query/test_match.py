"""What each construct matches and does not match, the fixture site's rules, hits and snippets."""

from __future__ import annotations

import pytest

from monitor.models import Document, Hit, RuleSpec
from monitor.query import compile_rules

# query, text of the article, whether it matches
CASES = [
    ("Iraq", "Troops left Iraq.", True),
    ("Iraq", "Troops left Iran.", False),
    ("Irák", "news from IRAK", True),
    ("irak", "news from Irák", True),
    ("Iraq", "Iraq's prime minister", True),
    ("Iraq's", "Iraq said", True),
    ("troops", "a scout troop", True),
    ("withdrawing", "they will withdraw", True),
    ("troop", "the troopers", False),
    ("and", "salt and pepper", True),
    ("2020", "in 2020 the", True),
    ("2020", "in 2021 the", False),
    ("U.S.", "US troops", True),
    ("US", "U.S. troops", True),
    ("u.s", "the U.S troops", True),
    ("email", "send an e-mail", True),
    ("e-mail", "send an email", True),
    ("e-mail", "send an e mail", True),
    ("e-mail", "send a mail", False),
    ('"troop withdrawal"', "the troop withdrawals began", True),
    ('"troop withdrawal"', "a troop announced the withdrawal", False),
    ('"troop withdrawal"', "withdrawal troop", False),
    ('"withdrawal of U.S. troops"', "the withdrawal of U.S troops", True),
    ("troop withdrawal", "withdrawal of a troop", True),
    ("troop AND withdrawal", "withdrawal only", False),
    ("troop OR withdrawal", "withdrawal only", True),
    ("troop OR withdrawal", "nothing here", False),
    ("troop -withdrawal", "troop withdrawal", False),
    ("troop NOT withdrawal", "troop only", True),
    ("derby OR goal Iraq", "a derby", True),
    ("derby OR goal Iraq", "a goal", False),
    ("(derby OR goal) NOT Iraq", "a goal in Iraq", False),
    ("(derby OR goal) NOT Iraq", "a goal at the derby", True),
    ("withdraw*", "the withdrawal", True),
    ("withdraw*", "he withdrew", False),
    ("=Iraqi", "an Iraqi official", True),
    ("=Iraqi", "Iraqis said", False),
    ("Iraqi", "Iraqis said", True),
    ("=troops", "one troop", False),
    ("NEAR/2(troops, withdraw)", "withdraw all troops", True),
    ("NEAR/2(troops, withdraw)", "withdraw all the troops", False),
    ("NEAR/2(troops, withdraw)", "troops may withdraw", True),
    ("ONEAR/3(troops, withdraw)", "withdraw all troops", False),
    ("ONEAR/3(troops, withdraw)", "troops will withdraw", True),
    ('NEAR/3("troop withdrawal", Iraq)', "Iraq demands a troop withdrawal", True),
    ('NEAR/3("troop withdrawal", Iraq)', "Iraq demands a quick and total troop withdrawal", False),
    ("NEAR/1(withdraw*, troop)", "troops withdrawing", True),
    ("/ira[qk]is?\\b/", "the IRAKIS said", True),
    ("/ira[qk]is?\\b/", "the Iraqian said", False),
    ("/troop withdrawal/", "Troop  withdrawal", False),
]


def _match(query: str, doc: Document, **spec: object) -> bool:
    ruleset = compile_rules([RuleSpec("r", query, **spec)])  # type: ignore[arg-type]
    matches = ruleset.match(doc)
    assert matches == ruleset.match(doc, presearch=False)
    return bool(matches)


@pytest.mark.parametrize(
    ("query", "text", "expected"), CASES, ids=[f"{q}|{t}" for q, t, _ in CASES]
)
def test_construct(query: str, text: str, expected: bool) -> None:
    assert _match(query, Document(text=text)) is expected


DOC = Document(
    title="Iraq asks for troop withdrawal",
    text="The prime minister spoke.",
    summary="A summary about the troop.",
    author="Deirdre Shesgreen",
    feed="Reuters World feeds.reuters.com",
    url="https://www.State.gov/news/2020",
    tags=("World", "Middle East"),
    lang="en-US",
)

FIELD_CASES = [
    ("title:Iraq", True),
    ("text:Iraq", False),
    ("summary:troop", True),
    ("summary:withdrawal", False),
    ("title:(minister OR withdrawal)", True),
    ("text:(minister withdrawal)", False),
    ('author:"Shesgreen"', True),
    ("Shesgreen", False),  # a query without a field searches title, summary and text
    ("feed:reuters", True),
    ("reuters", False),
    ("url:.gov", True),
    ("url:state.gov/news", True),
    ("url:.com", False),
    ("url:/gov\\/news/", True),
    ("tag:World", True),
    ('tag:"middle east"', True),
    ('tag:"world middle"', False),  # a phrase does not span two values
    ("lang:en", True),
    ("lang:en-us", True),
    ("lang:fr", False),
    ('"withdrawal the"', False),  # nor the end of the title and the start of the summary
    ("withdrawal minister summary", True),  # AND spans fields
    ("title:NEAR/3(iraq, troop)", True),
    ("text:NEAR/3(iraq, troop)", False),
]


@pytest.mark.parametrize(("query", "expected"), FIELD_CASES, ids=[q for q, _ in FIELD_CASES])
def test_field(query: str, expected: bool) -> None:
    assert _match(query, DOC) is expected


def test_language_and_stemming_switches() -> None:
    french = Document(text="Les soldats se retirent.")
    assert _match("soldat", french, language="french")
    assert not _match("soldat", french, language="french", stemming=False)
    assert not _match("troop", Document(text="troops"), stemming=False)
    assert _match("troops", Document(text="Troops"), stemming=False)


def test_feed_restrictions() -> None:
    ruleset = compile_rules(
        [
            RuleSpec("any", "Iraq"),
            RuleSpec("reuters", "Iraq", feeds=("reuters",)),
            RuleSpec("world", "Iraq", feed_tags=("world", "news")),
        ]
    )
    assert [m.rule for m in ruleset.match(Document(text="Iraq", feed_name="reuters"))] == [
        "any",
        "reuters",
    ]
    doc = Document(text="Iraq", feed_name="ap", feed_tags=("news",))
    assert [m.rule for m in ruleset.match(doc)] == ["any", "world"]


def test_words_that_look_like_code_are_only_words() -> None:
    # rule tests are generated Python; the rule's words are arguments, never source
    ruleset = compile_rules(
        [
            RuleSpec("code", "p0 AND lambda AND (s OR d) AND NOT __import__"),
            RuleSpec("quote", "\"it's\" OR =x'y"),
        ]
    )
    assert ruleset.fired(Document(text="p0 lambda d")) == ["code"]
    assert ruleset.fired(Document(text="p0 lambda s __import__")) == []
    assert ruleset.fired(Document(text="it s")) == ["quote"]


def test_rules_decided_by_their_words_agree_with_evaluating_them() -> None:
    # a rule that is an OR of words, prefixes and url substrings fires on its presearch hit
    # alone; rules with more to check are still evaluated
    ruleset = compile_rules(
        [
            RuleSpec("or", "Iraq OR withd* OR url:.gov"),
            RuleSpec("and", "Iraq AND troop"),
            RuleSpec("not", "Iraq -derby"),
            RuleSpec("phrase", '"troop withdrawal" OR Syria'),
        ]
    )
    docs = [
        Document(text="Iraq derby"),
        Document(text="troop withdrawal", url="https://state.gov/x"),
        Document(title="withdrawing", text="Syria"),
        Document(text="troops in Iraq"),
    ]
    for doc in docs:
        assert ruleset.fired(doc) == ruleset.fired(doc, presearch=False)
    assert [ruleset.fired(doc) for doc in docs] == [
        ["or"],
        ["or", "phrase"],
        ["or", "phrase"],
        ["or", "and", "not"],
    ]


def test_hits_name_terms_and_fields() -> None:
    ruleset = compile_rules([RuleSpec("r", '"troop withdrawal" AND Iraq OR derby')])
    (match,) = ruleset.match(DOC)
    assert match.hits == (Hit("troop withdrawal", "title"), Hit("Iraq", "title"))
    assert match.matched == ("troop withdrawal", "Iraq")


def test_snippet_around_first_hit_in_text_with_marks() -> None:
    words = " ".join(f"word{i}" for i in range(100))
    text = f"{words} the troops   left\nIraq. {words}"
    ruleset = compile_rules([RuleSpec("r", "Iraq troop")])
    (match,) = ruleset.match(Document(title="Iraq", text=text))
    assert match.hits == (Hit("Iraq", "title"), Hit("Iraq", "text"), Hit("troop", "text"))
    assert 150 <= len(match.snippet) <= 210
    assert match.snippet.startswith("…word")
    assert match.snippet.endswith("…")
    assert "the troops left Iraq." in match.snippet
    assert [match.snippet[b:e] for b, e in match.marks] == ["troops", "Iraq"]
    inner = match.snippet.strip("…")
    assert inner.split(" ")[0] in words.split()
    assert inner.split(" ")[-1] in words.split()


def test_snippet_of_a_short_field_is_the_field() -> None:
    ruleset = compile_rules([RuleSpec("r", "title:Irák")])
    (match,) = ruleset.match(Document(title="News from Irák", text="unrelated"))
    assert match.snippet == "News from Irák"
    assert match.marks == ((10, 14),)


def test_regex_only_rule_is_evaluated_without_presearch_keys() -> None:
    ruleset = compile_rules([RuleSpec("r", "/ira[qk]/"), RuleSpec("s", "Iraq")])
    assert ruleset.unindexed == 1
    (match,) = ruleset.match(Document(text="from irak"))
    assert (match.rule, match.snippet, match.marks) == ("r", "from irak", ((5, 9),))


# The fixture site's rules against the articles' body paragraphs (tests/data/site/*.html).
IRAQ = Document(
    title="Iraq Asked the US to Withdraw Troops. Trump Administration Said No.",
    text=(
        "The Trump administration on Friday rebuffed demands from Iraq's prime minister to"
        " begin planning for the withdrawal of U.S troops from Iraq.\n"
        '"At this time, any delegation sent to Iraq would be dedicated to discussing how to'
        " best recommit to our strategic partnership – not to discuss troop withdrawal, but"
        ' our right, appropriate force posture in the Middle East," said Morgan Ortagus,'
        " the spokeswoman."
    ),
)
CLIMATE = Document(
    title="Sea levels rising faster than projected, report warns",
    text=(
        "A report released on Friday by a panel of ocean scientists warns that sea levels"
        " along low-lying coasts are rising faster than projected only five years ago."
    ),
)
DERBY = Document(
    title="Late header settles the city derby",
    text=(
        "A header in the ninety-first minute gave the home side a one-nil win in a tense city"
        " derby on Friday night.\nThe manager praised his defenders, who withdrew deep after"
        " the break and absorbed wave after wave of pressure."
    ),
)
SCOUTS = Document(
    title="Scout troop cancels camping trip",
    text=(
        "A local scout troop has cancelled its spring camping trip after its main sponsor"
        " announced the withdrawal of its funding."
    ),
)
SITE = {"iraq": IRAQ, "climate": CLIMATE, "derby": DERBY, "scouts": SCOUTS}
SITE_RULES = [
    ('"troop withdrawal"', {"iraq"}),
    ("Iraq", {"iraq"}),
    ('"troop withdrawal" AND Iraq', {"iraq"}),
    ("troop AND withdrawal", {"iraq", "scouts"}),
    ("(derby OR goal) NOT Iraq", {"derby"}),
]


@pytest.mark.parametrize(("query", "expected"), SITE_RULES, ids=[q for q, _ in SITE_RULES])
def test_fixture_site_rules(query: str, expected: set[str]) -> None:
    ruleset = compile_rules([RuleSpec("r", query)])
    assert {name for name, doc in SITE.items() if ruleset.match(doc)} == expected


def test_fixture_phrase_snippet_marks_the_phrase() -> None:
    ruleset = compile_rules([RuleSpec("r", '"troop withdrawal" AND Iraq')])
    (match,) = ruleset.match(IRAQ)
    assert match.matched == ("troop withdrawal", "Iraq")
    marked = [match.snippet[b:e] for b, e in match.marks]
    assert marked[0] == "Iraq's"
    assert "troop withdrawal" in marked or "withdrawal of U.S troops" in match.snippet


def test_snippet_marks_every_kind_of_hit_in_the_field_it_is_cut_from() -> None:
    """Words, phrases, regexes and NEAR marked in the text; hits elsewhere only listed."""
    doc = Document(
        title="Iraq news",
        text="The troops left.  Troop withdrawal from iraq began; troops withdrew.",
        lang="en",
        tags=("Iraq war",),
    )
    query = 'Iraq AND "troop withdrawal" AND /withdr[a-z]+/ AND lang:en'
    (match,) = compile_rules([RuleSpec("r", query)]).match(doc)
    assert match.hits == (
        Hit("Iraq", "title"),
        Hit("Iraq", "text"),
        Hit("troop withdrawal", "text"),
        Hit("/withdr[a-z]+/", "text"),
        Hit("en", "lang"),
    )
    assert match.snippet == "The troops left. Troop withdrawal from iraq began; troops withdrew."
    assert match.marks == ((17, 33), (23, 33), (39, 43))
    (match,) = compile_rules([RuleSpec("r", "news NEAR/3(troops, withdr*)")]).match(doc)
    marked = [match.snippet[b:e] for b, e in match.marks]
    assert marked == ["troops", "Troop", "withdrawal", "troops", "withdrew"]
    (match,) = compile_rules([RuleSpec("r", "lang:en OR tag:war")]).match(doc)
    assert (match.hits, match.snippet, match.marks) == (
        (Hit("en", "lang"), Hit("war", "tag")),
        "Iraq war",
        ((5, 8),),
    )
    (match,) = compile_rules([RuleSpec("r", "tag:iraq OR title:Iraq")]).match(doc)
    assert (match.snippet, match.marks) == ("Iraq news", ((0, 4),))
