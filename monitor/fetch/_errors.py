"""The fetch stage's edge: httpx, httpcore and OS failures become FetchError kinds here, once.

Also reads the Retry-After hint a 429 or 503 carries.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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


@contextmanager
def translate_errors(subject: str) -> Iterator[None]:
    """Turn failures of the network into FetchError(kind=dns|connect|tls|timeout).

    FetchError passes through; anything else (a bug) propagates unchanged.
    """
    try:
        yield
    except FetchError as exc:
        if exc.subject is None:  # raised below the URL, e.g. by the address guard
            exc.subject = subject
        raise
    except TimeoutError as exc:  # the total deadline (asyncio.timeout)
        raise FetchError(
            "no complete answer within the total timeout", kind="timeout", subject=subject
        ) from exc
    except httpx.TimeoutException as exc:
        what = {
            httpx.ConnectTimeout: "connecting timed out",
            httpx.ReadTimeout: "the server stopped sending (read timeout)",
            httpx.WriteTimeout: "sending the request timed out",
            httpx.PoolTimeout: "no free connection in time",
        }.get(type(exc), "timed out")
        raise FetchError(what, kind="timeout", subject=subject) from exc
    except httpx.ConnectError as exc:
        kind, what = _connect_kind(exc)
        raise FetchError(what, kind=kind, subject=subject) from exc
    except (httpx.ReadError, httpx.WriteError, httpx.CloseError, httpx.RemoteProtocolError) as exc:
        raise FetchError(
            "connection reset or closed in the middle of the exchange",
            kind="connect",
            subject=subject,
        ) from exc
    except httpx.TransportError as exc:
        raise FetchError(f"transport failed: {exc}", kind="connect", subject=subject) from exc
    except socket.gaierror as exc:
        raise FetchError("the host name does not resolve", kind="dns", subject=subject) from exc
    except ssl.SSLError as exc:
        raise FetchError("TLS handshake failed", kind="tls", subject=subject) from exc
    except OSError as exc:
        raise FetchError("cannot connect", kind="connect", subject=subject) from exc
