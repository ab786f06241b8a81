"""Text to terms, the same way for queries and articles: NFKC, case and accent folding, stems.

Pure: no imports of ours. `Iraq's` is `iraq`, `U.S.` is `us`, `e-mail` yields `e`, `mail` and
`email` (the joined form spanning both positions), numbers are words. Stems come from PyStemmer
through a per-language cache, since the vocabulary of news repeats.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, compress
from operator import add

import Stemmer

# Letters and digits; an acronym is single letters joined by dots; a word may hold
# apostrophes and hyphens between its parts.
_TOKEN = re.compile(
    r"[^\W\d_](?:\.[^\W\d_])+\.?(?![^\W_])"
    r"|\d+(?:[.,]\d+)+"
    r"|[^\W_]+(?:['’][^\W_]+)*(?:-[^\W_]+(?:['’][^\W_]+)*)*"
)
_ACRONYM = re.compile(r"[^\W\d_](?:\.[^\W\d_])+\.?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)+")
_POSSESSIVE = re.compile(r"['’]s$")
_APOSTROPHE = re.compile(r"['’]")
_CACHE_LIMIT = 200_000
# ASCII text lower-cased, every byte no token may hold made a space (see `_runs_of`).
_MARKS = ".,'-"
_MARK_BYTES = [mark.encode() for mark in _MARKS]
_ONE_MORE = (1).__add__  # a piece's length and the space after it
_RUNS = bytes(
    byte if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in _MARKS) else 32
    for byte in range(256)
).lower()


@dataclass(frozen=True, slots=True)
class Token:
    """One term of a text: folded form, positions [start, end] and characters [begin, stop)."""

    term: str
    start: int
    end: int  # == start except for a joined hyphenated word
    begin: int
    stop: int


_FOLDED: dict[str, str] = {}


def fold(text: str) -> str:
    """NFKC, case folding and accent removal: `Irák` -> `irak`."""
    if text.isascii():
        return text.lower()
    cached = _FOLDED.get(text)
    if cached is not None:
        return cached
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFC", folded)
    if len(_FOLDED) >= _CACHE_LIMIT:
        _FOLDED.clear()
    _FOLDED[text] = folded
    return folded


def fold_case(text: str) -> str:
    """NFKC and case folding only: what `/regex/` runs on."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _word_part(part: str) -> str:
    return _APOSTROPHE.sub("", _POSSESSIVE.sub("", fold(part)))


Part = tuple[str, int, int]  # term, begin and stop inside the raw token


def _split(raw: str) -> tuple[list[Part], str | None]:
    """The terms of one raw token, and the joined form of a hyphenated word."""
    if _ACRONYM.fullmatch(raw):
        return [(fold(raw).replace(".", ""), 0, len(raw))], None
    if _NUMBER.fullmatch(raw):
        return [(fold(raw), 0, len(raw))], None
    if "-" not in raw:
        term = _word_part(raw)
        return ([(term, 0, len(raw))] if term else []), None
    parts: list[Part] = []
    cursor = 0
    for piece in raw.split("-"):
        term = _word_part(piece)
        if term:
            parts.append((term, cursor, cursor + len(piece)))
        cursor += len(piece) + 1
    joined = "".join(term for term, _, _ in parts) if len(parts) > 1 else None
    return parts, joined


def tokenize(text: str, position: int = 0, offset: int = 0) -> list[Token]:
    """The tokens of `text`, positions from `position`, character offsets shifted by `offset`."""
    tokens: list[Token] = []
    for found in _TOKEN.finditer(text):
        begin, stop = found.span()
        parts, joined = _split(found.group())
        first = position
        for term, b, s in parts:
            tokens.append(Token(term, position, position, begin + b + offset, begin + s + offset))
            position += 1
        if joined:
            tokens.append(Token(joined, first, position - 1, begin + offset, stop + offset))
    return tokens


def single_spaced(text: str) -> bool:
    """Whether the only whitespace of `text` is single spaces: nothing to collapse in it
    (str.isspace holds only for separators and control characters, which are not printable,
    but for the space)."""
    return text.isprintable() and "  " not in text


def char_offsets(text: str, offset: int, begins: list[int], stops: list[int]) -> None:
    """Append the character span [begin, stop) of each plain term of `text`, in position order.

    The same tokens as `terms`, one list entry per position, and the same shortcut for ASCII
    text; run once per field, and only for a field a snippet is cut from. Split at single
    spaces, each run starts one past the end of the piece before it: the offsets of all runs
    are summed by C iterators, and only the runs that are not one bare word are looked at.
    """
    if not text.isascii():
        _regex_offsets(text, offset, begins, stops)
        return
    data = _runs_of(text)
    pieces = data.decode("ascii").split(" ")
    runs = list(filter(None, pieces))  # the empty pieces are the spaces of a longer gap
    starts = list(compress(accumulate(map(_ONE_MORE, map(len, pieces)), initial=offset), pieces))
    ends = list(map(add, starts, map(len, runs)))
    if not any(mark in data for mark in _MARK_BYTES):  # every run is one bare word
        begins.extend(starts)
        stops.extend(ends)
        return
    done = 0
    for odd in _odd_runs(runs):
        begins.extend(starts[done:odd])
        stops.extend(ends[done:odd])
        done = odd + 1
        if odd == len(runs):
            return
        run = runs[odd]
        word = run.lstrip(_MARKS)
        begin = ends[odd] - len(word)
        word = word.rstrip(_MARKS)
        if word.isalnum():
            begins.append(begin)
            stops.append(begin + len(word))
        else:  # an acronym's closing full stop is its own: the run is read with it
            end = ends[odd] - offset
            _regex_offsets(text[end - len(run) : end + 1], starts[odd], begins, stops)


