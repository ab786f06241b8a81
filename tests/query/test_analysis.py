"""The fast tokenizer paths give exactly the tokens of the reference regex tokenizer.

`tokenize` runs the token regex over the whole text and reports every token with positions and
character offsets; `terms` (what articles are analysed with) and `char_offsets` (what snippets
are cut with) take shortcuts for ASCII text and must not differ from it in any token.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query import analysis
from monitor.query.analysis import char_offsets, stems, terms, tokenize

# Letters, digits and every mark a token may hold or end at, plus separators and a few
# non-ASCII letters and marks so that both paths run.
ALPHABET = "abcXYZ019 .,'-’_()\n\t!?/é" + "ÉİßŁ"
texts = st.text(alphabet=ALPHABET, max_size=60) | st.lists(
    st.sampled_from(
        [
            *("U.S.", "u.s", "e-mail", "Iraq's", "1,000.5", "-x-", "a.", "3.", "--", "'n'"),
            *("co-op's", " ", ", ", ". ", "word", "Word", "(", ")"),
        ]
    ),
    max_size=12,
).map("".join)


def _reference(text: str) -> tuple[list[str], list[tuple[str, int, int]], list[tuple[int, int]]]:
    tokens = tokenize(text)
    plain = [t for t in tokens if t.start == t.end]
    joined = [(t.term, t.start, t.end) for t in tokens if t.start != t.end]
    return [t.term for t in plain], joined, [(t.begin, t.stop) for t in plain]


@settings(max_examples=600, deadline=None)
@given(texts)
def test_terms_and_offsets_agree_with_tokenize(text: str) -> None:
    want_plain, want_joined, want_spans = _reference(text)
    plain: list[str] = []
    joined: list[tuple[str, int, int]] = []
    terms(text, plain, joined)
    begins: list[int] = []
    stops: list[int] = []
    char_offsets(text, 7, begins, stops)
    assert plain == want_plain
    assert joined == want_joined
    assert [(b - 7, s - 7) for b, s in zip(begins, stops, strict=True)] == want_spans


# Longer ASCII texts: words with marks around them and gaps of several spaces and other
# whitespace, which the offsets of the ASCII shortcut are summed over.
gapped = st.lists(
    st.tuples(
        st.sampled_from(["word", "Troops.", "'x'", "e-mail,", "U.S.", "--", "a", "(b)", "1.5"]),
        st.sampled_from([" ", "  ", "\n", " \t ", "", "/"]),
    ),
    max_size=40,
).map(lambda parts: "".join(word + gap for word, gap in parts))


@settings(max_examples=300, deadline=None)
@given(gapped, st.integers(0, 50))
def test_offsets_of_long_gapped_text_agree_with_tokenize(text: str, offset: int) -> None:
    _, _, want_spans = _reference(text)
    begins: list[int] = [-1]  # appended to, never replaced
    stops: list[int] = [-1]
    char_offsets(text, offset, begins, stops)
    assert begins[0] == stops[0] == -1
    spans = [(b - offset, s - offset) for b, s in zip(begins[1:], stops[1:], strict=True)]
    assert spans == want_spans


def test_ascii_shortcuts_on_known_text() -> None:
    plain: list[str] = []
    joined: list[tuple[str, int, int]] = []
    text = "(U.S.) troops' e-mail, 1,000.5 -- Iraq's 'withdrawal'."
    terms(text, plain, joined)
    assert plain == ["us", "troops", "e", "mail", "1,000.5", "iraq", "withdrawal"]
    assert joined == [("email", 2, 3)]
    begins: list[int] = []
    stops: list[int] = []
    char_offsets(text, 0, begins, stops)
    spans = [text[b:s] for b, s in zip(begins, stops, strict=True)]
    assert spans == ["U.S.", "troops", "e", "mail", "1,000.5", "Iraq's", "withdrawal"]


def test_stem_memo_refills_after_it_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cache limit the memo starts over, and every word asked for is stemmed again."""
    monkeypatch.setattr(analysis, "_CACHE_LIMIT", 3)
    monkeypatch.setattr(analysis, "_STEMS", {})
    assert stems(["troops", "withdrawing"], "english") == ["troop", "withdraw"]
    assert stems(["troops", "rates", "banks"], "english") == ["troop", "rate", "bank"]
    assert stems(["withdrawing"], "english") == ["withdraw"]
