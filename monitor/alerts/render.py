"""How an alert looks: subject, plain text, HTML and the webhook JSON payload.

Pure (imports only `models`). Feed-derived text is escaped for HTML and cleaned for mail
headers here, once, so that no channel passes a feed's bytes through as markup or headers.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.header import decode_header
from typing import Any

from monitor.models import Alert

SUBJECT_PREFIX = "[news-monitor]"
HEADER_LIMIT = 200  # characters of feed text allowed into one header
TEXT_MARK = ("[[", "]]")

# The fields of the webhook payload, in order. A contract: add fields, never rename.
PAYLOAD_FIELDS = (
    "id",
    "rule",
    "title",
    "url",
    "feed",
    "published",
    "matched",
    "snippet",
    "detected_at",
)

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACES = re.compile(r"\s+")


def iso_utc(value: datetime | None) -> str | None:
    """`2024-05-01T12:00:00Z`: the one datetime format alerts show and send."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def marked_segments(snippet: str, marks: tuple[tuple[int, int], ...]) -> list[tuple[str, bool]]:
    """Split `snippet` into (text, is_hit) runs; bad or overlapping spans are clamped/merged."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted(marks):
        lo, hi = max(0, start), min(len(snippet), end)
        if lo >= hi:
            continue
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    segments: list[tuple[str, bool]] = []
    pos = 0
    for lo, hi in spans:
        if lo > pos:
            segments.append((snippet[pos:lo], False))
        segments.append((snippet[lo:hi], True))
        pos = hi
    if pos < len(snippet):
        segments.append((snippet[pos:], False))
    return segments


def marked_text(alert: Alert) -> str:
    """The snippet with hits bracketed as `[[hit]]`."""
    start, end = TEXT_MARK
    return "".join(
        f"{start}{text}{end}" if hit else text
        for text, hit in marked_segments(alert.snippet, alert.marks)
    )


def marked_html(alert: Alert) -> str:
    """The snippet, escaped, with hits inside `<mark>`."""
    return "".join(
        f"<mark>{html.escape(text)}</mark>" if hit else html.escape(text)
        for text, hit in marked_segments(alert.snippet, alert.marks)
    )


def _decode_encoded_words(text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        try:
            parts = decode_header(match.group(0))
            return "".join(
                part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
                for part, charset in parts
            )
        except (ValueError, LookupError):  # malformed word or unknown charset
            return match.group(0).replace("=?", "= ?")

    return _ENCODED_WORD.sub(decode, text)


def one_line(text: str) -> str:
    """Text on one line: control and line-separator characters become single spaces."""
    text = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch
        for ch in text
        if unicodedata.category(ch) != "Cf"
    )
    return _SPACES.sub(" ", text).strip()


def clean_header(text: str, limit: int = HEADER_LIMIT) -> str:
    """Feed text made safe for a mail header whatever the Python version (CVE-2024-6923).

    Encoded words are decoded (so `=0D=0A` inside one becomes a real CR LF, then removed),
    control and line-separator characters become spaces, leftover `=?` markers are broken,
    and the result is capped at `limit` characters.
    """
    text = one_line(_decode_encoded_words(text)).replace("=?", "= ?")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def email_subject(alert: Alert) -> str:
    """`[news-monitor] <rule>: <title>`, cleaned for use as a header."""
    return clean_header(f"{SUBJECT_PREFIX} {alert.rule}: {alert.title or alert.url}")


def render_text(alert: Alert) -> str:
    """The plain-text body: what matched, where, and the marked snippet."""
    lines = [
        one_line(alert.title) or "(untitled)",
        one_line(alert.url),
        "",
        f"Rule:      {one_line(alert.rule)}",
        f"Feed:      {one_line(alert.feed)}",
        f"Published: {iso_utc(alert.published) or 'unknown'}",
        f"Matched:   {one_line(', '.join(alert.matched)) or '-'}",
        "",
        marked_text(alert),
        "",
        "-- ",
        f"news-monitor alert {alert.id}, detected {iso_utc(alert.detected_at)}",
    ]
    return "\n".join(lines) + "\n"


def safe_link(url: str) -> str | None:
    """The URL if it is http(s) (so `javascript:` from a feed never becomes a link)."""
    return url if url.lower().startswith(("http://", "https://")) else None


def render_html(alert: Alert) -> str:
    """The HTML body. Every feed-derived value is escaped; hits are `<mark>`ed."""
    esc = html.escape
    title = esc(one_line(alert.title) or "(untitled)")
    link = safe_link(alert.url)
    heading = f'<a href="{esc(link)}">{title}</a>' if link else title
    matched = ", ".join(esc(term) for term in alert.matched) or "-"
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        f"<title>{esc(email_subject(alert))}</title></head>\n"
        '<body style="font-family: sans-serif">\n'
        f"<h2>{heading}</h2>\n"
        "<table>\n"
        f"<tr><th align=left>Rule</th><td>{esc(one_line(alert.rule))}</td></tr>\n"
        f"<tr><th align=left>Feed</th><td>{esc(one_line(alert.feed))}</td></tr>\n"
        f"<tr><th align=left>Published</th><td>{iso_utc(alert.published) or 'unknown'}</td></tr>\n"
        f"<tr><th align=left>Matched</th><td>{matched}</td></tr>\n"
        "</table>\n"
        f'<p style="white-space: pre-line">{marked_html(alert)}</p>\n'
        f'<p style="color: #777">news-monitor alert {esc(alert.id)}, '
        f"detected {iso_utc(alert.detected_at)}</p>\n"
        "</body></html>\n"
    )


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The documented webhook JSON object (see PAYLOAD_FIELDS); datetimes ISO 8601 UTC."""
    payload: dict[str, Any] = {
        "id": alert.id,
        "rule": alert.rule,
        "title": alert.title,
        "url": alert.url,
        "feed": alert.feed,
        "published": iso_utc(alert.published),
        "matched": list(alert.matched),
        "snippet": alert.snippet,
        "detected_at": iso_utc(alert.detected_at),
    }
    return payload


def template_context(alert: Alert) -> dict[str, Any]:
    """What a user template may use: the alert's fields plus the rendered pieces."""
    return {
        "alert": alert,
        "id": alert.id,
        "rule": alert.rule,
        "channel": alert.channel,
        "title": alert.title,
        "url": alert.url,
        "link": safe_link(alert.url),
        "feed": alert.feed,
        "published": iso_utc(alert.published),
        "matched": list(alert.matched),
        "snippet": alert.snippet,
        "snippet_marked": marked_text(alert),
        "detected_at": iso_utc(alert.detected_at),
        "subject": email_subject(alert),
        "payload": webhook_payload(alert),
    }


__all__ = [
    "PAYLOAD_FIELDS",
    "clean_header",
    "email_subject",
    "iso_utc",
    "marked_html",
    "marked_text",
    "one_line",
    "render_html",
    "render_text",
    "template_context",
    "webhook_payload",
]
