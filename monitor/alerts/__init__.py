"""Alerts: render matches, send them through channels, and drain the outbox.

Imports only `models`, `errors` and `monitor` (USER_AGENT) of ours; the archive is reached
through the `Outbox` protocol. Public names are re-exported here; modules are private-ish.
"""

from __future__ import annotations

from monitor.alerts.backoff import DEFAULT_POLICY, RetryPolicy, backoff_delay, next_attempt_at
from monitor.alerts.channels import CHANNEL_KINDS, Channel, build_channel
from monitor.alerts.chat import AppriseChannel, AppriseOptions
from monitor.alerts.deliver import DeliveryReport, Outbox, Outcome, deliver_due
from monitor.alerts.digest import digest_alert
from monitor.alerts.email import EmailChannel, EmailOptions
from monitor.alerts.render import (
    PAYLOAD_FIELDS,
    clean_header,
    email_subject,
    render_html,
    render_text,
    webhook_payload,
)
from monitor.alerts.storm import StormDecision, StormLimit, StormLimits, apply_storm_guard
from monitor.alerts.webhook import WebhookChannel, WebhookOptions, sign_webhook
from monitor.cron import Cron, Every, Schedule

__all__ = [
    "CHANNEL_KINDS",
    "DEFAULT_POLICY",
    "PAYLOAD_FIELDS",
    "AppriseChannel",
    "AppriseOptions",
    "Channel",
    "Cron",
    "DeliveryReport",
    "EmailChannel",
    "EmailOptions",
    "Every",
    "Outbox",
    "Outcome",
    "RetryPolicy",
    "Schedule",
    "StormDecision",
    "StormLimit",
    "StormLimits",
    "WebhookChannel",
    "WebhookOptions",
    "apply_storm_guard",
    "backoff_delay",
    "build_channel",
    "clean_header",
    "deliver_due",
    "digest_alert",
    "email_subject",
    "next_attempt_at",
    "render_html",
    "render_text",
    "sign_webhook",
    "webhook_payload",
]
