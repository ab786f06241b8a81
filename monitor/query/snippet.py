"""Why a rule fired: its hits per field and a ~200-character snippet with the hits marked.

Pure. The snippet comes from the original text, cut at word boundaries, whitespace collapsed,
with `…` where it was cut; marks are [start, end) spans inside the snippet.
"""

from __future__ import annotations

import re

from monitor.models import Hit
from monitor.query.ast import FIELDS
from monitor.query.compiler import (
    AllOf,
    Alternatives,
    AnyOf,
    Bound,
    NoneOf,
    Pattern,
    Positional,
    Proximity,
    Substring,
    near,
    near_spans,
    occurrences,
)
from monitor.query.document import AnalyzedDocument

SNIPPET_LENGTH = 200
_BEFORE = 60  # characters of context before the first hit
_ELLIPSIS = "…"
_RUNS = re.compile(r"\s{2,}")

# label, field, begin, stop, and whether begin/stop are word positions (else characters);
# begin == -1: no span to mark
Found = tuple[str, str, int, int, bool]
_WINDOW_WORDS = 80  # more words than a snippet can hold


def explain(
    node: Bound, doc: AnalyzedDocument
) -> tuple[tuple[Hit, ...], str, tuple[tuple[int, int], ...]]:
    """Hits, snippet and marks of a rule that holds for `doc`."""
    found: list[Found] = []
    _collect(node, doc, found)
    hits = tuple(dict.fromkeys(Hit(label, name) for label, name, *_ in found))
    located = {name for _, name, begin, _, _ in found if begin >= 0}
    chosen = "text" if "text" in located else next((f for f in FIELDS if f in located), None)
    if chosen is None:
        name = "text" if doc.doc.text else next((h.field for h in hits), "text")
        return hits, *make_snippet(doc.field(name).text, [])
    view = doc.field(chosen)
    mine = [(b, s, p) for _, name, b, s, p in found if name == chosen and b >= 0]
    positions = [b for b, _, p in mine if p]
    last = min(positions, default=0) + _WINDOW_WORDS
    spans = [(b, s) for b, s, p in mine if not p]
    for begin, stop, is_position in mine:
        if is_position and begin <= last:
            span = view.char_span(begin, stop)
            if span is not None:
                spans.append(span)
    return hits, *make_snippet(view.text, spans)


def _collect(node: Bound, doc: AnalyzedDocument, found: list[Found]) -> bool:  # noqa: PLR0911, PLR0912 - one branch per node kind
    if isinstance(node, NoneOf):
        return not _collect(node.child, doc, [])
    if isinstance(node, AllOf):
        mine: list[Found] = []
        if all(_collect(child, doc, mine) for child in node.children):
            found.extend(mine)
            return True
        return False
    if isinstance(node, AnyOf):
        results = [_collect(child, doc, found) for child in node.children]
        return any(results)
    if isinstance(node, Proximity):
        held = False
        for name in node.fields:
            view = doc.field(name)
            if near(node, view):
                held = True
                for arg, (start, end) in near_spans(node, view):
                    found.append((_label(arg), name, start, end, True))
        return held
    if isinstance(node, Pattern):
        held = False
        for name in node.fields:
            view = doc.field(name)
            hit = node.regex.search(view.folded)
            if hit:
                held = True
                begin, stop = hit.span() if len(view.folded) == len(view.text) else (-1, -1)
                found.append((node.label, name, begin, stop, False))
        return held
    if isinstance(node, Substring):
        view = doc.field("url")
        at = view.folded.find(node.needle)
        if at < 0:
            return False
        found.append((node.label, "url", -1, -1, False))
        return True
    return _positional(node, doc, found)


def _positional(node: Positional, doc: AnalyzedDocument, found: list[Found]) -> bool:
    held = False
    label = _label(node)
    fields = node.options[0].fields if isinstance(node, Alternatives) else node.fields
    for name in fields:
        spans = occurrences(node, doc.field(name))
        if not spans:
            continue
        held = True
        if name == "lang":
            found.append((label, name, -1, -1, False))
        else:
            found.extend((label, name, start, end, True) for start, end in spans)
    return held


def _label(node: Positional) -> str:
    if isinstance(node, Alternatives):
        return node.options[0].label
    return node.label


def make_snippet(
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


__all__ = ["SNIPPET_LENGTH", "explain", "make_snippet"]
