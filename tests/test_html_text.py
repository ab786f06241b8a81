"""Feed summaries' HTML to text: the regex shortcut gives exactly what HTMLParser gives.

`_simple_html_text` handles fragments of simple tags and text, and must hand everything else
(comments, odd tags, a bare `<`, scripts) back to the parser rather than read it differently.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.parse import _html_text, _parsed_html_text, _simple_html_text, _squeeze

PIECES = [
    *("<p>", "</p>", "<P class='a'>", "</P >", "<br>", "<br/>", "<br />", "<hr/>", "<li>"),
    *('<a href="http://x/?a=1&amp;b=2">', "</a>", "<b>", "</b>", "<img src=x.png alt=''>"),
    *('<a title="1 > 2">', "<div\nid=x>", "</div>", "<script>", "</script>", "<style>x</style>"),
    *("<!-- note -->", "<!DOCTYPE html>", "<my-tag>", "< p>", "<a/b>", "<p class=x/>", "<?x?>"),
    *("<", ">", "&", "&amp;", "&lt;p&gt;", "&am", "&#39;", "&#x27;", "&nbsp;", "&copy", ";"),
    *("word", "Iraq", " ", "\n", "  two  words ", "café", "<![CDATA[x]]>", '"', "'", "/", "="),
]
fragments = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@settings(max_examples=800, deadline=None)
@given(fragments)
def test_shortcut_agrees_with_html_parser(html: str) -> None:
    expected = _squeeze(_parsed_html_text(html))
    assert _html_text(html) == expected
    simple = _simple_html_text(html)
    if simple is not None:
        assert _squeeze(simple) == expected


def test_shortcut_takes_the_common_summary() -> None:
    html = '<p>Troops <a href="http://x/?a=1&amp;b=2">left</a> Iraq &amp; Syria.</p><p>More</p>'
    assert _simple_html_text(html) is not None
    assert _html_text(html) == "Troops left Iraq & Syria.\nMore"


def test_parser_reads_what_the_shortcut_refuses() -> None:
    for html in ("a <!-- hidden --> b", "x<script>var a = '<p>';</script>y", "1 < 2"):
        assert _simple_html_text(html) is None
    assert _html_text("a <!-- hidden --> b") == "a b"
    assert _html_text("x<script>var a = '<p>';</script>y") == "xy"
    assert _html_text("1 < 2") == "1 < 2"
