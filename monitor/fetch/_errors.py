"""The fetch stage's edge: httpx, httpcore and OS failures become FetchError kinds here, once.

Also reads the Retry-After hint a 429 or 503 carries.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

from monitor.errors import FetchError


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unreadable.

    A date in the past gives 0. `now` must be timezone-aware.
    """
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_kind(exc: BaseException) -> tuple[str, str]:
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "dns", "the host name does not resolve"
        if isinstance(cause, ssl.SSLError):
            return "tls", "TLS handshake failed"
    if "ssl" in str(exc).lower() or "certificate" in str(exc).lower():
        return "tls", "TLS handshake failed"
    return "connect", "cannot connect"


class translate_errors:  # a context manager, named as the function it replaced
    """Turn failures of the network into FetchError(kind=dns|connect|tls|timeout).

    FetchError passes through; anything else (a bug) propagates unchanged. A class, not a
    generator context manager: it is entered once per request (1.5 us less each time).
    """

    __slots__ = ("subject",)

    def __init__(self, subject: str) -> None:
        self.subject = subject

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, FetchError):
            if exc.subject is None:  # raised below the URL, e.g. by the address guard
                exc.subject = self.subject
            return
        translated = _translated(exc, self.subject)
        if translated is not None:
            raise translated from exc


def _translated(exc: BaseException, subject: str) -> FetchError | None:  # noqa: PLR0911
    if isinstance(exc, TimeoutError):  # the total deadline (asyncio.timeout)
        return FetchError(
            "no complete answer within the total timeout", kind="timeout", subject=subject
        )
    if isinstance(exc, httpx.TimeoutException):
        what = {
            httpx.ConnectTimeout: "connecting timed out",
            httpx.ReadTimeout: "the server stopped sending (read timeout)",
            httpx.WriteTimeout: "sending the request timed out",
            httpx.PoolTimeout: "no free connection in time",
        }.get(type(exc), "timed out")
        return FetchError(what, kind="timeout", subject=subject)
    if isinstance(exc, httpx.ConnectError):
        kind, what = _connect_kind(exc)
        return FetchError(what, kind=kind, subject=subject)
    if isinstance(
        exc, httpx.ReadError | httpx.WriteError | httpx.CloseError | httpx.RemoteProtocolError
    ):
        return FetchError(
            "connection reset or closed in the middle of the exchange",
            kind="connect",
            subject=subject,
        )
    if isinstance(exc, httpx.TransportError):
        return FetchError(f"transport failed: {exc}", kind="connect", subject=subject)
    if isinstance(exc, socket.gaierror):
        return FetchError("the host name does not resolve", kind="dns", subject=subject)
    if isinstance(exc, ssl.SSLError):
        return FetchError("TLS handshake failed", kind="tls", subject=subject)
    if isinstance(exc, OSError):
        return FetchError("cannot connect", kind="connect", subject=subject)
    return None
