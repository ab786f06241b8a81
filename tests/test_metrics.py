"""What one poll records: the counters by outcome and error kind, new entries, the time."""

from __future__ import annotations

from monitor.metrics import Metrics


def test_polls_are_counted_by_outcome_kind_and_new_entries() -> None:
    metrics = Metrics()
    metrics.polled("not-modified", 0.02, 0, None)
    metrics.polled("not-modified", 0.03, 0, None)
    metrics.polled("ok", 0.5, 7, None)
    metrics.polled("error", 1.5, 0, "timeout")
    value = metrics.registry.get_sample_value
    assert value("news_monitor_polls_total", {"outcome": "not-modified"}) == 2
    assert value("news_monitor_polls_total", {"outcome": "ok"}) == 1
    assert value("news_monitor_polls_total", {"outcome": "error"}) == 1
    assert value("news_monitor_poll_errors_total", {"kind": "timeout"}) == 1
    assert value("news_monitor_new_entries_total") == 7
    assert value("news_monitor_poll_seconds_count") == 4
    assert value("news_monitor_poll_seconds_bucket", {"le": "0.05"}) == 2
    assert b'news_monitor_polls_total{outcome="not-modified"} 2.0' in metrics.render()
