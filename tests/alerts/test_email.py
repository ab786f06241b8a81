"""The email channel against a real aiosmtpd server: content, TLS, auth, header injection."""

from __future__ import annotations

import email
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult

from monitor.alerts import EmailChannel, EmailOptions
from monitor.errors import AlertError
from tests.alerts.support import NOW, SmtpServer, free_port, make_alert

pytestmark = pytest.mark.anyio

SmtpFactory = Callable[..., SmtpServer]
TO = ("desk@example.org", "night@example.org")


def _options(port: int, **changes: Any) -> EmailOptions:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "security": "none",
        "sender": "monitor@example.org",
        "to": TO,
        "timeout": 5.0,
    }
    values.update(changes)
    return EmailOptions(**values)


def _channel(options: EmailOptions) -> EmailChannel:
    return EmailChannel("mail", options, clock=lambda: NOW)


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _server(factory: SmtpFactory, **kwargs: Any) -> SmtpServer:
    return factory(server_hostname="localhost", **kwargs)


async def test_multipart_message_with_stable_message_id(smtp_factory: SmtpFactory) -> None:
    server = _server(smtp_factory)
    channel = _channel(_options(server.port))
    await channel.send(make_alert(title="Troops & <tanks>"))
    await channel.send(make_alert(title="Troops & <tanks>"))  # a retry of the same alert

    assert len(server.handler.messages) == 2
    mail_from, rcpt_tos, raw = server.handler.messages[0]
    assert (mail_from, rcpt_tos) == ("monitor@example.org", list(TO))
    message = _parse(raw)
    assert message["Subject"] == "[news-monitor] iraq withdrawal: Troops & <tanks>"
    assert message["Message-ID"] == "<a1b2c3d4e5f60718@news-monitor>"
    assert _parse(server.handler.messages[1][2])["Message-ID"] == message["Message-ID"]
    assert message["Date"] == "Wed, 01 May 2024 12:00:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "The first [[troops]] began their [[withdrawal]]" in text.get_content()
    assert "<mark>troops</mark>" in html.get_content()
    assert "Troops &amp; &lt;tanks&gt;" in html.get_content()


@pytest.mark.parametrize(
    "title",
    [
        "=?utf-8?q?a=0D=0ABcc:_attacker@evil.example?=",
        # long enough to make the generator refold: the path CVE-2024-6923 abuses on 3.11.7
        "=?utf-8?q?a=0D=0ABcc:_attacker@evil.example?= " + "y" * 90,
        "Breaking\r\nBcc: attacker@evil.example",
        "Breaking\nBcc: attacker@evil.example\r\n\r\nbody",
        "=?utf-8?b?YQ0KQmNjOiBhdHRhY2tlckBldmlsLmV4YW1wbGU=?=",
    ],
)
async def test_header_injection_from_feed_title_stays_text(
    smtp_factory: SmtpFactory, title: str
) -> None:
    server = _server(smtp_factory)
    await _channel(_options(server.port)).send(make_alert(title=title, rule="r\r\nCc: x@evil"))

    [(_, rcpt_tos, raw)] = server.handler.messages
    assert rcpt_tos == list(TO)
    message = _parse(raw)
    assert message["Bcc"] is None
    assert message["Cc"] is None
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert b"\nCc:" not in headers
    assert b"\nBcc:" not in raw  # nor a line of the text part
    assert "Bcc: attacker@evil.example" in message["Subject"]
    assert "\n" not in message["Subject"]
    assert "\r" not in message["Subject"]


async def test_starttls_verified_against_test_ca(
    smtp_factory: SmtpFactory,
    server_tls: ssl.SSLContext,
    tls_ca: tuple[trustme.CA, Path],
) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        seen.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"monitor", b"s3cret")
        return AuthResult(success=ok, handled=False)

    server = _server(
        smtp_factory,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    options = _options(
        server.port,
        security="starttls",
        ca_file=str(tls_ca[1]),
        username="monitor",
        password="s3cret",
    )
    await _channel(options).send(make_alert())
    assert seen == [(b"monitor", b"s3cret")]
    assert len(server.handler.messages) == 1

    with pytest.raises(AlertError, match="535") as caught:
        await _channel(EmailOptions(**{**_kw(options), "password": "wrong"})).send(make_alert())
    assert caught.value.permanent
    assert len(server.handler.messages) == 1


def _kw(options: EmailOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


async def test_starttls_with_untrusted_certificate_sends_nothing(
    smtp_factory: SmtpFactory, server_tls: ssl.SSLContext
) -> None:
    server = _server(smtp_factory, tls_context=server_tls, require_starttls=True)
    channel = _channel(_options(server.port, security="starttls"))  # system CAs only
    with pytest.raises(AlertError, match="certificate") as caught:
        await channel.send(make_alert())
    assert not caught.value.permanent
    assert server.handler.mail_from == []
    assert server.handler.messages == []

    insecure = _channel(_options(server.port, security="starttls", verify_tls=False))
    await insecure.send(make_alert())  # the explicit opt-out
    assert len(server.handler.messages) == 1


async def test_starttls_required_but_not_offered_sends_nothing(
    smtp_factory: SmtpFactory,
) -> None:
    server = _server(smtp_factory)  # no tls_context: no STARTTLS in EHLO
    channel = _channel(_options(server.port, security="starttls"))
    with pytest.raises(AlertError, match="does not offer STARTTLS") as caught:
        await channel.send(make_alert())
    assert not caught.value.permanent  # stays pending
    assert server.handler.mail_from == []
    assert server.handler.messages == []


async def test_implicit_tls(
    smtp_factory: SmtpFactory, server_tls: ssl.SSLContext, tls_ca: tuple[trustme.CA, Path]
) -> None:
    server = _server(smtp_factory, ssl_context=server_tls)
    await _channel(_options(server.port, security="ssl", ca_file=str(tls_ca[1]))).send(make_alert())
    assert len(server.handler.messages) == 1


async def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(AlertError, match=r"SMTP to 127\.0\.0\.1") as caught:
        await _channel(_options(free_port())).send(make_alert())
    assert not caught.value.permanent
    assert "mail" in str(caught.value)


async def test_subject_and_body_templates(smtp_factory: SmtpFactory) -> None:
    server = _server(smtp_factory)
    options = _options(
        server.port,
        subject_template="{{ rule | upper }} / {{ title }}\nBcc: x@evil.example",
        body_template="{{ title }} -> {{ url }}\n",
        html_template="<p>{{ title }}</p>",
    )
    await _channel(options).send(make_alert(title="<b>Bold</b>"))
    message = _parse(server.handler.messages[0][2])
    assert message["Subject"] == "IRAQ WITHDRAWAL / <b>Bold</b> Bcc: x@evil.example"
    assert message["Bcc"] is None
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert (
        text.get_content().replace("\r\n", "\n")
        == "<b>Bold</b> -> https://news.example.org/world/iraq-troops?id=7\n"
    )
    assert html.get_content().strip() == "<p>&lt;b&gt;Bold&lt;/b&gt;</p>"
