"""Bounded body decoding: the size limit holds while streaming and after decompression.

httpx would inflate any stack of encodings without a bound, so fetch reads the raw stream
and decodes the two encodings it asks for (gzip, deflate) here, in small steps.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from monitor.errors import FetchError

ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024  # most bytes one decompress call may produce
_GZIP_MAGIC = b"\x1f\x8b"


def content_coding(values: Iterable[str], *, subject: str) -> str | None:
    """The one coding to undo ('gzip' or 'deflate'), None for identity; refuse the rest."""
    codings = [v.strip().lower() for value in values for v in value.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise FetchError(
            f"stacked content encodings {', '.join(codings)} refused",
            kind="bad-encoding",
            subject=subject,
        )
    if not codings:
        return None
    coding = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}.get(codings[0])
    if coding is None:
        raise FetchError(
            f"content encoding {codings[0]!r} was not requested",
            kind="bad-encoding",
            subject=subject,
        )
    return coding


def _looks_like_zlib(head: bytes) -> bool:
    return (head[0] & 0x0F) == 8 and (head[0] << 8 | head[1]) % 31 == 0


class BoundedBody:
    """Collects a body, undoing `coding`, and fails as soon as it would pass `limit` bytes."""

    def __init__(self, coding: str | None, limit: int, *, subject: str) -> None:
        self._coding = coding
        self._limit = limit
        self._subject = subject
        self._body = bytearray()
        self._raw = 0
        self._pending = b""  # deflate: bytes held until the header can be recognised
        self._inflater: zlib._Decompress | None = None
        if coding == "gzip":
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _append(self, data: bytes) -> None:
        self._body += data
        if len(self._body) > self._limit:
            raise FetchError(
                f"body larger than {self._limit} bytes"
                + (" once decompressed" if self._coding else ""),
                kind="too-big",
                subject=self._subject,
            )

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk of the response."""
        self._raw += len(chunk)
        if self._raw > self._limit:  # also bounds junk trailing a compressed stream
            raise FetchError(
                f"body larger than {self._limit} bytes", kind="too-big", subject=self._subject
            )
        if self._coding is None:
            self._append(chunk)
            return
        if self._inflater is None:  # deflate: zlib-wrapped as the RFC says, or raw as IIS sends
            self._pending += chunk
            if len(self._pending) < 2:
                return
            wbits = zlib.MAX_WBITS if _looks_like_zlib(self._pending) else -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(wbits)
            chunk, self._pending = self._pending, b""
        try:
            self._inflate(chunk)
        except zlib.error as exc:
            raise FetchError(
                f"cannot decode the {self._coding} body", kind="bad-encoding", subject=self._subject
            ) from exc

    def _inflate(self, data: bytes) -> None:
        inflater = self._inflater
        assert inflater is not None
        while True:
            if inflater.eof:
                data = inflater.unused_data + data
                if self._coding != "gzip" or not data.startswith(_GZIP_MAGIC):
                    return  # trailing bytes after the stream are ignored, as browsers do
                inflater = self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = inflater.decompress(data, _STEP)
            self._append(out)
            data = inflater.unconsumed_tail
            # A full step may leave output pending inside zlib even when the input is used up.
            if not data and len(out) < _STEP and not (inflater.eof and inflater.unused_data):
                return

    def finish(self) -> bytes:
        """The decoded body; a truncated compressed stream yields what could be decoded."""
        if self._pending:
            raise FetchError("deflate body cut short", kind="bad-encoding", subject=self._subject)
        return bytes(self._body)
