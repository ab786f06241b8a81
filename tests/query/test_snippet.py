"""Snippets cut by the shortcuts agree with the plain way of cutting them (kept here)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query.analysis import single_spaced
from monitor.query.snippet import make_snippet

SNIPPET_LENGTH = 200
_BEFORE = 60
_ELLIPSIS = "…"
_RUNS = re.compile(r"\s{2,}")

# Words, single and double spaces, other whitespace (a newline, a no-break space, a line
# separator, a control character that str.isspace holds for) and non-ASCII letters.
pieces = st.sampled_from(["word", "é", "x", " ", " ", "  ", "\n", "\u00a0", "\u2028", "\x1c", "…"])
texts = st.lists(pieces, max_size=160).map("".join)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    text = draw(texts)
    starts = st.integers(0, max(0, len(text) - 1))
    spans = draw(
        st.lists(st.tuples(starts, st.integers(0, 12)), max_size=4).map(
            lambda found: [(b, min(len(text), b + n)) for b, n in found]
        )
    )
    return text, spans


def _reference(
    text: str, spans: list[tuple[int, int]], length: int = SNIPPET_LENGTH
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """About `length` characters of `text` around the first span, and the spans within it."""
    spans = sorted(set(spans))
    first = spans[0][0] if spans else 0
    begin = max(0, first - _BEFORE)
    if begin > 0:  # move forward to a word start
        while begin < first and not text[begin - 1].isspace():
            begin += 1
    stop = min(len(text), begin + length)
    if spans and stop < spans[0][1]:
        stop = spans[0][1]
    if stop < len(text):  # move back to a word end
        cut = stop
        while cut > begin and not text[cut].isspace():
            cut -= 1
        if cut > begin and (not spans or cut >= spans[0][1]):
            stop = cut
    lead = _ELLIPSIS if begin > 0 else ""
    piece = text[begin:stop]
    collapsed = " ".join(piece.split())
    body = lead + collapsed
    inside = [(b, s) for b, s in spans if b >= begin and s <= stop and b < s]
    if len(collapsed) == len(piece):  # no whitespace to collapse: offsets only shift
        base = len(lead) - begin
        marks = tuple((b + base, s + base) for b, s in inside)
    else:
        runs = [(m.start(), m.end()) for m in _RUNS.finditer(piece)]
        shift = 1 if piece[:1].isspace() else 0

        def where(index: int) -> int:  # offset in `body` of `text[index]`
            local = index - begin
            removed = sum(max(0, min(local, e) - s - 1) for s, e in runs if s < local)
            return len(lead) + local - removed - shift

        marks = tuple((where(b), where(s)) for b, s in inside)
    if stop < len(text):
        body += _ELLIPSIS
    return body, marks


@settings(max_examples=1000, deadline=None)
@given(cases(), st.sampled_from([20, 60, SNIPPET_LENGTH]))
def test_snippet_agrees_with_the_plain_way(
    case: tuple[str, list[tuple[int, int]]], length: int
) -> None:
    text, spans = case
    want = _reference(text, list(spans), length)
    assert make_snippet(text, list(spans), length) == want
    if single_spaced(text):  # what FieldView.single_spaced tells
        assert make_snippet(text, list(spans), length, single_spaced=True) == want
