"""Rendering: escaping, marks, header cleaning, the webhook payload contract, templates."""

from __future__ import annotations

import pytest

from monitor.alerts import clean_header, email_subject, render_html, render_text, webhook_payload
from monitor.alerts.render import marked_segments
from monitor.alerts.templates import compile_template
from monitor.errors import AlertError
from tests.alerts.support import make_alert


def test_html_escapes_feed_text_and_marks_hits() -> None:
    alert = make_alert(
        title="<script>alert(1)</script> & co",
        feed='Feed "quoted" <b>',
        snippet="a <b>troop</b> moves",
        marks=((2, 14),),
        matched=("<img src=x>",),
    )
    page = render_html(alert)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "<mark>&lt;b&gt;troop&lt;/b&gt;</mark> moves" in page
    assert "&lt;img src=x&gt;" in page
    assert "<b>" not in page
    assert "Feed &quot;quoted&quot; &lt;b&gt;" in page


def test_html_never_links_javascript_urls() -> None:
    page = render_html(make_alert(url="javascript:alert(1)"))
    assert "href" not in page
    assert '<a href="https://news.example.org/world/iraq-troops?id=7">' in render_html(make_alert())


def test_text_marks_hits_with_brackets() -> None:
    text = render_text(make_alert())
    assert "The first [[troops]] began their [[withdrawal]] on Tuesday." in text
    assert "Published: 2024-05-01T09:30:00Z" in text
    assert "Matched:   troop, withdrawal" in text
    assert "https://news.example.org/world/iraq-troops?id=7" in text


@pytest.mark.parametrize(
    ("marks", "expected"),
    [
        ((), [("abcdef", False)]),
        (((0, 2),), [("ab", True), ("cdef", False)]),
        (((1, 3), (2, 5)), [("a", False), ("bcde", True), ("f", False)]),  # overlap merged
        (((4, 99), (-3, 1)), [("a", True), ("bcd", False), ("ef", True)]),  # clamped
        (((3, 3), (5, 2)), [("abcdef", False)]),  # empty and reversed spans ignored
    ],
)
def test_marked_segments(
    marks: tuple[tuple[int, int], ...], expected: list[tuple[str, bool]]
) -> None:
    assert marked_segments("abcdef", marks) == expected


def test_subject_format() -> None:
    assert (
        email_subject(make_alert())
        == "[news-monitor] iraq withdrawal: Troops begin withdrawal from Iraq"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?a=0D=0ABcc:_x@evil.example?=", "a Bcc: x@evil.example"),
        ("line one\r\nBcc: x@evil.example", "line one Bcc: x@evil.example"),
        ("tab\there\x00nul\u2028sep\u202eRTL", "tab here nul sepRTL"),
        ("=?utf-8?b?w6l0w6k=?= ok", "été ok"),
        ("broken =?x-unknown?q?abc?= word", "broken = ?x-unknown?q?abc?= word"),
        ("nested =?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?=", "nested = ?utf-8?q?x?="),
    ],
)
def test_clean_header_removes_injection_vectors(raw: str, expected: str) -> None:
    assert clean_header(raw) == expected


def test_clean_header_caps_length() -> None:
    cleaned = clean_header("x" * 1000)
    assert len(cleaned) == 200
    assert cleaned.endswith("…")


def test_webhook_payload_contract() -> None:
    payload = webhook_payload(make_alert())
    assert payload == {
        "id": "a1b2c3d4e5f60718",
        "rule": "iraq withdrawal",
        "title": "Troops begin withdrawal from Iraq",
        "url": "https://news.example.org/world/iraq-troops?id=7",
        "feed": "Example World",
        "published": "2024-05-01T09:30:00Z",
        "matched": ["troop", "withdrawal"],
        "snippet": "The first troops began their withdrawal on Tuesday.",
        "detected_at": "2024-05-01T11:59:30Z",
    }
    assert webhook_payload(make_alert(published=None))["published"] is None


def test_templates_are_sandboxed_and_autoescaped() -> None:
    html = compile_template(
        "<h1>{{ title }}</h1>{{ snippet_html }}", channel="ops", role="html", html=True
    )
    assert html is not None
    out = html.render(make_alert(title="<script>x</script>"))
    assert out.startswith("<h1>&lt;script&gt;x&lt;/script&gt;</h1>")
    assert "<mark>troops</mark>" in out

    with pytest.raises(AlertError, match=r'channel "ops".*subject template') as caught:
        compile_template("{{ ''.__class__.__mro__ }}", channel="ops", role="subject")
    assert caught.value.permanent


def test_template_errors_name_the_channel() -> None:
    with pytest.raises(AlertError, match='channel "ops": body template does not compile'):
        compile_template("{% if %}", channel="ops", role="body")
    with pytest.raises(AlertError, match='channel "ops": body template failed: UndefinedError'):
        compile_template("{{ no_such_name }}", channel="ops", role="body")
