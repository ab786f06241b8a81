"""Prometheus metrics of one process: what the pipeline and the deliverer count.

A leaf module (prometheus-client only): stages stay free of it; `pipeline`, `runtime` and
`daemon` record into the one `Metrics` object they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Counters and histograms in their own registry (tests make as many as they like)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("news_monitor_polls", "Feed polls by outcome", ["outcome"], registry=r)
        self.poll_errors = Counter(
            "news_monitor_poll_errors", "Failed feed polls by error kind", ["kind"], registry=r
        )
        self.new_entries = Counter("news_monitor_new_entries", "New entries seen", registry=r)
        self.matches = Counter("news_monitor_matches", "Rule matches", ["rule"], registry=r)
        self.alerts_sent = Counter(
            "news_monitor_alerts_sent", "Alerts delivered", ["channel"], registry=r
        )
        self.alerts_failed = Counter(
            "news_monitor_alerts_failed", "Alerts given up on", ["channel"], registry=r
        )
        self.alerts_retried = Counter(
            "news_monitor_alerts_retried", "Alert attempts to retry later", ["channel"], registry=r
        )
        self.poll_seconds = Histogram(
            "news_monitor_poll_seconds", "Time per feed poll", buckets=LATENCY_BUCKETS, registry=r
        )
        self.extract_seconds = Histogram(
            "news_monitor_extract_seconds",
            "Time per article fetch and extraction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox = Gauge("news_monitor_outbox", "Outbox rows by status", ["status"], registry=r)
        self._outbox_source: Callable[[], Mapping[str, int]] | None = None
        # each outcome's counter, found once: labels() checks and locks at every call
        self._by_outcome: dict[str, Counter] = {}

    def polled(
        self, outcome: str, seconds: float, new_entries: int, error_kind: str | None
    ) -> None:
        """One feed poll: its outcome, its time, its new entries and its error's kind."""
        counter = self._by_outcome.get(outcome)
        if counter is None:
            counter = self._by_outcome[outcome] = self.polls.labels(outcome=outcome)
        counter.inc()
        self.poll_seconds.observe(seconds)
        if error_kind:
            self.poll_errors.labels(kind=error_kind).inc()
        if new_entries:
            self.new_entries.inc(new_entries)

    def watch_outbox(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Read the outbox depth from `source` at each scrape."""
        self._outbox_source = source

    def render(self) -> bytes:
        """The text exposition format, with the outbox gauge read fresh."""
        if self._outbox_source is not None:
            for status, count in self._outbox_source().items():
                self.outbox.labels(status=status).set(count)
        return generate_latest(self.registry)
