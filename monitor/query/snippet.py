"""Why a rule fired: its hits per field and a ~200-character snippet with the hits marked.

Pure. The snippet comes from the original text, cut at word boundaries, whitespace collapsed,
with `…` where it was cut; marks are [start, end) spans inside the snippet.
"""

from __future__ import annotations

import re

from monitor.models import Hit
from monitor.query.analysis import single_spaced as is_single_spaced
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
    Span,
    Substring,
    Word,
    near,
    occurrences,
)
from monitor.query.document import AnalyzedDocument, FieldView
from monitor.query.holding import Explaining

SNIPPET_LENGTH = 200
_BEFORE = 60  # characters of context before the first hit
_ELLIPSIS = "…"
_RUNS = re.compile(r"\s{2,}")
_WORD_REST = re.compile(r"\S*")  # matches (maybe empty) wherever it starts

# Where a hit is in its field: character offsets [begin, stop) (a regex), the (start, end)
# positions of each occurrence, or a word whose positions are asked for only if the snippet
# is cut from its field (most hits are words, and only one field is cut); None: nowhere to mark
Where = tuple[int, int] | list[Span] | Word | None
Found = tuple[str, str, Where]  # label, field, where
Explanation = tuple[tuple[Hit, ...], str, tuple[tuple[int, int], ...]]  # hits, snippet, marks
_WINDOW_WORDS = 80  # more words than a snippet can hold


class Explainer:
    """Explains the rules that fire on one article, sharing the work between rules.

    A rule's explanation depends only on which of its leaves (words, phrases, prefixes, NEAR
    groups, regexes) hold and where: each leaf is looked at once per article, and the hits,
    snippet and marks are worked out once per distinct list of holding leaves. Rules that fire
    on the same terms (an OR rule mostly fires on one term, and many rules share a term) get
    the same explanation without working it out again.
    """

    __slots__ = ("_done", "_found", "_holds", "doc")

    def __init__(self, doc: AnalyzedDocument, leaves: tuple[Bound, ...]) -> None:
        """`leaves`: every leaf of the rule set, by the numbers its rules list them with."""
        self.doc = doc
        # leaf number -> where it holds; a closure, not a method: no cycle through self
        found: dict[int, list[Found]] = {}

        def holds(number: int) -> bool:
            where = found.get(number)
            if where is None:
                where = found[number] = _leaf(leaves[number], doc)
            return bool(where)

        self._found = found
        self._holds = holds
        self._done: dict[tuple[int, ...], Explanation] = {}

    def explain(self, rule: Explaining) -> Explanation:
        """Hits, snippet and marks of a rule that holds for the article (`rule` lists the
        leaves that hold)."""
        listing, values = rule
        key = tuple(listing(self.doc, self._holds, values))
        done = self._done.get(key)
        if done is None:
            found = self._found
            done = self._done[key] = _explanation(
                [where for number in key for where in found[number]], self.doc
            )
        return done


def _explanation(found: list[Found], doc: AnalyzedDocument) -> Explanation:
    if len(found) == 1 and found[0][2] is not None:  # nine in ten: one leaf, in one field
        label, name, where = found[0]
        view = doc.field(name)
        snippet = make_snippet(
            view.text, _char_spans(view, [where]), single_spaced=view.single_spaced
        )
        return (Hit(label, name),), *snippet
    hits = tuple([Hit(*key) for key in dict.fromkeys([f[:2] for f in found])])
    located = {name for _, name, where in found if where is not None}
    chosen = "text" if "text" in located else next((f for f in FIELDS if f in located), None)
    if chosen is None:
        name = "text" if doc.doc.text else next((h.field for h in hits), "text")
        return hits, *make_snippet(doc.field(name).text, [])
    view = doc.field(chosen)
    spans = _char_spans(view, [where for _, name, where in found if name == chosen])
    return hits, *make_snippet(view.text, spans, single_spaced=view.single_spaced)


