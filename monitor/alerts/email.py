"""The email channel: one multipart (text + HTML) message per alert over SMTP.

TLS is verified unless turned off; with STARTTLS required and not offered, nothing but
EHLO is sent. smtplib runs in a worker thread; its errors become AlertError here, once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal

from monitor.alerts.render import clean_header, email_subject, render_html, render_text
from monitor.alerts.templates import compile_template
from monitor.errors import AlertError
from monitor.models import Alert

Security = Literal["starttls", "ssl", "none"]
_SAFE_ID = re.compile(r"[A-Za-z0-9._+-]{1,200}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailOptions:
    """SMTP settings of one email channel (`sender` is the config's `from`)."""

    smtp_host: str
    sender: str
    to: tuple[str, ...]
    smtp_port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    verify_tls: bool = True
    ca_file: str | None = None  # trust this CA (PEM) instead of the system's
    subject_template: str | None = None
    body_template: str | None = None  # the text part
    html_template: str | None = None  # the HTML part (autoescaped)

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be starttls, ssl or none, not {self.security!r}")
        if not self.to:
            raise ValueError("an email channel needs at least one recipient")
        for address in (self.sender, *self.to):
            if clean_header(address, limit=320) != address:
                raise ValueError(f"invalid email address {address!r}")


def message_id(alert: Alert) -> str:
    """`<id@news-monitor>`: the same on every retry, so receivers can drop duplicates."""
    local = (
        alert.id if _SAFE_ID.fullmatch(alert.id) else hashlib.sha256(alert.id.encode()).hexdigest()
    )
    return f"<{local}@news-monitor>"


class EmailChannel:
    """Sends each alert as one email to the configured recipients."""

    def __init__(
        self,
        name: str,
        options: EmailOptions,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self._clock = clock or (lambda: datetime.now(UTC))
        self._subject = compile_template(options.subject_template, channel=name, role="subject")
        self._text = compile_template(options.body_template, channel=name, role="body")
        self._html = compile_template(options.html_template, channel=name, role="html", html=True)
        self._tls = _tls_context(options)

    def build_message(self, alert: Alert) -> EmailMessage:
        """The message for `alert`; only cleaned feed text reaches a header."""
        subject = clean_header(self._subject.render(alert)) if self._subject else None
        msg = EmailMessage(policy=SMTP)
        msg["Subject"] = subject or email_subject(alert)
        msg["From"] = self.options.sender
        msg["To"] = ", ".join(self.options.to)
        msg["Date"] = format_datetime(self._clock().astimezone(UTC))
        msg["Message-ID"] = message_id(alert)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
        msg["X-News-Monitor-Rule"] = clean_header(alert.rule, limit=100)
        msg.set_content(self._text.render(alert) if self._text else render_text(alert))
        msg.add_alternative(
            self._html.render(alert) if self._html else render_html(alert), subtype="html"
        )
        return msg

    async def send(self, alert: Alert) -> None:
        """Deliver `alert`; AlertError(permanent=...) on failure."""
        msg = self.build_message(alert)
        await asyncio.to_thread(self._send_sync, msg)

    async def aclose(self) -> None:
        """Nothing to close: each send uses its own SMTP connection."""

    def _send_sync(self, msg: EmailMessage) -> None:
        opts = self.options
        subject = f'channel "{self.name}"'
        try:
            with self._connect() as smtp:
                if opts.username is not None:
                    smtp.login(opts.username, opts.password or "")
                # Explicit envelope: recipients come from the config, never from headers.
                smtp.send_message(msg, from_addr=opts.sender, to_addrs=list(opts.to))
        except AlertError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)
            raise AlertError(
                f"all recipients refused: {codes}", subject=subject, permanent=permanent
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx: the server will refuse again (bad auth, rejected sender); 4xx: try later.
            raw = exc.smtp_error
            text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:200]
            raise AlertError(
                f"SMTP {exc.smtp_code} {text}",
                subject=subject,
                permanent=500 <= exc.smtp_code < 600,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise AlertError(
                f"TLS certificate not trusted: {exc.verify_message}", subject=subject
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # timeouts, refused, TLS, disconnects
            raise AlertError(
                f"SMTP to {opts.smtp_host}:{opts.smtp_port} failed: {type(exc).__name__}: {exc}",
                subject=subject,
            ) from None

    def _connect(self) -> smtplib.SMTP:
        opts = self.options
        if opts.security == "ssl":
            return smtplib.SMTP_SSL(
                opts.smtp_host, opts.smtp_port, timeout=opts.timeout, context=self._tls
            )
        smtp = smtplib.SMTP(opts.smtp_host, opts.smtp_port, timeout=opts.timeout)
        try:
            if opts.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    # Not one byte of the message in clear text: stop before MAIL FROM.
                    raise AlertError(
                        f"{opts.smtp_host}:{opts.smtp_port} does not offer STARTTLS",
                        subject=f'channel "{self.name}"',
                    )
                smtp.starttls(context=self._tls)
                smtp.ehlo()
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _tls_context(options: EmailOptions) -> ssl.SSLContext | None:
    if options.security == "none":
        return None
    context = ssl.create_default_context(cafile=options.ca_file)
    if not options.verify_tls:  # explicit opt-out, e.g. a relay on localhost
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


__all__ = ["EmailChannel", "EmailOptions", "Security", "message_id"]
