"""Loopback servers and fakes for the alert tests: a webhook sink, an SMTP handler, an outbox.

The webhook sink records method, path, headers and the exact body bytes, and answers from
a script (status, headers, or hanging until it stops). No sleeps: time is passed as `now`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.models import Alert, PendingAlert

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_alert(**changes: Any) -> Alert:
    """A realistic alert; override any field."""
    values: dict[str, Any] = {
        "id": "a1b2c3d4e5f60718",
        "rule": "iraq withdrawal",
        "channel": "ops",
        "title": "Troops begin withdrawal from Iraq",
        "url": "https://news.example.org/world/iraq-troops?id=7",
        "feed": "Example World",
        "published": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        "matched": ("troop", "withdrawal"),
        "snippet": "The first troops began their withdrawal on Tuesday.",
        "marks": ((10, 16), (29, 39)),
        "detected_at": datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC),
    }
    values.update(changes)
    return Alert(**values)


def free_port() -> int:
    """A port nobody listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- webhook sink -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"
    hang: bool = False  # block until the sink shuts down (for client timeouts)


@dataclass
class WebhookSink:
    """A threaded HTTP server; `script` answers requests in order, then 200."""

    port: int = 0
    script: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                sink.received.append(
                    Received(
                        "POST",
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                reply = sink.script.pop(0) if sink.script else Reply()
                if reply.hang:
                    sink._release.wait(10)
                    return
                self.send_response(reply.status)
                for key, value in reply.headers:
                    self.send_header(key, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class RecordingHandler:
    """aiosmtpd handler keeping every envelope and every MAIL FROM it saw."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail_from: list[str] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@dataclass(frozen=True)
class SmtpServer:
    port: int
    handler: RecordingHandler


# --- outbox -------------------------------------------------------------------------------


@dataclass
class Row:
    pending: PendingAlert
    status: str = "pending"  # pending, sent, failed
    next_attempt_at: datetime = NOW
    leased_until: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    retries: list[tuple[datetime, str]] = field(default_factory=list)
    folded_into: str | None = None


class FakeOutbox:
    """The Outbox protocol in memory, with the archive's semantics (lease, attempts)."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}

    def add(self, alert: Alert, *, created_at: datetime = NOW, attempts: int = 0) -> int:
        outbox_id = len(self.rows) + 1
        pending = PendingAlert(outbox_id, alert, attempts, created_at)
        self.rows[outbox_id] = Row(pending, next_attempt_at=created_at)
        return outbox_id

    def claim_due_alerts(
        self,
        now: datetime,
        *,
        limit: int = 100,
        owner: str = "",
        lease: timedelta = timedelta(minutes=5),
        channels: Any = None,
    ) -> list[PendingAlert]:
        due = [
            row
            for row in self.rows.values()
            if row.status == "pending"
            and row.next_attempt_at <= now
            and (row.leased_until is None or row.leased_until <= now)
            and (channels is None or row.pending.alert.channel in channels)
        ][:limit]
        for row in due:
            row.leased_until = now + lease
        return [row.pending for row in due]

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        row = self.rows[outbox_id]
        row.status, row.sent_at, row.leased_until = "sent", now, None

    def mark_retry(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None:
        row = self.rows[outbox_id]
        old = row.pending
        row.pending = PendingAlert(old.outbox_id, old.alert, old.attempts + 1, old.created_at)
        row.next_attempt_at, row.last_error, row.leased_until = next_attempt_at, error, None
        row.retries.append((next_attempt_at, error))

    def mark_failed(self, outbox_id: int, *, error: str, now: datetime) -> None:
        row = self.rows[outbox_id]
        row.status, row.last_error, row.leased_until = "failed", error, None

    def release(self, outbox_id: int, *, next_attempt_at: datetime, error: str) -> None:
        row = self.rows[outbox_id]
        row.next_attempt_at, row.last_error, row.leased_until = next_attempt_at, error, None

    def hold(self, outbox_id: int, *, until: datetime) -> None:
        self.release(outbox_id, next_attempt_at=until, error="held for the digest")

    def sent_counts(self, channel: str, since: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            alert = row.pending.alert
            if alert.channel != channel or row.folded_into is not None:
                continue
            if row.sent_at is not None and row.sent_at >= since:
                counts[alert.rule] = counts.get(alert.rule, 0) + 1
        return counts

    def fold(self, folded: Sequence[int], summary: Alert, now: datetime) -> None:
        """Queue `summary` (due now) and mark the `folded` rows delivered by it."""
        if all(row.pending.alert.id != summary.id for row in self.rows.values()):
            self.add(summary, created_at=now)
        for outbox_id in folded:
            row = self.rows[outbox_id]
            row.status, row.sent_at, row.leased_until = "sent", now, None
            row.folded_into = summary.id
