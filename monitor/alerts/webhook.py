"""The webhook channel: a signed JSON POST per alert (Standard Webhooks headers).

The status code decides what the deliverer does next: 2xx sent, 410 gone, 408/429/503
and 5xx later (honouring Retry-After), other 4xx permanent. httpx errors become AlertError here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor import USER_AGENT
from monitor.alerts.render import webhook_payload
from monitor.alerts.templates import compile_template
from monitor.errors import AlertError
from monitor.models import Alert

_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookOptions:
    """One webhook endpoint. `template` replaces the JSON body (e.g. a chat service's shape)."""

    url: str
    secret: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 15.0
    max_response_bytes: int = 65536
    template: str | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s): {self.url!r}")
        if self.secret is not None:
            _signing_key(self.secret)  # a bad whsec_ value fails here, at start-up


def _signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode("utf-8")


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, as Standard Webhooks specifies."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class WebhookChannel:
    """POSTs each alert to one URL. Shares `client` if given (and then does not close it)."""

    def __init__(
        self,
        name: str,
        options: WebhookOptions,
        client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._template = compile_template(options.template, channel=name, role="webhook body")

    def build_request(self, alert: Alert) -> tuple[dict[str, str], bytes]:
        """Headers and exact body bytes for `alert` (signed when a secret is set)."""
        if self._template is not None:
            body = self._template.render(alert).encode("utf-8")
        else:
            body = json.dumps(
                webhook_payload(alert), ensure_ascii=False, separators=(",", ":")
            ).encode("utf-8")
        timestamp = math.floor(self._clock().timestamp())
        headers = {
            "user-agent": USER_AGENT,
            "content-type": self.options.content_type,
            "webhook-id": alert.id,
            "webhook-timestamp": str(timestamp),
        }
        if self.options.secret is not None:
            headers["webhook-signature"] = sign_webhook(
                self.options.secret, alert.id, timestamp, body
            )
        for key, value in self.options.headers:
            headers.setdefault(key.lower(), value)  # custom headers never replace the signature
        return headers, body

    async def send(self, alert: Alert) -> None:
        """POST `alert`; AlertError with retry_after / permanent / gone on failure."""
        headers, body = self.build_request(alert)
        subject = f'channel "{self.name}"'
        try:
            async with self._client.stream(
                "POST",
                self.options.url,
                content=body,
                headers=headers,
                timeout=self.options.timeout,
            ) as response:
                excerpt = await self._read_capped(response)
        except httpx.TimeoutException as exc:
            raise AlertError(f"timed out: {type(exc).__name__}", subject=subject) from None
        except httpx.HTTPError as exc:  # connect, TLS, protocol, read errors
            raise AlertError(f"{type(exc).__name__}: {exc}", subject=subject) from None
        _check_status(response, excerpt, subject, self._clock())

    async def _read_capped(self, response: httpx.Response) -> str:
        """At most max_response_bytes of the body, decoded for error messages."""
        limit = self.options.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk[: limit - size])
            size += len(chunks[-1])
            if size >= limit:
                break
        return b"".join(chunks).decode("utf-8", "replace")

    async def aclose(self) -> None:
        """Close the HTTP client if this channel made it."""
        if self._own_client:
            await self._client.aclose()


def _check_status(response: httpx.Response, excerpt: str, subject: str, now: datetime) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"HTTP {status}" + (f": {excerpt.strip()[:200]}" if excerpt.strip() else "")
    if status == 410:
        raise AlertError(detail, subject=subject, gone=True, permanent=True)
    if status in _RETRYABLE_4XX or status == 503:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        raise AlertError(detail, subject=subject, retry_after=retry_after)
    if status >= 500:
        raise AlertError(detail, subject=subject)
    # Other 4xx (and unexpected 1xx/3xx): the request itself is refused.
    raise AlertError(detail, subject=subject, permanent=True)


__all__ = [
    "WebhookChannel",
    "WebhookOptions",
    "parse_retry_after",
    "sign_webhook",
]
