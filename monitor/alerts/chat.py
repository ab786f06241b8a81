"""The chat channel: Apprise URLs (Slack, Matrix, Telegram, ntfy, ...) without one client each.

Title is the email subject, body the plain text (both overridable by templates). Apprise
reports only success or failure, so every failure is retryable. URLs hold secrets: never logged.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from typing import Any

import apprise

from monitor.alerts.render import email_subject, render_text
from monitor.alerts.templates import compile_template
from monitor.errors import AlertError
from monitor.models import Alert


@dataclass(frozen=True, slots=True, kw_only=True)
class AppriseOptions:
    """The Apprise URLs of one channel; `timeout` bounds one notify call (seconds)."""

    urls: tuple[str, ...]
    timeout: float = 30.0
    subject_template: str | None = None
    body_template: str | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an apprise channel needs at least one URL")


# Apprise's plugin registry loads lazily and one plugin imports the deprecated stdlib
# `imghdr` (Python 3.11/3.12): keep that warning out of our logs and our strict tests.
_IMGHDR = "'imghdr' is deprecated"


def _new_apprise() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_IMGHDR, category=DeprecationWarning)
        return apprise.Apprise()


def _add_url(client: Any, url: str) -> bool:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_IMGHDR, category=DeprecationWarning)
        return bool(client.add(url))


class AppriseChannel:
    """Sends each alert to every URL of the channel through Apprise."""

    def __init__(self, name: str, options: AppriseOptions) -> None:
        self.name = name
        self.options = options
        self._title = compile_template(options.subject_template, channel=name, role="subject")
        self._body = compile_template(options.body_template, channel=name, role="body")
        self._apprise = _new_apprise()
        for index, url in enumerate(options.urls):
            if not _add_url(self._apprise, url):
                # The URL itself may hold a token: name it by position only.
                raise AlertError(
                    f"apprise URL #{index + 1} is not understood",
                    subject=f'channel "{name}"',
                    permanent=True,
                )

    async def send(self, alert: Alert) -> None:
        """Notify every URL; AlertError (retryable) when Apprise reports a failure."""
        title = self._title.render(alert) if self._title else email_subject(alert)
        body = self._body.render(alert) if self._body else render_text(alert)
        try:
            async with asyncio.timeout(self.options.timeout):
                result = await self._apprise.async_notify(
                    body=body, title=title, body_format=apprise.NotifyFormat.TEXT
                )
        except TimeoutError:
            raise AlertError(
                f"apprise timed out after {self.options.timeout:g}s",
                subject=f'channel "{self.name}"',
            ) from None
        if not result:
            status = getattr(getattr(result, "status", None), "name", "failure")
            raise AlertError(f"apprise reported {status.lower()}", subject=f'channel "{self.name}"')

    async def aclose(self) -> None:
        """Nothing to close: Apprise opens connections per notify."""


__all__ = ["AppriseChannel", "AppriseOptions"]
