"""Extraction: each page in tests/data/extract/ beside the phrases it must and must not yield."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ExtractError
from monitor.extract import decode_html, extract_article, html_to_text

DATA = Path(__file__).parent / "data" / "extract"
BASE = "http://127.0.0.1:8000"
CASES = sorted(DATA.glob("*.json"))


def _load(spec_path: Path) -> tuple[dict[str, Any], bytes]:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    page = (spec_path.parent / spec.get("page", spec_path.with_suffix(".html").name)).resolve()
    return spec, page.read_bytes().replace(b"{{BASE}}", BASE.encode())


@pytest.mark.parametrize("spec_path", CASES, ids=[p.stem for p in CASES])
def test_page_yields_its_article_and_nothing_else(spec_path: Path) -> None:
    spec, html = _load(spec_path)
    article = extract_article(html, url=spec.get("url"))
    for phrase in spec["must"]:
        assert phrase in article.text, f"{phrase!r} missing from the extracted text"
    for phrase in spec["must_not"]:
        assert phrase.lower() not in article.text.lower(), f"{phrase!r} leaked into the text"
    assert article.url == spec.get("url")
    if "title" in spec:
        assert article.title == spec["title"]
    if "author" in spec:
        assert article.author == spec["author"]
    if "author_contains" in spec:
        assert spec["author_contains"] in (article.author or "")
    if "language" in spec:
        assert article.language == spec["language"]
    if "date" in spec:
        expected = datetime.fromisoformat(spec["date"]) if spec["date"] else None
        assert article.date == expected
        assert article.date is None or article.date.utcoffset() is not None


def test_the_corpus_covers_the_fixture_site_and_each_encoding_case() -> None:
    names = {p.stem for p in CASES}
    assert {"site.rsn-iraq-troops", "site.climate-report", "site.scouts-fundraiser"} <= names
    assert {"cp1252-declared-utf8", "cp1252-undeclared", "utf8-declared-latin1"} <= names


def test_str_input_is_extracted_like_bytes() -> None:
    _, html = _load(DATA / "site.football-derby.json")
    assert extract_article(html.decode("utf-8")) == extract_article(html)


@pytest.mark.parametrize(
    ("html", "message"),
    [
        (b"", "not an HTML page"),
        (b"  \n ", "not an HTML page"),
        (b"<html><body></body></html>", "no main text found in the page"),
        (b"<html><body><script>var a = 1;</script></body></html>", "no main text found"),
    ],
)
def test_a_page_without_text_raises_extract_error(html: bytes, message: str) -> None:
    with pytest.raises(ExtractError, match=message) as caught:
        extract_article(html, url="https://news.example/empty")
    assert caught.value.subject == "https://news.example/empty"


def test_the_page_is_capped_before_parsing() -> None:
    paragraph = (
        "<p>Paragraph number {} of a very long page, with enough words to count as text.</p>"
    )
    head = "<html><body><article>" + "".join(paragraph.format(i) for i in range(2000))
    html = (head + "<p>THE VERY END</p></article></body></html>").encode()
    full = extract_article(html)
    capped = extract_article(html, max_bytes=20_000)
    assert "THE VERY END" in full.text
    assert "THE VERY END" not in capped.text
    assert "Paragraph number 3 " in capped.text
    assert len(capped.text) < 20_000


def test_a_multibyte_character_cut_by_the_cap_does_not_spoil_the_decoding() -> None:
    html = "<html><body><article><p>Grüße aus Köln, schöne Grüße!</p></article></body></html>"
    data = html.encode("utf-8")
    cut = data.index("ö".encode()) + 1  # inside the two bytes of "ö"
    assert decode_html(data[:cut]).endswith("Grüße aus K")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("naïve “quotes”".encode("cp1252"), "naïve “quotes”"),
        ("naïve".encode(), "naïve"),
        ('<meta charset="koi8-r">Привет'.encode("koi8-r"), '<meta charset="koi8-r">Привет'),
        ("\ufeffnaïve".encode(), "naïve"),
        (
            '<meta charset="no-such-charset">été'.encode("cp1252"),
            '<meta charset="no-such-charset">été',
        ),
    ],
)
def test_decode_html_trusts_the_bytes_then_the_declaration(data: bytes, expected: str) -> None:
    assert decode_html(data) == expected


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (
            "<p>Troops &amp; bases</p><p>Second&nbsp;paragraph<br>line</p>",
            "Troops & bases\nSecond paragraph\nline",
        ),
        ("plain &lt;text&gt; &#8211; decoded", "plain <text> – decoded"),
        ("a < b and c > d", "a < b and c > d"),
        ("<script>alert(1)</script><b>bold</b>   text", "bold text"),
        ("", ""),
    ],
)
def test_html_to_text(fragment: str, expected: str) -> None:
    assert html_to_text(fragment) == expected
