"""A field's spans and character offsets, found by shortcuts, agree with plain enumeration."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query import document
from monitor.query.analysis import stems
from monitor.query.document import EXACT, FieldView, Spans

WORDS = ["troop", "troops", "e-mail", "mail", "U.S.", "Iraq's", "", "1,000", "é", "--", "a"]
values = st.lists(
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), min_size=1, max_size=3
)


def _naive_spans(view: FieldView, mode: str, key: str) -> Spans:
    keys = view.plain if mode == EXACT else stems(view.plain, mode)
    found = {at: at for at, term in enumerate(keys) if term == key}
    for term, start, end in view.extras:
        if (term if mode == EXACT else stems([term], mode)[0]) == key:
            found.setdefault(start, end)
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["text", "tag"]),
    values,
    st.sampled_from([EXACT, "english"]),
    st.sampled_from([0, 2, 100]),
)
def test_spans_are_every_position_of_the_term(
    name: str, texts: list[str], mode: str, scans: int
) -> None:
    """Whether keys are found by scanning the text or in its map (after `scans` keys)."""
    saved, document._SCANS = document._SCANS, scans
    try:
        view = FieldView(name, texts if name == "tag" else texts[:1])
        for key in ["absent", *sorted(view.term_set(mode))]:
            want = _naive_spans(view, mode, key)
            assert view.spans(mode, key) == want
            assert list(view.spans(mode, key).items()) == list(want.items())  # in order
    finally:
        document._SCANS = saved


def test_spans_of_a_language_code_holding_the_separator() -> None:
    view = FieldView("lang", ["e\x00n"])
    assert view.spans(EXACT, "e\x00n") == {0: 0}
    assert view.spans(EXACT, "e") == {}