def _runs_of(text: str) -> bytes:
    """An ASCII text lower-cased, every byte no token may hold made a space, and one space
    more; the same width, so that offsets in it are offsets in `text`.

    A full stop or comma closing a run never changes its terms: blanked up front, most runs
    that held a mark (a sentence's last word) are plain words again.
    """
    data = text.encode("ascii").translate(_RUNS) + b" "
    return data.replace(b". ", b"  ").replace(b", ", b"  ")


def _odd_runs(runs: list[str]) -> Iterator[int]:
    """The index of each run that is not one bare word, then `len(runs)`: the runs between
    two of them are taken whole, by slices (found with list.index, a C scan)."""
    simple = list(map(str.isalnum, runs))
    start = 0
    while True:
        try:
            odd = simple.index(False, start)
        except ValueError:
            yield len(runs)
            return
        yield odd
        start = odd + 1


def _regex_offsets(text: str, offset: int, begins: list[int], stops: list[int]) -> None:
    for found in _TOKEN.finditer(text):
        raw = found.group()
        begin = found.start() + offset
        if raw.isalnum():
            begins.append(begin)
            stops.append(begin + len(raw))
            continue
        for _, b, s in _split(raw)[0]:
            begins.append(begin + b)
            stops.append(begin + s)


Extra = tuple[str, int, int]  # a joined hyphenated word: term, first and last position


def terms(text: str, plain: list[str], extras: list[Extra]) -> None:
    """Append the terms of `text` to `plain` (position = index) and joined words to `extras`.

    The fast path of `tokenize`, without character offsets. An ASCII text is cut into runs of
    the characters a token may hold by one byte translation and a split (a quarter of the
    regex's time): a run that is one word with punctuation around it is that word (no token
    alternative ends in `-`, `,` or `'`, and an acronym needs a letter after its dots), and
    only the other runs, acronyms, numbers and compounds, go through the regex.
    """
    if not text.isascii():
        for raw in _TOKEN.findall(text):
            if raw.isalnum():
                plain.append(raw.lower() if raw.isascii() else fold(raw))
            else:
                _compound(raw, plain, extras)
        return
    data = _runs_of(text)
    runs = data.decode("ascii").split()
    if not any(mark in data for mark in _MARK_BYTES):
        plain.extend(runs)
        return
    start = 0
    for odd in _odd_runs(runs):
        plain.extend(runs[start:odd])
        start = odd + 1
        if odd == len(runs):
            return
        run = runs[odd]
        word = run.strip(_MARKS)
        if word.isalnum():
            plain.append(word)
            continue
        for raw in _TOKEN.findall(run):
            if raw.isalnum():
                plain.append(raw)
            else:
                _compound(raw, plain, extras)


def _compound(raw: str, plain: list[str], extras: list[Extra]) -> None:
    """An acronym, a number, a possessive or a hyphenated word: its terms and joined form."""
    parts, joined = _split(raw)
    first = len(plain)
    plain.extend(term for term, _, _ in parts)
    if joined:
        extras.append((joined, first, len(plain) - 1))


def languages() -> tuple[str, ...]:
    """The Snowball stemmer names a rule's `language` may take."""
    return tuple(Stemmer.algorithms())


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


_STEMS: dict[str, dict[str, str]] = {}


def stems(words: Iterable[str], language: str) -> list[str]:
    """The stems of `words` (already folded), memoised per language."""
    memo = _STEMS.setdefault(language, {})
    words = words if isinstance(words, list) else list(words)
    try:  # news repeats its words: nearly always all known
        return list(map(memo.__getitem__, words))
    except KeyError:  # an article brings a few new words: found and looked up by C loops
        pass
    missing = list(set(words).difference(memo))
    if len(memo) + len(missing) > _CACHE_LIMIT:
        memo.clear()
        missing = list(set(words))
    memo.update(zip(missing, _stemmer(language).stemWords(missing), strict=True))
    return list(map(memo.__getitem__, words))


def stem_set(words: set[str], language: str) -> set[str]:
    """The distinct stems of the distinct folded `words`."""
    memo = _STEMS.get(language)
    if memo is not None:
        try:
            return {memo[w] for w in words}  # nearly always all known: no list between
        except KeyError:
            pass
    return set(stems(words, language))


def stem(word: str, language: str) -> str:
    """The stem of one folded word."""
    return stems([word], language)[0]


__all__ = [
    "Token",
    "char_offsets",
    "fold",
    "fold_case",
    "languages",
    "single_spaced",
    "stem",
    "stems",
    "terms",
    "tokenize",
]
