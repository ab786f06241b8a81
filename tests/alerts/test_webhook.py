"""The webhook channel against a real HTTP receiver: payload, signature, status mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from monitor import USER_AGENT
from monitor.alerts import PAYLOAD_FIELDS, WebhookChannel, WebhookOptions, sign_webhook
from monitor.alerts.webhook import parse_retry_after
from monitor.errors import AlertError
from tests.alerts.support import NOW, Reply, WebhookSink, free_port, make_alert

pytestmark = pytest.mark.anyio

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """An independent Standard Webhooks verifier (stdlib only)."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
        for part in headers["webhook-signature"].split()
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


def _channel(
    url: str, client: httpx.AsyncClient | None = None, **changes: object
) -> WebhookChannel:
    options = WebhookOptions(url=url, **changes)  # type: ignore[arg-type]
    return WebhookChannel("hook", options, client, clock=lambda: NOW)


async def test_signed_post_with_documented_payload(
    sink: WebhookSink, client: httpx.AsyncClient
) -> None:
    channel = _channel(sink.url, client, secret=SECRET, headers=(("Authorization", "Bearer t0k"),))
    await channel.send(make_alert(title="Café ☕ <b>"))

    [request] = sink.received
    assert (request.method, request.path) == ("POST", "/hooks/alerts")
    payload = json.loads(request.body)
    assert tuple(payload) == PAYLOAD_FIELDS
    assert payload["title"] == "Café ☕ <b>"
    assert payload["published"] == "2024-05-01T09:30:00Z"
    assert payload["detected_at"] == "2024-05-01T11:59:30Z"
    assert payload["matched"] == ["troop", "withdrawal"]
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert headers["authorization"] == "Bearer t0k"
    assert headers["webhook-id"] == "a1b2c3d4e5f60718"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert verify(SECRET, headers, request.body)
    assert not verify(SECRET, headers, request.body + b" ")


async def test_plain_secret_signs_with_its_utf8_bytes(sink: WebhookSink) -> None:
    channel = _channel(sink.url, secret="plain-sécret")
    await channel.send(make_alert())
    await channel.aclose()
    assert verify("plain-sécret", sink.received[0].headers, sink.received[0].body)


def test_sign_webhook_matches_the_spec_example() -> None:
    # The example from the Standard Webhooks reference implementation's test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign_webhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


@pytest.mark.parametrize(
    ("reply", "retry_after", "permanent", "gone"),
    [
        (Reply(500), None, False, False),
        (Reply(502), None, False, False),
        (Reply(503, (("Retry-After", "120"),)), 120.0, False, False),
        (Reply(429, (("Retry-After", "2"),)), 2.0, False, False),
        (Reply(429, (("Retry-After", "Wed, 01 May 2024 12:01:00 GMT"),)), 60.0, False, False),
        (Reply(408), None, False, False),
        (Reply(400), None, True, False),
        (Reply(401), None, True, False),
        (Reply(404), None, True, False),
        (Reply(410), None, True, True),
        (Reply(301, (("Location", "http://127.0.0.1:1/"),)), None, True, False),
    ],
)
async def test_status_mapping(
    sink: WebhookSink,
    client: httpx.AsyncClient,
    reply: Reply,
    retry_after: float | None,
    permanent: bool,
    gone: bool,
) -> None:
    sink.script.append(reply)
    with pytest.raises(AlertError, match=f'channel "hook": HTTP {reply.status}') as caught:
        await _channel(sink.url, client).send(make_alert())
    assert (caught.value.retry_after, caught.value.permanent, caught.value.gone) == (
        retry_after,
        permanent,
        gone,
    )


async def test_response_read_is_capped(sink: WebhookSink, client: httpx.AsyncClient) -> None:
    sink.script.append(Reply(500, body=b"x" * 1_000_000))
    with pytest.raises(AlertError) as caught:
        await _channel(sink.url, client, max_response_bytes=1000).send(make_alert())
    assert len(str(caught.value)) < 300


async def test_timeout_and_refused_connection_are_retryable(
    sink: WebhookSink, client: httpx.AsyncClient
) -> None:
    sink.script.append(Reply(hang=True))
    with pytest.raises(AlertError, match="timed out") as caught:
        await _channel(sink.url, client, timeout=0.2).send(make_alert())
    assert not caught.value.permanent

    closed = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(AlertError, match="ConnectError") as caught:
        await _channel(closed, client).send(make_alert())
    assert not caught.value.permanent


async def test_body_template_replaces_payload(sink: WebhookSink) -> None:
    channel = _channel(sink.url, template='{"text": {{ (title ~ " " ~ url) | tojson }}}')
    await channel.send(make_alert(title='Say "hi" </script>'))
    await channel.aclose()
    assert json.loads(sink.received[0].body) == {
        "text": 'Say "hi" </script> https://news.example.org/world/iraq-troops?id=7'
    }


def test_parse_retry_after() -> None:
    assert parse_retry_after("5", NOW) == 5.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW + timedelta(0)) is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookOptions(url="file:///etc/passwd")
    with pytest.raises(ValueError, match="base64"):
        WebhookOptions(url="https://example.org/", secret="whsec_not base64!")
