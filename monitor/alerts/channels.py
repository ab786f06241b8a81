"""The Channel seam and `build_channel`, which turns plain config values into a channel.

Callers (config/daemon) pass a kind and a mapping of the channel's TOML keys; problems
come back as one ConfigError listing each bad key, so a bad channel stops start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from monitor.alerts.chat import AppriseChannel, AppriseOptions
from monitor.alerts.email import EmailChannel, EmailOptions
from monitor.alerts.webhook import WebhookChannel, WebhookOptions
from monitor.errors import AlertError, ConfigError
from monitor.models import Alert

CHANNEL_KINDS = ("email", "webhook", "apprise")


@runtime_checkable
class Channel(Protocol):
    """Somewhere alerts go. `send` raises AlertError (retry_after / permanent / gone)."""

    name: str

    async def send(self, alert: Alert) -> None: ...

    async def aclose(self) -> None: ...


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _options(kind: str, name: str, settings: Mapping[str, Any]) -> Any:
    cls: type[Any] = {"email": EmailOptions, "webhook": WebhookOptions, "apprise": AppriseOptions}[
        kind
    ]
    values = {("sender" if key == "from" else key): value for key, value in settings.items()}
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        allowed = ", ".join(sorted("from" if k == "sender" else k for k in known))
        raise ConfigError(
            f"unknown keys {', '.join(unknown)} (allowed: {allowed})",
            subject=f'channel "{name}"',
        )
    if kind == "email" and "to" in values:
        values["to"] = _as_tuple(values["to"])
    if kind == "apprise" and "urls" in values:
        values["urls"] = _as_tuple(values["urls"])
    if kind == "webhook" and isinstance(values.get("headers"), Mapping):
        values["headers"] = tuple((str(k), str(v)) for k, v in values["headers"].items())
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), subject=f'channel "{name}"') from None


def build_channel(
    name: str,
    kind: str,
    settings: Mapping[str, Any],
    *,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Channel:
    """A ready channel of `kind` (email, webhook, apprise) from its config keys.

    Email takes `from` for the sender; webhook `headers` may be a table. Raises
    ConfigError for unknown kinds or keys, bad values and templates that do not compile.
    """
    if kind not in CHANNEL_KINDS:
        raise ConfigError(
            f"unknown channel type {kind!r} (one of {', '.join(CHANNEL_KINDS)})",
            subject=f'channel "{name}"',
        )
    options = _options(kind, name, settings)
    try:
        if kind == "email":
            return EmailChannel(name, options, clock=clock)
        if kind == "webhook":
            return WebhookChannel(name, options, http_client, clock=clock)
        return AppriseChannel(name, options)
    except AlertError as exc:  # a template that does not compile, an unreadable URL
        raise ConfigError(exc.message, subject=exc.subject) from exc
    except OSError as exc:  # ca_file unreadable or not a certificate
        raise ConfigError(f"{type(exc).__name__}: {exc}", subject=f'channel "{name}"') from None


__all__ = ["CHANNEL_KINDS", "Channel", "build_channel"]