def _char_spans(view: FieldView, found: list[Where]) -> list[tuple[int, int]]:
    """The character spans of the hits in the field the snippet is cut from: all regex hits,
    and the occurrences of terms up to `_WINDOW_WORDS` past the first one."""
    spans: list[tuple[int, int]] = []
    positions: list[list[Span]] = []
    for where in found:
        if isinstance(where, tuple):
            spans.append(where)
        elif isinstance(where, list):
            positions.append(where)
        elif where is not None:
            positions.append(list(view.spans(where.mode, where.key).items()))
    if positions:
        last = min(start for each in positions for start, _ in each) + _WINDOW_WORDS
        for each in positions:
            for begin, stop in each:
                if begin <= last:
                    span = view.char_span(begin, stop)
                    if span is not None:
                        spans.append(span)
    return spans


def _leaf(node: Bound, doc: AnalyzedDocument) -> list[Found]:
    """Where a leaf (not AllOf, AnyOf or NoneOf) holds: one entry per field; empty: nowhere."""
    found: list[Found] = []
    if isinstance(node, Word):  # the commonest: its fields' word sets decide
        for name, where in zip(node.fields, node.slots, strict=True):
            if node.key in doc[where]:
                found.append((node.label, name, node if name != "lang" else None))
        return found
    if isinstance(node, Proximity):
        for name in node.fields:
            view = doc.field(name)
            if near(node, view):
                found.extend((_label(arg), name, occurrences(arg, view)) for arg in node.args)
        return found
    if isinstance(node, Pattern):
        for name in node.fields:
            view = doc.field(name)
            hit = node.regex.search(view.folded)
            if hit:
                span = hit.span() if len(view.folded) == len(view.text) else None
                found.append((node.label, name, span))
        return found
    if isinstance(node, Substring):
        if node.needle in doc.field("url").folded:
            found.append((node.label, "url", None))
        return found
    if isinstance(node, AllOf | AnyOf | NoneOf):
        raise TypeError(f"not a leaf: {type(node).__name__}")
    return _positional(node, doc)


def _positional(node: Positional, doc: AnalyzedDocument) -> list[Found]:
    found: list[Found] = []
    label = _label(node)
    fields = node.options[0].fields if isinstance(node, Alternatives) else node.fields
    for name in fields:
        spans = occurrences(node, doc.field(name))
        if spans:
            found.append((label, name, spans if name != "lang" else None))
    return found


def _label(node: Positional) -> str:
    if isinstance(node, Alternatives):
        return node.options[0].label
    return node.label


def make_snippet(
    text: str,
    spans: list[tuple[int, int]],
    length: int = SNIPPET_LENGTH,
    *,
    single_spaced: bool = False,
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """About `length` characters of `text` around the first span, and the spans within it.

    `single_spaced`: the caller knows that the text's only whitespace is single spaces.
    """
    if len(spans) > 1:
        spans = sorted(set(spans))
    first = spans[0][0] if spans else 0
    begin = max(0, first - _BEFORE)
    if begin > 0 and not text[begin - 1].isspace():  # move forward to a word start
        rest = _WORD_REST.match(text, begin)
        if rest:  # always: it may match nothing
            begin = min(first, rest.end() + 1)
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
    if piece[:1] != " " and piece[-1:] != " " and (single_spaced or is_single_spaced(piece)):
        collapsed = piece  # nothing to collapse
    else:
        collapsed = " ".join(piece.split())
    body = lead + collapsed
    if len(collapsed) == len(piece):  # no whitespace to collapse: offsets only shift
        base = len(lead) - begin
        marks = tuple(
            [(b + base, s + base) for b, s in spans if b >= begin and s <= stop and b < s]
        )
    else:
        marks = _collapsed_marks(piece, begin, lead, spans, stop)
    if stop < len(text):
        body += _ELLIPSIS
    return body, marks


def _collapsed_marks(
    piece: str, begin: int, lead: str, spans: list[tuple[int, int]], stop: int
) -> tuple[tuple[int, int], ...]:
    """The spans inside `piece`, moved to their places once its whitespace is collapsed."""
    inside = [(b, s) for b, s in spans if b >= begin and s <= stop and b < s]
    runs = [(m.start(), m.end()) for m in _RUNS.finditer(piece)]
    shift = 1 if piece[:1].isspace() else 0

    def where(index: int) -> int:  # offset in `body` of `text[index]`
        local = index - begin
        removed = sum(max(0, min(local, e) - s - 1) for s, e in runs if s < local)
        return len(lead) + local - removed - shift

    return tuple((where(b), where(s)) for b, s in inside)


__all__ = ["SNIPPET_LENGTH", "Explainer", "Explanation", "make_snippet"]
