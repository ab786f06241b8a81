"""Extract stage: page HTML to `Article` (main text without boilerplate, title, author, date).

Pure: no I/O; trafilatura only ever gets a decoded string or a parsed tree, never a URL to
fetch. Imports only `models` and `errors` of ours; trafilatura is imported here only.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from typing import Any

import lxml.etree  # comes with trafilatura
import lxml.html
import trafilatura
from trafilatura.utils import load_html

from monitor.errors import ExtractError
from monitor.models import Article

MAX_BYTES = 5 * 2**20
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
_XML_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)", re.I)
# Labels that mean windows-1252 in practice (as browsers read them, per the WHATWG).
_AS_CP1252 = frozenset({"cp1252", "iso8859_1", "ascii"})
_SEVEN_BIT = ("iso2022", "utf_7", "hz")
_LANG = re.compile(r"^\s*([A-Za-z]{2})(?:[-_][A-Za-z0-9]+)*\s*$")

# Page furniture removed before trafilatura looks for the main text. Trafilatura drops most
# of it itself; these are the blocks it has been seen to keep (link lists in asides,
# "most read" boxes, share widgets with a sentence in them, comment threads).
_FURNITURE_TOKENS = (
    "comments",
    "comment-list",
    "commentlist",
    "sidebar",
    "share",
    "sharing",
    "social",
    "share-buttons",
    "related",
    "trending",
    "most-read",
    "mostread",
    "popular",
    "newsletter",
    "breadcrumb",
    "breadcrumbs",
)


def _token_test(attr: str, token: str) -> str:
    return f"contains(concat(' ', normalize-space(@{attr}), ' '), ' {token} ')"


PRUNE_XPATH = [
    "//aside",
    "//nav",
    "//footer",
    "//*[@role='complementary' or @role='navigation' or @role='contentinfo']",
    "//*["
    + " or ".join(_token_test(a, t) for t in _FURNITURE_TOKENS for a in ("class", "id"))
    + "]",
]


def extract_article(
    html: bytes | str, *, url: str | None = None, max_bytes: int = MAX_BYTES
) -> Article:
    """The article inside a page. Raises ExtractError (subject=url) when it holds no text.

    Bytes are capped at `max_bytes` before anything parses them (a str at as many
    characters) and decoded by `decode_html`. Reader comments, navigation, sidebars, share
    widgets and footers are left out. The date is the publication time, aware UTC (midnight
    UTC when the page gives only a day); the language is a 2-letter code or None.
    """
    text = decode_html(html[:max_bytes]) if isinstance(html, bytes) else html[:max_bytes]
    tree = load_html(text) if text.strip() else None
    if tree is None:
        raise ExtractError("not an HTML page", subject=url)
    language = _page_language(tree)
    try:
        doc = _bare(tree, url, prune=True)
        if doc is None or not (doc.text or "").strip():
            # The pruning took too much (an article inside <aside>?): once more without it.
            doc = _bare(text, url, prune=False)
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError) as exc:
        # Hostile or broken markup can trip trafilatura/lxml: that is the page's fault.
        raise ExtractError("extraction failed", subject=url) from exc
    body = _tidy(doc.text if doc is not None else "")
    if not body:
        raise ExtractError("no main text found in the page", subject=url)
    return Article(
        url=url,
        title=" ".join((doc.title or "").split()),
        text=body,
        author=(doc.author or "").strip() or None,
        date=_date(doc.date),
        language=_language(doc.language) or language,
    )


def decode_html(data: bytes) -> str:
    """Page bytes to text, trusting the bytes over a wrong or missing declaration.

    Order: a byte-order mark; UTF-8 when the bytes are valid UTF-8 (a legacy-encoded page
    almost never is); the charset the page declares (<meta charset>, http-equiv, XML
    declaration); else windows-1252, which decodes anything, as browsers do.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding, strict=False)
    declared = _declared_charset(data[:4096])
    candidates = ["utf-8"]
    if declared and declared.startswith(_SEVEN_BIT):  # looks like ASCII, so ask it first
        candidates.insert(0, declared)
    elif declared and declared not in candidates:
        candidates.append(declared)
    for encoding in candidates:
        try:
            return _decode(data, encoding, strict=True)
        except UnicodeDecodeError:
            continue
    return _decode(data, "cp1252", strict=False)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (a feed summary): tags gone, entities decoded.

    Scripts and styles are dropped; block elements become line breaks; runs of spaces
    collapse to one.
    """
    html = html.replace("\x00", "")
    if "<" not in html and "&" not in html:
        return _tidy(html)
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):  # nothing but comments or a doctype
        return ""
    for element in list(root.iter("script", "style", "template", "noscript")):
        element.drop_tree()
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    return _tidy(str(root.text_content()))


# fmt: off
_BLOCKS = (
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
)
# fmt: on


def _bare(source: Any, url: str | None, *, prune: bool) -> Any:
    return trafilatura.bare_extraction(
        source,
        url=url,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        with_metadata=True,
        favor_recall=not prune,
        prune_xpath=PRUNE_XPATH if prune else None,
        date_extraction_params={
            "extensive_search": True,
            "original_date": True,
            "outputformat": _DATE_FORMAT,
        },
    )


def _decode(data: bytes, encoding: str, *, strict: bool) -> str:
    # final=False: a sequence cut in half by the size cap is dropped, not an error.
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict" if strict else "replace")
    return str(decoder.decode(data, final=False))


def _declared_charset(head: bytes) -> str | None:
    found = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if not found:
        return None
    try:
        name = codecs.lookup(found.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    name = name.replace("-", "_")
    return "cp1252" if name in _AS_CP1252 else name


def _page_language(tree: Any) -> str | None:
    """<html lang>, else the Content-Language meta, else og:locale."""
    root = tree.getroottree().getroot()
    candidates = [root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in root.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or "").lower()
        if key in {"content-language", "og:locale"}:
            candidates.append(meta.get("content"))
    for candidate in candidates:
        if language := _language(candidate):
            return language
    return None


def _language(value: object) -> str | None:
    found = _LANG.match(value) if isinstance(value, str) else None
    return found.group(1).lower() if found else None


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


__all__ = ["MAX_BYTES", "PRUNE_XPATH", "decode_html", "extract_article", "html_to_text"]
